import { Logger } from '@nestjs/common';
import { Cache, CacheManagerStore, KeyvAdapter } from 'cache-manager';
import { redisInsStore } from 'cache-manager-ioredis-yet';
import Redis from 'ioredis';
import { Deserialize, Keyv, Serialize } from 'keyv';
import { LRUCache } from 'lru-cache';
import { Settings } from '../settings/settings';
import { CacheCodec, createCacheCodec, KeyvEntry } from './cache-codec';

/** The three calls the QueryCache makes; unlike cache-manager's, they reject on a store error. */
export type StrictCache = Pick<Cache, 'get' | 'mget' | 'set'>;

export interface CacheStore {
  readonly cache: StrictCache;
  readonly kind: 'redis' | 'memory';
  /** Redis: answers PING. Memory: always. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * cache-manager reports a store error as a miss (get, mget) and Keyv as a
 * false set: the QueryCache would take an unreachable Redis for an empty one
 * and a lost invalidation for a done one. Keyv with throwOnErrors, called
 * directly, lets every error reach it.
 */
function strict(keyv: Keyv): StrictCache {
  return {
    get: <T>(key: string) => keyv.get<T>(key) as Promise<T | undefined>,
    mget: <T>(keys: string[]) => keyv.getMany<T>(keys) as Promise<(T | undefined)[]>,
    set: async <T>(key: string, value: T, ttl?: number) => {
      if (!(await keyv.set(key, value, ttl))) throw new Error(`cache set of ${key} failed`);
      return value;
    },
  };
}

/** Answers from this size on travel to Redis deflated (see createCacheCodec). */
const COMPRESS_ABOVE_CHARS = 1024;

function keyvWith(store: object, codec: CacheCodec): Keyv {
  return new Keyv({
    store,
    namespace: '',
    throwOnErrors: true,
    serialize: ((entry: KeyvEntry) => codec.serialize(entry)) as Serialize,
    deserialize: ((text: string) => codec.deserialize(text)) as Deserialize,
  });
}

/**
 * Redis through cache-manager-ioredis-yet (its store wrapped for Keyv by
 * cache-manager's KeyvAdapter), or a bounded in-process LRU.
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
      cache: strict(keyvWith(store, createCacheCodec())),
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
    cache: strict(keyvWith(store, createCacheCodec(COMPRESS_ABOVE_CHARS))),
    kind: 'redis',
    ping: async () => (await client.ping()) === 'PONG',
    close: async () => {
      client.disconnect();
    },
  };
}
