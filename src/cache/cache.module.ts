import { Module } from '@nestjs/common';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { openCacheStore } from './cache-store';
import { CACHE_STORE } from './cache.tokens';
import { QueryCache } from './query-cache.service';

/** Redis when REDIS_URL is set, a bounded in-process LRU otherwise. */
@Module({
  providers: [
    {
      provide: CACHE_STORE,
      inject: [SETTINGS],
      useFactory: (settings: Settings) => openCacheStore(settings),
    },
    QueryCache,
  ],
  exports: [QueryCache],
})
export class CacheModule {}
