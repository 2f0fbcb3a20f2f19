import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { MetricsService } from '../metrics/metrics.service';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { CACHE_TTL_MS, generationKey } from './cache-keys';
import { PackedText, unpackText } from './cache-codec';
import { CACHE_STORE } from './cache.tokens';
import type { CacheStore } from './cache-store';

class CacheTimeout extends Error {}

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

  constructor(
    @Inject(CACHE_STORE) private readonly store: CacheStore,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly metrics: MetricsService,
  ) {}

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
      return (await this.bounded(this.store.cache.get<string>(generationKey(instrumentId)))) ?? '0';
    } catch (error) {
      this.failed('generation', error);
      return undefined;
    }
  }

  async get(key: string): Promise<string | undefined> {
    try {
      const stored = await this.bounded(this.store.cache.get<string | PackedText>(key));
      const value = stored === undefined || stored === null ? undefined : await unpackText(stored);
      this.metrics.cacheOperation(value === undefined ? 'miss' : 'hit');
      return value;
    } catch (error) {
      this.failed('get', error);
      return undefined;
    }
  }

  /** One round trip for several candidate keys; the first that is cached wins. */
  async getFirst(keys: readonly string[]): Promise<string | undefined> {
    try {
      const values = await this.bounded(this.store.cache.mget<string | PackedText>([...keys]));
      const found = values.find((v) => v !== undefined && v !== null);
      const value = found === undefined ? undefined : await unpackText(found);
      this.metrics.cacheOperation(value === undefined ? 'miss' : 'hit');
      return value;
    } catch (error) {
      this.failed('get', error);
      return undefined;
    }
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (value.length > this.settings.cacheMaxEntryBytes) return;
    try {
      await this.bounded(this.store.cache.set(key, value, ttlMs));
    } catch (error) {
      this.failed('set', error);
    }
  }

  /**
   * Makes every cached answer about the instrument unreachable: a new,
   * unique generation (unique so that two concurrent writers cannot both
   * land on the same "next" value). Called after the write has committed.
   */
  async invalidateInstrument(instrumentId: string): Promise<void> {
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

  private failed(operation: string, error: unknown): void {
    this.metrics.cacheOperation('error');
    this.logger.debug(
      `${operation} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  private bounded<T>(promise: Promise<T>, ms = this.settings.cacheTimeoutMs): Promise<T> {
    let timer: NodeJS.Timeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CacheTimeout(`no answer in ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}
