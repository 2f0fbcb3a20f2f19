import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { SETTINGS, Settings } from '../settings/settings';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeysService } from './api-keys.service';
import { rateLimitOptions } from './rate-limit';

/**
 * API keys and the rate limit, as global guards in this order: the limit
 * first, so that requests with wrong keys are limited too, then the key check.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [SETTINGS],
      useFactory: (settings: Settings) => rateLimitOptions(settings),
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
