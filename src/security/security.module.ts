import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { SETTINGS, Settings } from '../settings/settings';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeysService } from './api-keys.service';
import { rateLimitOptions } from './rate-limit';
import { SharedRateLimitStorage } from './shared-rate-limit.storage';

/** The rate limit's counters, a provider of their own so that Nest closes their Redis connection. */
@Module({ providers: [SharedRateLimitStorage], exports: [SharedRateLimitStorage] })
class RateLimitStorageModule {}

/**
 * API keys and the rate limit, as global guards in this order: the limit
 * first, so that requests with wrong keys are limited too, then the key check.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [RateLimitStorageModule],
      inject: [SETTINGS, SharedRateLimitStorage],
      useFactory: (settings: Settings, storage: SharedRateLimitStorage) => ({
        ...rateLimitOptions(settings),
        storage,
      }),
    }),
  ],
  providers: [
    ApiKeysService,
    { provide: APP_GUARD, useClass: ThrottlerGuard },
    { provide: APP_GUARD, useClass: ApiKeyGuard },
  ],
  exports: [ApiKeysService],
})
export class SecurityModule {}
