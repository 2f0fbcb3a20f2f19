import { deflateRawSync } from 'node:zlib';
import { PackedText } from './cache-codec';
import { Logger } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { MetricsService } from '../metrics/metrics.service';
import { loadSettings } from '../settings/settings';
import { CACHE_TTL_MS, generationKey } from './cache-keys';
import type { CacheStore } from './cache-store';
import { QueryCache } from './query-cache.service';

const TIMEOUT_MS = 100;
const MAX_ENTRY_BYTES = 1024;
const DISTRUST_MS = 15 * 60_000;

/** A promise the test settles when it wants to, or never. */
interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Settles nothing: the cache call hangs until the QueryCache gives up on it. */
const hanging = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** A cache-manager-like store whose answers each test decides. */
interface FakeStore {
  readonly store: CacheStore;
  readonly get: jest.Mock<Promise<unknown>, [string]>;
  readonly mget: jest.Mock<Promise<unknown[]>, [string[]]>;
  readonly set: jest.Mock<Promise<unknown>, [string, unknown, number?]>;
  readonly ping: jest.Mock<Promise<boolean>, []>;
  readonly close: jest.Mock<Promise<void>, []>;
}

function fakeStore(kind: 'redis' | 'memory' = 'redis'): FakeStore {
  const get = jest.fn<Promise<unknown>, [string]>(() => Promise.resolve(undefined));
  const mget = jest.fn<Promise<unknown[]>, [string[]]>((keys) =>
    Promise.resolve(keys.map(() => undefined)),
  );
  const set = jest.fn<Promise<unknown>, [string, unknown, number?]>((_key, value) =>
    Promise.resolve(value),
  );
  const ping = jest.fn<Promise<boolean>, []>(() => Promise.resolve(true));
  const close = jest.fn<Promise<void>, []>(() => Promise.resolve());
  const cache = { get, mget, set } as unknown as Cache;
  return { store: { cache, kind, ping, close }, get, mget, set, ping, close };
}

function metricsMock(): jest.Mocked<MetricsService> {
  return { cacheOperation: jest.fn() } as unknown as jest.Mocked<MetricsService>;
}

function queryCache(fake: FakeStore, metrics = metricsMock()): QueryCache {
  const settings = loadSettings({
    LOG_LEVEL: 'error',
    CACHE_TIMEOUT_MS: String(TIMEOUT_MS),
    CACHE_MAX_ENTRY_BYTES: String(MAX_ENTRY_BYTES),
  });
  return new QueryCache(fake.store, settings, metrics);
}

/**
 * Advances fake time by `ms`, then lets the loop pass that a timeout waits
 * for (QueryCache.bounded gives it in a setImmediate, which fake timers run
 * one tick later).
 */
async function passTimeout(ms: number): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
  await jest.advanceTimersByTimeAsync(1);
}

/** Whether the promise is still pending once every queued callback has run. */
async function isPending(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const winner = await Promise.race([promise, Promise.resolve(marker)]);
  return winner === marker;
}

describe('QueryCache', () => {
  beforeAll(() => {
    // A failed invalidation logs a warning: expected here, not worth printing.
    Logger.overrideLogger(false);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  describe('get', () => {
    it('should answer a cached value and count a hit', async () => {
      const fake = fakeStore();
      fake.get.mockResolvedValueOnce('{"a":1}');
      const metrics = metricsMock();

      await expect(queryCache(fake, metrics).get('query:abc')).resolves.toBe('{"a":1}');
      expect(fake.get).toHaveBeenCalledWith('query:abc');
      expect(metrics.cacheOperation.mock.calls).toEqual([['hit']]);
    });

    it('should answer undefined and count a miss when the key is absent', async () => {
      const fake = fakeStore();
      const metrics = metricsMock();

      await expect(queryCache(fake, metrics).get('query:abc')).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['miss']]);
    });

    it('should answer undefined and count an error when the store takes longer than CACHE_TIMEOUT_MS', async () => {
      jest.useFakeTimers();
      const fake = fakeStore();
      fake.get.mockImplementationOnce(hanging);
      const metrics = metricsMock();

      const answer = queryCache(fake, metrics).get('query:abc');
      await jest.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
      expect(await isPending(answer)).toBe(true);
      await passTimeout(1);

      await expect(answer).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });

    it('should take an answer that was due before a late-running timeout fired', async () => {
      const fake = fakeStore();
      // Due after the timeout, but both are overdue once the busy loop below ends.
      fake.get.mockReturnValueOnce(
        new Promise((resolve) => setTimeout(() => resolve('answer'), TIMEOUT_MS + 5)),
      );
      const metrics = metricsMock();

      const answer = queryCache(fake, metrics).get('query:abc');
      const busyUntil = Date.now() + TIMEOUT_MS + 30;
      while (Date.now() < busyUntil) {
        // A process too busy to run its timers on time.
      }

      await expect(answer).resolves.toBe('answer');
      expect(metrics.cacheOperation.mock.calls).toEqual([['hit']]);
    });

    it('should ignore a late answer that arrives after the timeout', async () => {
      jest.useFakeTimers();
      const fake = fakeStore();
      const late = deferred<unknown>();
      fake.get.mockReturnValueOnce(late.promise);
      const metrics = metricsMock();

      const answer = queryCache(fake, metrics).get('query:abc');
      await passTimeout(TIMEOUT_MS);
      late.resolve('too late');

      await expect(answer).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });

    it('should answer undefined and count an error when the store fails', async () => {
      const fake = fakeStore();
      fake.get.mockRejectedValueOnce(new Error("Stream isn't writeable"));
      const metrics = metricsMock();

      await expect(queryCache(fake, metrics).get('query:abc')).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });
  });

  describe('getFirst', () => {
    it('should answer the first cached value of the candidate keys in one call', async () => {
      const fake = fakeStore();
      fake.mget.mockResolvedValueOnce([undefined, null, 'second', 'third']);
      const metrics = metricsMock();

      await expect(queryCache(fake, metrics).getFirst(['k1', 'k2', 'k3', 'k4'])).resolves.toBe(
        'second',
      );
      expect(fake.mget).toHaveBeenCalledTimes(1);
      expect(fake.mget).toHaveBeenCalledWith(['k1', 'k2', 'k3', 'k4']);
      expect(metrics.cacheOperation.mock.calls).toEqual([['hit']]);
    });

    it('should inflate a packed answer after the store answered', async () => {
      const fake = fakeStore();
      fake.mget.mockResolvedValueOnce([undefined, new PackedText(deflateRawSync('[{"a":1}]'))]);

      await expect(queryCache(fake).getFirst(['k1', 'k2'])).resolves.toBe('[{"a":1}]');
    });

    it('should count one miss when none of the keys is cached', async () => {
      const fake = fakeStore();
      fake.mget.mockResolvedValueOnce([null, undefined]);
      const metrics = metricsMock();

      await expect(queryCache(fake, metrics).getFirst(['k1', 'k2'])).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['miss']]);
    });

    it('should answer undefined and count an error on a timeout', async () => {
      jest.useFakeTimers();
      const fake = fakeStore();
      fake.mget.mockImplementationOnce(hanging);
      const metrics = metricsMock();

      const answer = queryCache(fake, metrics).getFirst(['k1', 'k2']);
      await passTimeout(TIMEOUT_MS);

      await expect(answer).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });

    it('should answer undefined and count an error when the store fails', async () => {
      const fake = fakeStore();
      fake.mget.mockRejectedValueOnce(new Error('Connection is closed.'));
      const metrics = metricsMock();

      await expect(queryCache(fake, metrics).getFirst(['k1'])).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });
  });

  describe('generation', () => {
    it("should read the instrument's generation key", async () => {
      const fake = fakeStore();
      fake.get.mockResolvedValueOnce('3f1c');

      await expect(queryCache(fake).generation('AAPL')).resolves.toBe('3f1c');
      expect(fake.get).toHaveBeenCalledWith(generationKey('AAPL'));
      expect(generationKey('AAPL')).toBe('gen:AAPL');
    });

    it("should answer '0' for an instrument never written", async () => {
      const fake = fakeStore();

      await expect(queryCache(fake).generation('AAPL')).resolves.toBe('0');
    });

    it('should answer undefined (skip the cache) and count an error when the read fails', async () => {
      const fake = fakeStore();
      fake.get.mockRejectedValueOnce(new Error('ECONNREFUSED'));
      const metrics = metricsMock();

      await expect(queryCache(fake, metrics).generation('AAPL')).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });

    it('should answer undefined and count an error when the read times out', async () => {
      jest.useFakeTimers();
      const fake = fakeStore();
      fake.get.mockImplementationOnce(hanging);
      const metrics = metricsMock();

      const answer = queryCache(fake, metrics).generation('AAPL');
      await passTimeout(TIMEOUT_MS);

      await expect(answer).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });

    it('should trust the cache again on the next call after a failed read', async () => {
      const fake = fakeStore();
      fake.get.mockRejectedValueOnce(new Error('ECONNREFUSED')).mockResolvedValueOnce('3f1c');
      const cache = queryCache(fake);

      await expect(cache.generation('AAPL')).resolves.toBeUndefined();
      await expect(cache.generation('AAPL')).resolves.toBe('3f1c');
    });
  });

  describe('invalidateInstrument', () => {
    it('should write a new, unique generation that outlives every cached entry', async () => {
      const fake = fakeStore();
      const cache = queryCache(fake);

      await cache.invalidateInstrument('AAPL');
      await cache.invalidateInstrument('AAPL');

      expect(fake.set).toHaveBeenCalledTimes(2);
      const [first, second] = fake.set.mock.calls;
      expect(first?.[0]).toBe('gen:AAPL');
      expect(first?.[2]).toBe(CACHE_TTL_MS.generation);
      expect(first?.[2]).toBeGreaterThan(
        Math.max(CACHE_TTL_MS.query, CACHE_TTL_MS.agg, CACHE_TTL_MS.latest),
      );
      expect(typeof first?.[1]).toBe('string');
      expect(first?.[1]).not.toBe('0');
      expect(second?.[1]).not.toBe(first?.[1]);
    });

    it('should keep reading the cache after a successful invalidation', async () => {
      const fake = fakeStore();
      fake.get.mockResolvedValueOnce('new-generation');
      const cache = queryCache(fake);

      await cache.invalidateInstrument('AAPL');

      await expect(cache.generation('AAPL')).resolves.toBe('new-generation');
    });

    it('should not throw when the invalidation fails, and count an error', async () => {
      const fake = fakeStore();
      fake.set.mockRejectedValueOnce(new Error('ECONNREFUSED'));
      const metrics = metricsMock();

      await expect(queryCache(fake, metrics).invalidateInstrument('AAPL')).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });

    it('should not read the cache for 15 minutes after a failed invalidation, for any instrument', async () => {
      jest.useFakeTimers({ now: Date.parse('2025-06-20T10:00:00Z') });
      const fake = fakeStore();
      fake.get.mockResolvedValue('g1');
      fake.set.mockRejectedValueOnce(new Error('ECONNREFUSED'));
      const cache = queryCache(fake);

      await cache.invalidateInstrument('AAPL');

      // The store answers again, but stale entries may still be reachable under the old generation.
      await expect(cache.generation('AAPL')).resolves.toBeUndefined();
      await expect(cache.generation('MSFT')).resolves.toBeUndefined();
      jest.setSystemTime(Date.parse('2025-06-20T10:00:00Z') + DISTRUST_MS - 1);
      await expect(cache.generation('AAPL')).resolves.toBeUndefined();
      expect(fake.get).not.toHaveBeenCalled();

      jest.setSystemTime(Date.parse('2025-06-20T10:00:00Z') + DISTRUST_MS);
      await expect(cache.generation('AAPL')).resolves.toBe('g1');
      expect(fake.get).toHaveBeenCalledWith('gen:AAPL');
    });

    it('should last at least as long as the longest TTL of a cached answer', () => {
      expect(DISTRUST_MS).toBeGreaterThanOrEqual(
        Math.max(CACHE_TTL_MS.query, CACHE_TTL_MS.agg, CACHE_TTL_MS.latest, CACHE_TTL_MS.stats),
      );
    });

    it('should also distrust the cache after an invalidation that timed out', async () => {
      jest.useFakeTimers({ now: Date.parse('2025-06-20T10:00:00Z') });
      const fake = fakeStore();
      fake.get.mockResolvedValue('g1');
      fake.set.mockImplementationOnce(hanging);
      const metrics = metricsMock();
      const cache = queryCache(fake, metrics);

      const invalidation = cache.invalidateInstrument('AAPL');
      await passTimeout(TIMEOUT_MS);
      await invalidation;

      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
      await expect(cache.generation('AAPL')).resolves.toBeUndefined();
      // The window counts from the timeout, given one loop pass (1 fake ms) after TIMEOUT_MS.
      jest.setSystemTime(Date.parse('2025-06-20T10:00:00Z') + DISTRUST_MS + TIMEOUT_MS + 1);
      await expect(cache.generation('AAPL')).resolves.toBe('g1');
    });

    it('should extend the window from the latest failed invalidation', async () => {
      const start = Date.parse('2025-06-20T10:00:00Z');
      jest.useFakeTimers({ now: start });
      const fake = fakeStore();
      fake.get.mockResolvedValue('g1');
      fake.set.mockRejectedValue(new Error('ECONNREFUSED'));
      const cache = queryCache(fake);

      await cache.invalidateInstrument('AAPL');
      jest.setSystemTime(start + 10 * 60_000);
      await cache.invalidateInstrument('MSFT');

      jest.setSystemTime(start + DISTRUST_MS);
      await expect(cache.generation('AAPL')).resolves.toBeUndefined();
      jest.setSystemTime(start + 10 * 60_000 + DISTRUST_MS);
      await expect(cache.generation('AAPL')).resolves.toBe('g1');
    });
  });

  describe('set', () => {
    it('should store a value with its TTL', async () => {
      const fake = fakeStore();

      await queryCache(fake).set('query:abc', 'x'.repeat(MAX_ENTRY_BYTES), CACHE_TTL_MS.query);

      expect(fake.set).toHaveBeenCalledWith(
        'query:abc',
        'x'.repeat(MAX_ENTRY_BYTES),
        CACHE_TTL_MS.query,
      );
    });

    it('should not store a value larger than CACHE_MAX_ENTRY_BYTES', async () => {
      const fake = fakeStore();
      const metrics = metricsMock();

      await queryCache(fake, metrics).set(
        'query:abc',
        'x'.repeat(MAX_ENTRY_BYTES + 1),
        CACHE_TTL_MS.query,
      );

      expect(fake.set).not.toHaveBeenCalled();
      expect(metrics.cacheOperation).not.toHaveBeenCalled();
    });

    it('should not throw when the store fails, and count an error', async () => {
      const fake = fakeStore();
      fake.set.mockRejectedValueOnce(new Error('OOM command not allowed'));
      const metrics = metricsMock();

      await expect(
        queryCache(fake, metrics).set('query:abc', 'x', CACHE_TTL_MS.query),
      ).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });

    it('should give up on a store that does not answer within CACHE_TIMEOUT_MS', async () => {
      jest.useFakeTimers();
      const fake = fakeStore();
      fake.set.mockImplementationOnce(hanging);
      const metrics = metricsMock();

      const stored = queryCache(fake, metrics).set('query:abc', 'x', CACHE_TTL_MS.query);
      await passTimeout(TIMEOUT_MS);

      await expect(stored).resolves.toBeUndefined();
      expect(metrics.cacheOperation.mock.calls).toEqual([['error']]);
    });

    it('should not make the cache distrusted when storing an answer fails', async () => {
      const fake = fakeStore();
      fake.set.mockRejectedValueOnce(new Error('OOM command not allowed'));
      fake.get.mockResolvedValueOnce('g1');
      const cache = queryCache(fake);

      await cache.set('query:abc', 'x', CACHE_TTL_MS.query);

      await expect(cache.generation('AAPL')).resolves.toBe('g1');
    });
  });

  describe('answers kept in the process', () => {
    it('should answer a repeated get under a written generation without asking the store', async () => {
      const fake = fakeStore();
      fake.get.mockResolvedValueOnce('answer');
      const metrics = metricsMock();
      const cache = queryCache(fake, metrics);

      await expect(cache.get('query:abc', 'g1')).resolves.toBe('answer');
      await expect(cache.get('query:abc', 'g1')).resolves.toBe('answer');

      expect(fake.get).toHaveBeenCalledTimes(1);
      expect(metrics.cacheOperation.mock.calls).toEqual([['hit'], ['hit']]);
    });

    it('should answer what it stored at once, while the store write is still on its way', async () => {
      const fake = fakeStore();
      const write = deferred<unknown>();
      fake.set.mockImplementationOnce(() => write.promise);
      const cache = queryCache(fake);

      const stored = cache.set('agg:abc', 'answer', CACHE_TTL_MS.agg, 'g1');

      await expect(cache.getFirst(['query:abc', 'agg:abc'], 'g1')).resolves.toBe('answer');
      expect(fake.mget).not.toHaveBeenCalled();
      expect(await isPending(stored)).toBe(true);
      write.resolve('answer');
      await expect(stored).resolves.toBeUndefined();
    });

    it('should keep the first of several candidate keys found in the store', async () => {
      const fake = fakeStore();
      fake.mget.mockResolvedValueOnce([undefined, 'derived']);
      const cache = queryCache(fake);

      await cache.getFirst(['query:abc', 'agg:abc'], 'g1');

      await expect(cache.getFirst(['query:abc', 'agg:abc'], 'g1')).resolves.toBe('derived');
      expect(fake.mget).toHaveBeenCalledTimes(1);
    });

    it("should ask the store every time under the first generation ('0'), which comes back when Redis loses its keys", async () => {
      const fake = fakeStore();
      fake.get.mockResolvedValue('answer');
      const cache = queryCache(fake);

      await cache.set('query:abc', 'answer', CACHE_TTL_MS.query, '0');
      await cache.get('query:abc', '0');
      await cache.get('query:abc', '0');

      expect(fake.get).toHaveBeenCalledTimes(2);
    });

    it('should ask the store every time for a key without a generation', async () => {
      const fake = fakeStore();
      fake.get.mockResolvedValue('stats');
      const cache = queryCache(fake);

      await cache.get('stats:storage:latest');
      await cache.get('stats:storage:latest');

      expect(fake.get).toHaveBeenCalledTimes(2);
    });

    it('should not keep a value larger than CACHE_MAX_ENTRY_BYTES', async () => {
      const fake = fakeStore();
      const cache = queryCache(fake);

      await cache.set('query:abc', 'x'.repeat(MAX_ENTRY_BYTES + 1), CACHE_TTL_MS.query, 'g1');

      await expect(cache.get('query:abc', 'g1')).resolves.toBeUndefined();
      expect(fake.get).toHaveBeenCalledTimes(1);
    });

    it('should keep nothing beside the memory store, which is in the process already', async () => {
      const fake = fakeStore('memory');
      fake.get.mockResolvedValue('answer');
      const cache = queryCache(fake);

      await cache.get('query:abc', 'g1');
      await cache.get('query:abc', 'g1');

      expect(fake.get).toHaveBeenCalledTimes(2);
    });
  });

  describe('isHealthy', () => {
    it('should report up when the store answers its ping', async () => {
      const health = await queryCache(fakeStore()).isHealthy();

      expect(health.up).toBe(true);
      expect(health.latency_ms).toBeGreaterThanOrEqual(0);
    });

    it('should report down when the ping fails', async () => {
      const fake = fakeStore();
      fake.ping.mockRejectedValueOnce(new Error('ECONNREFUSED'));

      await expect(queryCache(fake).isHealthy()).resolves.toMatchObject({ up: false });
    });

    it('should report down when the ping does not answer within 500 ms', async () => {
      jest.useFakeTimers();
      const fake = fakeStore();
      fake.ping.mockImplementationOnce(hanging);

      const health = queryCache(fake).isHealthy();
      await jest.advanceTimersByTimeAsync(499);
      expect(await isPending(health)).toBe(true);
      await passTimeout(1);

      await expect(health).resolves.toMatchObject({ up: false });
    });
  });

  it('should report the kind of its store', () => {
    expect(queryCache(fakeStore('memory')).kind).toBe('memory');
    expect(queryCache(fakeStore('redis')).kind).toBe('redis');
  });

  it('should close its store on shutdown', async () => {
    const fake = fakeStore();

    await queryCache(fake).onApplicationShutdown();

    expect(fake.close).toHaveBeenCalledTimes(1);
  });
});
