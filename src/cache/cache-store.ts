import { Logger } from '@nestjs/common';
import { Cache, CacheManagerStore, createCache, KeyvAdapter } from 'cache-manager';
import { redisInsStore } from 'cache-manager-ioredis-yet';
import Redis from 'ioredis';
import { Keyv } from 'keyv';
import { LRUCache } from 'lru-cache';
import { Settings } from '../settings/settings';

export interface CacheStore {
  readonly cache: Cache;
  readonly kind: 'redis' | 'memory';
  /** Redis: answers PING. Memory: always. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * cache-manager 7 over Redis (cache-manager-ioredis-yet) or a bounded
 * in-process LRU. The Redis store must be wrapped in Keyv through
 * KeyvAdapter: given to cache-manager as it is, it is silently ignored.
 */
export function openCacheStore(settings: Settings): CacheStore {
  if (!settings.redisUrl) {
    const lru = new LRUCache<string, string>({
      maxSize: settings.cacheMemoryMaxBytes,
      sizeCalculation: (value, key) => value.length + key.length,
    });
    // Keyv passes a TTL as set()'s third argument, which LRUCache reads as options:
    // expose only the Map methods (Keyv keeps the expiry inside the value).
    const store = {
      get: (key: string) => lru.get(key),
      set: (key: string, value: string) => lru.set(key, value),
      delete: (key: string) => lru.delete(key),
      clear: () => lru.clear(),
      has: (key: string) => lru.has(key),
    };
    return {
      cache: createCache({ stores: [new Keyv({ store, namespace: '' })] }),
      kind: 'memory',
      ping: async () => true,
      close: async () => lru.clear(),
    };
  }
  const logger = new Logger('Cache');
  const client = new Redis(settings.redisUrl, {
    // Fail fast while Redis is away instead of queueing: the caller answers from the database.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: false,
  });
  let reported = false;
  client.on('error', (error: Error) => {
    // Reconnection is automatic; say so once per outage, not once per retry.
    if (!reported) logger.warn(`Redis unavailable (${error.message}); answering from the database`);
    reported = true;
  });
  client.on('ready', () => {
    if (reported) logger.log('Redis is back');
    reported = false;
  });
  // The store is typed against cache-manager 5; its runtime API is what KeyvAdapter calls.
  const store = new KeyvAdapter(redisInsStore(client) as unknown as CacheManagerStore);
  return {
    cache: createCache({ stores: [new Keyv({ store, namespace: '' })] }),
    kind: 'redis',
    ping: async () => (await client.ping()) === 'PONG',
    close: async () => {
      client.disconnect();
    },
  };
}
