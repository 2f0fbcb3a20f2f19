import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { randomUUID } from 'node:crypto';
import { MetricsService } from '../metrics/metrics.service';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { CACHE_TTL_MS, FIRST_GENERATION, generationKey } from './cache-keys';
import { PackedText, unpackText } from './cache-codec';
import { CACHE_STORE } from './cache.tokens';
import type { CacheStore } from './cache-store';

class CacheTimeout extends Error {}

/** Bounds of the answers kept in the process beside Redis (QueryCache.recent). */
const RECENT_MAX_BYTES = 64 * 1024 * 1024;
const RECENT_TTL_MS = 60_000;

/**
 * The query cache: text values under generation-stamped keys. Every call is
 * bounded by CACHE_TIMEOUT_MS; a failure or timeout counts as an error and
 * the caller answers from the database. No cache error ever reaches a client.
 */
@Injectable()
export class QueryCache implements OnApplicationShutdown {
  private readonly logger = new Logger('Cache');
  /**
   * Until then this instance reads nothing from the cache: an invalidation it
   * could not write may have left stale entries reachable for up to the
   * longest TTL.
   */
  private distrustUntil = 0;
  /** Instruments whose new generation never reached the cache: written as soon as it answers again. */
  private readonly pending = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;
  private invalidations = 0;
  /**
   * Answers this instance served or stored lately, by their full key, beside
   * Redis: a repeated hit then costs the generation read alone instead of a
   * round trip of up to megabytes and their inflating. Freshness is the
   * key's generation, read from Redis on every request as before. Kept only
   * under a written generation (a random UUID, never reused): the first one
   * ('0', no generation key) comes back when Redis loses its keys, and
   * answers kept here from before that would be stale. Not for the memory
   * store, which is in the process already.
   */
  private readonly recent?: LRUCache<string, string>;

  constructor(
    @Inject(CACHE_STORE) private readonly store: CacheStore,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly metrics: MetricsService,
  ) {
    if (store.kind === 'redis') {
      this.recent = new LRUCache<string, string>({
        maxSize: RECENT_MAX_BYTES,
        sizeCalculation: (value, key) => value.length + key.length,
        ttl: RECENT_TTL_MS,
      });
    }
  }

  get kind(): 'redis' | 'memory' {
    return this.store.kind;
  }

  /**
   * The instrument's current generation, to put in keys; undefined when the
   * cache cannot be trusted or reached (then the caller skips the cache).
   */
  async generation(instrumentId: string): Promise<string | undefined> {
    if (Date.now() < this.distrustUntil) return undefined;
    try {
      return (
        (await this.bounded(this.store.cache.get<string>(generationKey(instrumentId)))) ??
        FIRST_GENERATION
      );
    } catch (error) {
      this.failed('generation', error);
      return undefined;
    }
  }

  /** `generation`: the one in `key`, when the key has one (then the answer may be kept in the process). */
  async get(key: string, generation?: string): Promise<string | undefined> {
    const kept = this.keptAnswer([key], generation);
    if (kept !== undefined) return kept;
    try {
      const stored = await this.bounded(this.store.cache.get<string | PackedText>(key));
      const value = stored === undefined || stored === null ? undefined : await unpackText(stored);
      this.metrics.cacheOperation(value === undefined ? 'miss' : 'hit');
      if (value !== undefined) this.keep(key, value, generation);
      return value;
    } catch (error) {
      this.failed('get', error);
      return undefined;
    }
  }

  /** One round trip for several candidate keys; the first that is cached wins. */
  async getFirst(keys: readonly string[], generation?: string): Promise<string | undefined> {
    const kept = this.keptAnswer(keys, generation);
    if (kept !== undefined) return kept;
    try {
      const values = await this.bounded(this.store.cache.mget<string | PackedText>([...keys]));
      const index = values.findIndex((v) => v !== undefined && v !== null);
      const stored = values[index];
      const value = stored === undefined || stored === null ? undefined : await unpackText(stored);
      this.metrics.cacheOperation(value === undefined ? 'miss' : 'hit');
      // mget answers one value per key, in the keys' order: `key` is the value's.
      const key = keys[index];
      if (value !== undefined && key !== undefined) this.keep(key, value, generation);
      return value;
    } catch (error) {
      this.failed('get', error);
      return undefined;
    }
  }

  /**
   * Stores an answer; kept in the process at once (see recent), so callers
   * need not wait for Redis. A late write can only land under the generation
   * in its key, which a write since has made unreachable.
   */
  async set(key: string, value: string, ttlMs: number, generation?: string): Promise<void> {
    if (value.length > this.settings.cacheMaxEntryBytes) return;
    this.keep(key, value, generation, ttlMs);
    // After the caller's answer is on its way: encoding an answer for the store takes
    // milliseconds (deflate runs inline below 256 KB), which a response should not wait for.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      await this.bounded(this.store.cache.set(key, value, ttlMs));
    } catch (error) {
      this.failed('set', error);
    }
  }

  /**
   * How many invalidations this instance has asked for since it started:
   * every committed write or delete of stored data calls
   * invalidateInstrument (DESIGN 6), so a change of this count tells the
   * statistics that what they measured may have changed. Counted before
   * the cache is reached: a failed invalidation still counts.
   */
  get invalidationCount(): number {
    return this.invalidations;
  }

  /**
   * Makes every cached answer about the instrument unreachable: a new,
   * unique generation (unique so that two concurrent writers cannot both
   * land on the same "next" value). Called after the write has committed.
   */
  async invalidateInstrument(instrumentId: string): Promise<void> {
    this.invalidations += 1;
    try {
      await this.bounded(
        this.store.cache.set(generationKey(instrumentId), randomUUID(), CACHE_TTL_MS.generation),
      );
      this.pending.delete(instrumentId);
    } catch (error) {
      this.failed('invalidate', error);
      this.pending.add(instrumentId);
      this.retryTimer ??= setInterval(() => void this.retryPending(), 250).unref();
      this.distrustUntil = Date.now() + CACHE_TTL_MS.agg;
      this.logger.warn(
        `could not invalidate ${instrumentId}; not reading the cache for 15 minutes`,
      );
    }
  }

  private async retryPending(): Promise<void> {
    for (const instrumentId of [...this.pending]) {
      try {
        await this.bounded(
          this.store.cache.set(generationKey(instrumentId), randomUUID(), CACHE_TTL_MS.generation),
        );
        this.pending.delete(instrumentId);
      } catch {
        return;
      }
    }
    if (this.pending.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  async isHealthy(): Promise<{ up: boolean; latency_ms: number }> {
    const started = performance.now();
    const up = await this.bounded(
      this.store.ping(),
      Math.max(this.settings.cacheTimeoutMs, 500),
    ).catch(() => false);
    return { up, latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.retryTimer) clearInterval(this.retryTimer);
    await this.store.close();
  }

  /** The first of `keys` kept in the process, counted as a hit. */
  private keptAnswer(keys: readonly string[], generation: string | undefined): string | undefined {
    if (!this.recent || !keepable(generation)) return undefined;
    for (const key of keys) {
      const value = this.recent.get(key);
      if (value !== undefined) {
        this.metrics.cacheOperation('hit');
        return value;
      }
    }
    return undefined;
  }

  private keep(key: string, value: string, generation: string | undefined, ttlMs = RECENT_TTL_MS) {
    if (this.recent && keepable(generation)) {
      this.recent.set(key, value, { ttl: Math.min(ttlMs, RECENT_TTL_MS) });
    }
  }

  private failed(operation: string, error: unknown): void {
    this.metrics.cacheOperation('error');
    this.logger.debug(
      `${operation} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  /**
   * `promise`, or a CacheTimeout after `ms`. The timeout is given only after
   * the event loop has read its sockets once more: when a busy process runs
   * its timers late, an answer already waiting on the socket is read after
   * the timers, and without that pass it lost to its own (late) deadline.
   */
  private bounded<T>(promise: Promise<T>, ms = this.settings.cacheTimeoutMs): Promise<T> {
    let timer: NodeJS.Timeout;
    let immediate: NodeJS.Immediate | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        immediate = setImmediate(() => reject(new CacheTimeout(`no answer in ${ms} ms`)));
      }, ms);
    });
    return Promise.race([promise, timeout]).finally(() => {
      clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
    });
  }
}

/** Only answers under a written generation may be kept (see QueryCache.recent). */
function keepable(generation: string | undefined): generation is string {
  return generation !== undefined && generation !== FIRST_GENERATION;
}
