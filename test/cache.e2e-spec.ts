import Redis from 'ioredis';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/app.factory';
import { createCacheCodec, unpackText } from '../src/cache/cache-codec';
import { BarPoint, makeBars } from './support/bars';
import { TcpProxy } from './support/tcp-proxy';
import { capabilitiesOf, ENGINES, TestEngine } from './support/test-database';
import { metricValue } from './support/metrics-text';
import { JsonResponse, request, startTestApp, TestApp } from './support/test-app';

/**
 * End-to-end tests of the query cache (DESIGN 6) against a real Redis: hits,
 * the keys and TTLs in Redis, read-your-write after stores and deletes (also
 * across instances), and the database fallback while Redis is unreachable or
 * goes away and comes back. This suite owns Redis database 11.
 */

const BASE = '/api/v1/storage';
const REDIS_PORT = 6379;
const REDIS_DB = 11;
const REDIS_URL = `redis://127.0.0.1:${REDIS_PORT}/${REDIS_DB}`;
/** Nothing listens on port 1: every connection is refused at once. */
const UNREACHABLE_REDIS_URL = 'redis://127.0.0.1:1/0';

const START = '2025-06-20T10:00:00.000Z';
const END = '2025-06-20T11:00:00.000Z';
const MINUTE = 60_000;
const FIVE_MINUTES = 5 * MINUTE;
const HOUR = 60 * MINUTE;

/** TTLs of DESIGN 6, in ms, and how far a PTTL read just after the write may be below them. */
const TTL_MS = { query: 5 * MINUTE, agg: 15 * MINUTE, latest: MINUTE, generation: 24 * HOUR };
const TTL_TOLERANCE_MS = 10_000;

interface QueryBody {
  instrument_id: string;
  timeframe: string;
  derived_from?: string;
  data_points: Record<string, unknown>[];
  total_count: number;
  query_time_ms: number;
  cache_hit: boolean;
}

interface HealthBody {
  status: 'healthy' | 'degraded' | 'unhealthy';
  database: { up: boolean };
  cache: { status: 'up' | 'down'; kind: 'redis' | 'memory'; latency_ms: number };
}

/** Somewhere to send requests: a test app, or a second instance of one. */
interface Instance {
  readonly baseUrl: string;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- requests

function queryPath(instrument: string, timeframe: string, start = START, end = END): string {
  const params = new URLSearchParams({
    instrument_id: instrument,
    timeframe,
    start_time: start,
    end_time: end,
  });
  return `${BASE}/query?${params.toString()}`;
}

async function store(
  baseUrl: string,
  instrument: string,
  points: readonly BarPoint[],
  timeframe = 'ONE_MINUTE',
): Promise<void> {
  const res = await request(baseUrl, 'POST', `${BASE}/store`, {
    instrument_id: instrument,
    timeframe,
    data_points: points,
  });
  expect({ status: res.status, body: res.body as unknown }).toMatchObject({
    status: 200,
    body: { stored_count: points.length, failed_count: 0 },
  });
}

async function query(
  baseUrl: string,
  instrument: string,
  timeframe = 'ONE_MINUTE',
  start = START,
  end = END,
): Promise<JsonResponse<QueryBody>> {
  const res = await request<QueryBody>(
    baseUrl,
    'GET',
    queryPath(instrument, timeframe, start, end),
  );
  expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: expect.any(String) });
  return res;
}

async function latest(
  baseUrl: string,
  instrument: string,
  fields?: string,
): Promise<JsonResponse<Record<string, unknown>>> {
  const params = new URLSearchParams({ timeframe: 'ONE_MINUTE', ...(fields ? { fields } : {}) });
  const res = await request<Record<string, unknown>>(
    baseUrl,
    'GET',
    `${BASE}/instruments/${encodeURIComponent(instrument)}/latest?${params.toString()}`,
  );
  expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: expect.any(String) });
  return res;
}

async function remove(
  baseUrl: string,
  instrument: string,
  start: string,
  end: string,
  timeframe = 'ONE_MINUTE',
): Promise<number> {
  const params = new URLSearchParams({ start_time: start, end_time: end, timeframe });
  const res = await request<{ deleted_count: number }>(
    baseUrl,
    'DELETE',
    `${BASE}/instruments/${encodeURIComponent(instrument)}?${params.toString()}`,
  );
  expect(res.status).toBe(200);
  return res.body.deleted_count;
}

async function health(baseUrl: string): Promise<HealthBody> {
  const res = await request<HealthBody>(baseUrl, 'GET', `${BASE}/health`);
  expect(res.status).toBe(200);
  return res.body;
}

/** Polls until the instance reports the wanted health status (Redis reconnects on its own). */
async function waitForStatus(
  baseUrl: string,
  status: HealthBody['status'],
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: HealthBody | undefined;
  while (Date.now() < deadline) {
    last = await health(baseUrl);
    if (last.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`health stayed ${JSON.stringify(last)} instead of "${status}"`);
}

/** The data_points array exactly as sent. */
function pointsText(text: string): string {
  const match = /"data_points":(\[.*\]),"total_count":/s.exec(text);
  if (!match) throw new Error(`no data_points in ${text.slice(0, 200)}`);
  return match[1];
}

// ---------------------------------------------------------------- expected data

const at = (ms: number): string => new Date(ms).toISOString();
const START_MS = Date.parse(START);

/** A copy of `bar` with a new high: still a valid bar, and visibly different. */
function withHigh(bar: BarPoint, high: number): BarPoint {
  return { ...bar, high };
}

/** The OHLCV bars of `stepMs` computed from 1-minute bars, as the service derives them. */
function aggregate(bars: readonly BarPoint[], stepMs: number): Record<string, unknown>[] {
  const buckets = new Map<number, BarPoint[]>();
  for (const bar of bars) {
    const start = Math.floor(Date.parse(bar.timestamp) / stepMs) * stepMs;
    buckets.set(start, [...(buckets.get(start) ?? []), bar]);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, group]) => ({
      timestamp: at(start),
      open: group[0].open,
      high: Math.max(...group.map((b) => b.high)),
      low: Math.min(...group.map((b) => b.low)),
      close: group[group.length - 1].close,
      volume: group.reduce((sum, b) => sum + Number(b.volume), 0),
    }));
}

/** `bars` with `replacement` in place of the bar of the same timestamp. */
function replaced(bars: readonly BarPoint[], replacement: BarPoint): BarPoint[] {
  return bars.map((b) => (b.timestamp === replacement.timestamp ? replacement : b));
}

// ---------------------------------------------------------------- Redis

/** The text the service cached, out of the envelope the cache stores in Redis. */
/** Reads every form the service writes; writes text as it is. */
const CODEC = createCacheCodec();

/**
 * The text cached under a Redis value: the store's own JSON layer
 * (cache-manager-ioredis-yet), then the service's codec (src/cache/cache-codec.ts).
 */
async function cachedText(raw: string | null): Promise<string> {
  if (raw === null) throw new Error('not in Redis');
  const entry = await CODEC.deserialize(JSON.parse(raw) as string);
  const value = entry === undefined ? undefined : await unpackText(entry.value);
  if (typeof value !== 'string') throw new Error(`unexpected cache entry ${raw.slice(0, 200)}`);
  return value;
}

/** Replaces the cached text of `key`, keeping its expiry and TTL. */
async function overwriteCached(redis: Redis, key: string, text: string): Promise<void> {
  const raw = await redis.get(key);
  if (raw === null) throw new Error(`${key} is not in Redis`);
  const entry = await CODEC.deserialize(JSON.parse(raw) as string);
  const encoded = await CODEC.serialize({ value: text, expires: entry?.expires });
  await redis.set(key, JSON.stringify(encoded), 'KEEPTTL');
}

async function keys(redis: Redis, pattern: string): Promise<string[]> {
  return (await redis.keys(pattern)).sort();
}

/** Polls until `condition` holds: answers do not wait for their cache writes to reach Redis. */
async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// ---------------------------------------------------------------- instances

async function listening(app: Awaited<ReturnType<typeof createApp>>): Promise<Instance> {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/**
 * Another instance beside `first`, on the same Redis. On a server engine it also
 * shares the database, as replicas do. The embedded engine serves a single
 * session, so there it has a database of its own.
 */
async function secondInstance(
  engine: TestEngine,
  first: TestApp,
  env: Record<string, string>,
): Promise<Instance> {
  if (!capabilitiesOf(engine).embedded) return listening(await createApp(first.db.settings));
  const other = await startTestApp(engine, env);
  return { baseUrl: other.baseUrl, close: () => other.close() };
}

// ---------------------------------------------------------------- shared scenarios

/** Miss then hit with the same points, for a stored range and a derived one. */
async function expectHitAfterMiss(baseUrl: string, instrument: string): Promise<void> {
  const bars = makeBars(START, 60, MINUTE, 7);
  await store(baseUrl, instrument, bars);

  const first = await query(baseUrl, instrument);
  const second = await query(baseUrl, instrument);
  expect(first.body.cache_hit).toBe(false);
  expect(second.body.cache_hit).toBe(true);
  expect(first.body.data_points).toEqual(bars);
  expect(pointsText(second.text)).toBe(pointsText(first.text));
  expect(second.body.total_count).toBe(60);

  const derived = await query(baseUrl, instrument, 'FIVE_MINUTES');
  const derivedAgain = await query(baseUrl, instrument, 'FIVE_MINUTES');
  expect(derived.body).toMatchObject({ derived_from: 'ONE_MINUTE', cache_hit: false });
  expect(derivedAgain.body).toMatchObject({ derived_from: 'ONE_MINUTE', cache_hit: true });
  expect(derived.body.data_points).toMatchObject(aggregate(bars, FIVE_MINUTES));
  expect(pointsText(derivedAgain.text)).toBe(pointsText(derived.text));
}

/** Stored range: cached, then a store and a delete each answered fresh at once. */
async function expectRangeReadYourWrite(baseUrl: string, instrument: string): Promise<void> {
  let bars = makeBars(START, 60, MINUTE, 11);
  await store(baseUrl, instrument, bars);
  await query(baseUrl, instrument);
  expect((await query(baseUrl, instrument)).body.cache_hit).toBe(true);

  const changed = withHigh(bars[2], 500);
  await store(baseUrl, instrument, [changed]);
  bars = replaced(bars, changed);
  const afterStore = await query(baseUrl, instrument);
  expect(afterStore.body.cache_hit).toBe(false);
  expect(afterStore.body.data_points).toEqual(bars);
  // Cached again, under the new generation.
  const again = await query(baseUrl, instrument);
  expect(again.body.cache_hit).toBe(true);
  expect(again.body.data_points).toEqual(bars);

  expect(await remove(baseUrl, instrument, at(START_MS + 30 * MINUTE), END)).toBe(30);
  const afterDelete = await query(baseUrl, instrument);
  expect(afterDelete.body.cache_hit).toBe(false);
  expect(afterDelete.body.total_count).toBe(30);
  expect(afterDelete.body.data_points).toEqual(bars.slice(0, 30));
}

/** Derived FIVE_MINUTES and ONE_HOUR: cached, then ONE_MINUTE writes answered fresh at once. */
async function expectDerivedReadYourWrite(baseUrl: string, instrument: string): Promise<void> {
  let bars = makeBars(START, 60, MINUTE, 13);
  await store(baseUrl, instrument, bars);
  for (const timeframe of ['FIVE_MINUTES', 'ONE_HOUR']) {
    await query(baseUrl, instrument, timeframe);
    expect((await query(baseUrl, instrument, timeframe)).body.cache_hit).toBe(true);
  }

  const changed = withHigh(bars[2], 500);
  await store(baseUrl, instrument, [changed]);
  bars = replaced(bars, changed);
  const fiveAfterStore = await query(baseUrl, instrument, 'FIVE_MINUTES');
  const hourAfterStore = await query(baseUrl, instrument, 'ONE_HOUR');
  expect(fiveAfterStore.body).toMatchObject({ cache_hit: false, derived_from: 'ONE_MINUTE' });
  expect(fiveAfterStore.body.data_points).toMatchObject(aggregate(bars, FIVE_MINUTES));
  expect(fiveAfterStore.body.data_points[0].high).toBe(500);
  expect(hourAfterStore.body).toMatchObject({ cache_hit: false, derived_from: 'ONE_MINUTE' });
  expect(hourAfterStore.body.data_points).toMatchObject(aggregate(bars, HOUR));
  expect(hourAfterStore.body.data_points[0].high).toBe(500);
  for (const timeframe of ['FIVE_MINUTES', 'ONE_HOUR']) {
    expect((await query(baseUrl, instrument, timeframe)).body.cache_hit).toBe(true);
  }

  expect(await remove(baseUrl, instrument, START, at(START_MS + 5 * MINUTE))).toBe(5);
  bars = bars.slice(5);
  const fiveAfterDelete = await query(baseUrl, instrument, 'FIVE_MINUTES');
  const hourAfterDelete = await query(baseUrl, instrument, 'ONE_HOUR');
  expect(fiveAfterDelete.body).toMatchObject({ cache_hit: false, total_count: 11 });
  expect(fiveAfterDelete.body.data_points).toMatchObject(aggregate(bars, FIVE_MINUTES));
  expect(hourAfterDelete.body).toMatchObject({ cache_hit: false, total_count: 1 });
  expect(hourAfterDelete.body.data_points).toMatchObject(aggregate(bars, HOUR));
  expect(hourAfterDelete.body.data_points[0].high).not.toBe(500);
}

/** Latest point, all fields and a projection: cached, then a store and a delete answered fresh. */
async function expectLatestReadYourWrite(baseUrl: string, instrument: string): Promise<void> {
  const bars = makeBars(START, 61, MINUTE, 17);
  await store(baseUrl, instrument, bars.slice(0, 60));
  expect((await latest(baseUrl, instrument)).body).toEqual(bars[59]);
  expect((await latest(baseUrl, instrument)).body).toEqual(bars[59]);
  expect((await latest(baseUrl, instrument, 'close')).body).toEqual({
    timestamp: bars[59].timestamp,
    close: bars[59].close,
  });

  await store(baseUrl, instrument, [bars[60]]);
  expect((await latest(baseUrl, instrument)).body).toEqual(bars[60]);
  expect((await latest(baseUrl, instrument, 'close')).body).toEqual({
    timestamp: bars[60].timestamp,
    close: bars[60].close,
  });

  const changed = withHigh(bars[60], 500);
  await store(baseUrl, instrument, [changed]);
  expect((await latest(baseUrl, instrument)).body).toEqual(changed);

  expect(await remove(baseUrl, instrument, bars[60].timestamp, at(START_MS + 2 * HOUR))).toBe(1);
  expect((await latest(baseUrl, instrument)).body).toEqual(bars[59]);
  expect((await latest(baseUrl, instrument, 'close')).body).toEqual({
    timestamp: bars[59].timestamp,
    close: bars[59].close,
  });
}

// ---------------------------------------------------------------- suites

describe.each(ENGINES)('cache on %s', (engine) => {
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    await redis.flushdb();
  });

  afterAll(async () => {
    await redis?.flushdb();
    await redis?.quit();
  });

  describe('with Redis', () => {
    let a: TestApp;
    let b: Instance;

    beforeAll(async () => {
      a = await startTestApp(engine, { REDIS_URL });
      b = await secondInstance(engine, a, { REDIS_URL });
    });

    afterAll(async () => {
      await b?.close();
      await a?.close();
    });

    it('should report the Redis cache as up', async () => {
      expect(await health(a.baseUrl)).toMatchObject({
        status: 'healthy',
        cache: { status: 'up', kind: 'redis' },
      });
    });

    it('should answer a repeated query from the cache with the same points', async () => {
      await expectHitAfterMiss(a.baseUrl, 'HIT');
    });

    it('should keep the answers in Redis under query:, agg:, latest: and gen: keys with their TTLs', async () => {
      const instrument = 'KEYS';
      await store(a.baseUrl, instrument, makeBars(START, 60));
      const queryKeysBefore = await keys(redis, 'query:*');

      const range = await query(a.baseUrl, instrument);
      const derived = await query(a.baseUrl, instrument, 'FIVE_MINUTES');
      const point = await latest(a.baseUrl, instrument);
      await waitUntil(async () => (await keys(redis, `latest:${instrument}:*`)).length > 0);

      const [generationKey] = await keys(redis, `gen:${instrument}`);
      expect(generationKey).toBe(`gen:${instrument}`);
      const generation = await cachedText(await redis.get(generationKey));
      expect(generation).toMatch(/^[0-9a-f-]{36}$/);

      const newQueryKeys = (await keys(redis, 'query:*')).filter(
        (k) => !queryKeysBefore.includes(k),
      );
      expect(newQueryKeys).toEqual([expect.stringMatching(/^query:[A-Za-z0-9_-]+$/)]);
      expect(await cachedText(await redis.get(newQueryKeys[0]))).toContain(pointsText(range.text));

      const aggKeys = await keys(redis, `agg:${instrument}:*`);
      expect(aggKeys).toEqual([expect.stringMatching(/^agg:KEYS:FIVE_MINUTES:[A-Za-z0-9_-]+$/)]);
      expect(await cachedText(await redis.get(aggKeys[0]))).toContain(pointsText(derived.text));

      const latestKeys = await keys(redis, `latest:${instrument}:*`);
      expect(latestKeys).toEqual([
        `latest:${instrument}:ONE_MINUTE:${generation}:timestamp,open,high,low,close,volume,dollar_volume,trade_count`,
      ]);
      expect(await cachedText(await redis.get(latestKeys[0]))).toBe(point.text);

      const ttl = async (key: string) => redis.pttl(key);
      expect(await ttl(newQueryKeys[0])).toBeGreaterThan(TTL_MS.query - TTL_TOLERANCE_MS);
      expect(await ttl(newQueryKeys[0])).toBeLessThanOrEqual(TTL_MS.query);
      expect(await ttl(aggKeys[0])).toBeGreaterThan(TTL_MS.agg - TTL_TOLERANCE_MS);
      expect(await ttl(aggKeys[0])).toBeLessThanOrEqual(TTL_MS.agg);
      expect(await ttl(latestKeys[0])).toBeGreaterThan(TTL_MS.latest - TTL_TOLERANCE_MS);
      expect(await ttl(latestKeys[0])).toBeLessThanOrEqual(TTL_MS.latest);
      expect(await ttl(generationKey)).toBeGreaterThan(TTL_MS.agg);
    });

    it('should answer what Redis holds, so every instance on it shares the answers', async () => {
      const instrument = 'SHARED';
      const bars = makeBars(START, 60);
      await store(a.baseUrl, instrument, bars);
      const queryKeysBefore = await keys(redis, 'query:*');
      const computed = await query(a.baseUrl, instrument);
      const computedLatest = await latest(a.baseUrl, instrument);
      // A does not wait for its cache writes.
      await waitUntil(async () => (await keys(redis, 'query:*')).length > queryKeysBefore.length);
      const [rangeKey] = (await keys(redis, 'query:*')).filter((k) => !queryKeysBefore.includes(k));
      const generation = await cachedText(await redis.get(`gen:${instrument}`));
      await waitUntil(
        async () =>
          (await keys(redis, `latest:${instrument}:ONE_MINUTE:${generation}:*`)).length > 0,
      );
      const [latestKey] = await keys(redis, `latest:${instrument}:ONE_MINUTE:${generation}:*`);

      // Marked entries prove that B reads the answers from Redis, not recomputed.
      const cachedRange = await cachedText(await redis.get(rangeKey));
      const closeOfFirst = `"close":${bars[0].close},`;
      expect(cachedRange).toContain(closeOfFirst);
      await overwriteCached(
        redis,
        rangeKey,
        cachedRange.replace(closeOfFirst, '"close":12345.67,'),
      );
      const markedPoint = { ...bars[59], close: 76543.21 };
      await overwriteCached(redis, latestKey, JSON.stringify(markedPoint));

      const range = await query(b.baseUrl, instrument);
      expect(range.body.cache_hit).toBe(true);
      expect(range.body.data_points).toEqual([{ ...bars[0], close: 12345.67 }, ...bars.slice(1)]);
      expect((await latest(b.baseUrl, instrument)).body).toEqual(markedPoint);
      // A answers what it served under the same generation, kept in the process.
      const again = await query(a.baseUrl, instrument);
      expect(again.body.cache_hit).toBe(true);
      expect(again.body.data_points).toEqual(computed.body.data_points);
      expect((await latest(a.baseUrl, instrument)).body).toEqual(computedLatest.body);
    });

    it('should not answer an answer kept in the process once the generation in Redis changed', async () => {
      const instrument = 'KEPT.GEN';
      const bars = makeBars(START, 60, MINUTE, 29);
      await store(a.baseUrl, instrument, bars);
      await query(a.baseUrl, instrument);
      await latest(a.baseUrl, instrument);
      expect((await query(a.baseUrl, instrument)).body.cache_hit).toBe(true);

      // What another instance's write does to Redis, without the write.
      await overwriteCached(redis, `gen:${instrument}`, 'g-other-instance');

      expect((await query(a.baseUrl, instrument)).body.cache_hit).toBe(false);
      expect((await query(a.baseUrl, instrument)).body.cache_hit).toBe(true);
    });

    it('should answer trades and the latest trade from the cache, and fresh after another instance stored trades', async () => {
      const instrument = 'KEPT.TRADES';
      const tradesPath = `${BASE}/query?instrument_id=${instrument}&data_type=TRADE&start_time=${START}&end_time=${END}`;
      const latestPath = `${BASE}/instruments/${instrument}/latest?data_type=TRADE`;
      const storeTrades = async (baseUrl: string, points: object[]) => {
        const res = await request(baseUrl, 'POST', `${BASE}/store`, {
          instrument_id: instrument,
          data_type: 'TRADE',
          data_points: points,
        });
        expect(res.status).toBe(200);
      };
      const first = { timestamp: at(START_MS + MINUTE), price: 10.5, size: 3, trade_id: 'T1' };
      const second = {
        timestamp: at(START_MS + 2 * MINUTE),
        price: 11.25,
        size: 4,
        trade_id: 'T2',
      };
      await storeTrades(a.baseUrl, [first]);
      if (capabilitiesOf(engine).embedded) await storeTrades(b.baseUrl, [first]);
      await request(a.baseUrl, 'GET', tradesPath);
      await request(a.baseUrl, 'GET', latestPath);
      const repeat = await request(a.baseUrl, 'GET', tradesPath);
      expect(repeat.body).toMatchObject({ cache_hit: true, total_count: 1 });

      await storeTrades(b.baseUrl, [second]);
      if (capabilitiesOf(engine).embedded) await storeTrades(a.baseUrl, [second]);

      const after = await request(a.baseUrl, 'GET', tradesPath);
      expect(after.body).toMatchObject({ cache_hit: false, total_count: 2 });
      expect((await request(a.baseUrl, 'GET', latestPath)).body).toMatchObject({
        trade_id: 'T2',
        price: 11.25,
      });
    });

    it('should not keep answers under the first generation, which comes back when Redis loses its keys', async () => {
      const instrument = 'KEPT.FIRST';
      const bars = makeBars(START, 60, MINUTE, 31);
      await store(a.baseUrl, instrument, bars);
      if (capabilitiesOf(engine).embedded) await store(b.baseUrl, instrument, bars);
      // Redis lost its keys: the instrument's generation reads as the first one.
      await redis.del(`gen:${instrument}`);
      await query(a.baseUrl, instrument);
      await latest(a.baseUrl, instrument);

      const changed = withHigh(bars[59], 500);
      await store(b.baseUrl, instrument, [changed]);
      if (capabilitiesOf(engine).embedded) await store(a.baseUrl, instrument, [changed]);
      // ... and loses them again after that write: the first generation is back.
      await redis.flushdb();

      const range = await query(a.baseUrl, instrument);
      expect(range.body.cache_hit).toBe(false);
      expect(range.body.data_points).toEqual(replaced(bars, changed));
      expect((await latest(a.baseUrl, instrument)).body).toEqual(changed);
    });

    it('should never answer a cached range after a store or a delete', async () => {
      await expectRangeReadYourWrite(a.baseUrl, 'RYW.RANGE');
    });

    it('should never answer a cached derived range after a store or a delete of the finer timeframe', async () => {
      await expectDerivedReadYourWrite(a.baseUrl, 'RYW.DERIVED');
    });

    it('should never answer a cached latest point after a store or a delete', async () => {
      await expectLatestReadYourWrite(a.baseUrl, 'RYW.LATEST');
    });

    it('should give a write a new generation in Redis', async () => {
      const instrument = 'GEN';
      const bars = makeBars(START, 10);
      await store(a.baseUrl, instrument, bars.slice(0, 5));
      const first = await cachedText(await redis.get(`gen:${instrument}`));
      await store(a.baseUrl, instrument, bars.slice(5));
      const second = await cachedText(await redis.get(`gen:${instrument}`));
      expect(await remove(a.baseUrl, instrument, START, END)).toBe(10);
      const third = await cachedText(await redis.get(`gen:${instrument}`));
      // A delete that removes nothing changes nothing.
      expect(await remove(a.baseUrl, instrument, START, END)).toBe(0);
      const fourth = await cachedText(await redis.get(`gen:${instrument}`));

      expect(new Set([first, second, third]).size).toBe(3);
      expect(fourth).toBe(third);
    });

    it('should not answer from the cache after another instance wrote the instrument (stores and deletes through B, reads through A)', async () => {
      const instrument = 'TWO.INSTANCES';
      const bars = makeBars(START, 60, MINUTE, 23);
      // On a server both instances share the database; the embedded engine gets the same data twice.
      await store(a.baseUrl, instrument, bars);
      if (capabilitiesOf(engine).embedded) await store(b.baseUrl, instrument, bars);
      await query(a.baseUrl, instrument);
      await query(a.baseUrl, instrument, 'FIVE_MINUTES');
      await latest(a.baseUrl, instrument);
      expect((await query(a.baseUrl, instrument)).body.cache_hit).toBe(true);
      expect((await query(a.baseUrl, instrument, 'FIVE_MINUTES')).body.cache_hit).toBe(true);

      const changed = withHigh(bars[59], 500);
      await store(b.baseUrl, instrument, [changed]);

      const range = await query(a.baseUrl, instrument);
      const derived = await query(a.baseUrl, instrument, 'FIVE_MINUTES');
      expect(range.body.cache_hit).toBe(false);
      expect(derived.body.cache_hit).toBe(false);
      if (!capabilitiesOf(engine).embedded) {
        const current = replaced(bars, changed);
        expect(range.body.data_points).toEqual(current);
        expect(derived.body.data_points).toMatchObject(aggregate(current, FIVE_MINUTES));
        expect((await latest(a.baseUrl, instrument)).body).toEqual(changed);
      }
      expect((await query(a.baseUrl, instrument)).body.cache_hit).toBe(true);

      expect(await remove(b.baseUrl, instrument, at(START_MS + 30 * MINUTE), END)).toBe(30);
      const afterDelete = await query(a.baseUrl, instrument);
      expect(afterDelete.body.cache_hit).toBe(false);
      if (!capabilitiesOf(engine).embedded) {
        expect(afterDelete.body.total_count).toBe(30);
        expect((await latest(a.baseUrl, instrument)).body).toEqual(bars[29]);
      }
    });
  });

  describe('with Redis unreachable', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp(engine, { REDIS_URL: UNREACHABLE_REDIS_URL });
    });

    afterAll(async () => {
      await t?.close();
    });

    // First, before any write through this instance: after a failed invalidation it skips the cache altogether.
    it('should count the cache operations as errors and the reads as bypassing the cache', async () => {
      const metrics = async () => (await request<string>(t.baseUrl, 'GET', '/metrics')).text;
      const cacheOperations = (text: string, result: string) =>
        metricValue(text, 'mds_cache_operations_total', { result });
      const rangeReads = (text: string, cache: string) =>
        metricValue(text, 'mds_query_duration_seconds_count', { shape: 'range', cache });
      const before = await metrics();

      for (let i = 0; i < 2; i++) {
        const res = await query(t.baseUrl, 'NO.REDIS.EMPTY');
        expect(res.body).toMatchObject({ data_points: [], total_count: 0, cache_hit: false });
      }
      const after = await metrics();

      // Metrics are process-wide: only their increases belong to this test.
      expect({
        errors: cacheOperations(after, 'error') - cacheOperations(before, 'error'),
        hits: cacheOperations(after, 'hit') - cacheOperations(before, 'hit'),
        misses: cacheOperations(after, 'miss') - cacheOperations(before, 'miss'),
        bypass: rangeReads(after, 'bypass') - rangeReads(before, 'bypass'),
      }).toEqual({ errors: 2, hits: 0, misses: 0, bypass: 2 });
    });

    it('should store, query, answer the latest point and delete correctly, never from the cache', async () => {
      const instrument = 'NO.REDIS';
      const started = Date.now();
      let bars = makeBars(START, 60, MINUTE, 29);
      await store(t.baseUrl, instrument, bars);

      for (let i = 0; i < 2; i++) {
        const range = await query(t.baseUrl, instrument);
        expect(range.body).toMatchObject({ cache_hit: false, total_count: 60 });
        expect(range.body.data_points).toEqual(bars);
        const derived = await query(t.baseUrl, instrument, 'FIVE_MINUTES');
        expect(derived.body).toMatchObject({ cache_hit: false, derived_from: 'ONE_MINUTE' });
        expect(derived.body.data_points).toMatchObject(aggregate(bars, FIVE_MINUTES));
        expect((await latest(t.baseUrl, instrument)).body).toEqual(bars[59]);
      }

      const changed = withHigh(bars[10], 500);
      await store(t.baseUrl, instrument, [changed]);
      bars = replaced(bars, changed);
      expect((await query(t.baseUrl, instrument)).body.data_points).toEqual(bars);

      expect(await remove(t.baseUrl, instrument, at(START_MS + 30 * MINUTE), END)).toBe(30);
      const afterDelete = await query(t.baseUrl, instrument);
      expect(afterDelete.body).toMatchObject({ cache_hit: false, total_count: 30 });
      expect(afterDelete.body.data_points).toEqual(bars.slice(0, 30));
      expect((await latest(t.baseUrl, instrument)).body).toEqual(bars[29]);
      // Nothing waited on Redis: a dozen requests in well under a second each.
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('should report degraded health with the cache down, and stay ready', async () => {
      expect(await health(t.baseUrl)).toMatchObject({
        status: 'degraded',
        database: { up: true },
        cache: { status: 'down', kind: 'redis' },
      });
      const ready = await request(t.baseUrl, 'GET', '/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ status: 'ok' });
    });
  });

  describe('with Redis going away and coming back', () => {
    let proxy: TcpProxy;
    let t: TestApp;

    beforeAll(async () => {
      proxy = new TcpProxy('127.0.0.1', REDIS_PORT);
      await proxy.start();
      t = await startTestApp(engine, { REDIS_URL: `redis://127.0.0.1:${proxy.port}/${REDIS_DB}` });
      await waitForStatus(t.baseUrl, 'healthy');
    });

    afterAll(async () => {
      await t?.close();
      await proxy?.stop();
    });

    it('should answer from the database while Redis is away and use the cache again once it is back', async () => {
      const instrument = 'OUTAGE.READS';
      const bars = makeBars(START, 60, MINUTE, 31);
      await store(t.baseUrl, instrument, bars);
      await query(t.baseUrl, instrument);
      const cached = await query(t.baseUrl, instrument);
      expect(cached.body.cache_hit).toBe(true);

      await proxy.stop();
      await waitForStatus(t.baseUrl, 'degraded');
      for (let i = 0; i < 2; i++) {
        const during = await query(t.baseUrl, instrument);
        expect(during.body.cache_hit).toBe(false);
        expect(pointsText(during.text)).toBe(pointsText(cached.text));
        const derived = await query(t.baseUrl, instrument, 'ONE_HOUR');
        expect(derived.body.cache_hit).toBe(false);
        expect(derived.body.data_points).toMatchObject(aggregate(bars, HOUR));
        expect((await latest(t.baseUrl, instrument)).body).toEqual(bars[59]);
      }
      expect((await request(t.baseUrl, 'GET', '/health/ready')).status).toBe(200);

      // Same port, no restart of the service: the client reconnects by itself.
      await proxy.start();
      await waitForStatus(t.baseUrl, 'healthy');
      const after = await query(t.baseUrl, instrument);
      expect(after.body.cache_hit).toBe(true);
      expect(pointsText(after.text)).toBe(pointsText(cached.text));
    });

    it('should keep answering fresh data, not from the cache, after a write whose invalidation failed, even once Redis is back', async () => {
      const instrument = 'OUTAGE.WRITE';
      let bars = makeBars(START, 60, MINUTE, 37);
      await store(t.baseUrl, instrument, bars);
      await query(t.baseUrl, instrument);
      expect((await query(t.baseUrl, instrument)).body.cache_hit).toBe(true);

      await proxy.stop();
      await waitForStatus(t.baseUrl, 'degraded');
      const changed = withHigh(bars[59], 500);
      await store(t.baseUrl, instrument, [changed]);
      bars = replaced(bars, changed);
      const during = await query(t.baseUrl, instrument);
      expect(during.body.cache_hit).toBe(false);
      expect(during.body.data_points).toEqual(bars);

      await proxy.start();
      await waitForStatus(t.baseUrl, 'healthy');
      // The answer cached before the write is still in Redis: it must not come back (DESIGN 6).
      // The QueryCache does not read the cache for 15 minutes after an invalidation it could not write.
      for (let i = 0; i < 2; i++) {
        const after = await query(t.baseUrl, instrument);
        expect(after.body.data_points).toEqual(bars);
        expect(after.body.cache_hit).toBe(false);
        expect((await latest(t.baseUrl, instrument)).body).toEqual(changed);
      }
    });

    if (!capabilitiesOf(engine).embedded) {
      describe('with a second instance on the same database and Redis', () => {
        let reader: Instance;

        beforeAll(async () => {
          reader = await listening(await createApp(t.db.settings));
          await waitForStatus(reader.baseUrl, 'healthy');
        });

        afterAll(async () => {
          await reader?.close();
        });

        it('should not answer the other instance a range older than a write whose invalidation failed during an outage', async () => {
          const instrument = 'OUTAGE.REPLICA';
          let bars = makeBars(START, 60, MINUTE, 41);
          await store(t.baseUrl, instrument, bars);
          await query(reader.baseUrl, instrument);
          expect((await query(reader.baseUrl, instrument)).body.cache_hit).toBe(true);

          await proxy.stop();
          await waitForStatus(t.baseUrl, 'degraded');
          const changed = withHigh(bars[3], 500);
          await store(t.baseUrl, instrument, [changed]);
          bars = replaced(bars, changed);
          expect((await query(reader.baseUrl, instrument)).body.data_points).toEqual(bars);

          await proxy.start();
          await waitForStatus(t.baseUrl, 'healthy');
          await waitForStatus(reader.baseUrl, 'healthy');
          // A fix may write the lost invalidation once Redis answers again: allow it a moment.
          await new Promise((resolve) => setTimeout(resolve, 2_000));
          const after = await query(reader.baseUrl, instrument);
          expect(after.body.data_points).toEqual(bars);
          expect(after.body.cache_hit).toBe(false);
        });
      });
    }
  });

  describe('with the memory cache', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp(engine);
    });

    afterAll(async () => {
      await t?.close();
    });

    it('should report the memory cache as up', async () => {
      expect(await health(t.baseUrl)).toMatchObject({
        status: 'healthy',
        cache: { status: 'up', kind: 'memory' },
      });
    });

    it('should answer a repeated query from the cache with the same points', async () => {
      await expectHitAfterMiss(t.baseUrl, 'MEM.HIT');
    });

    it('should never answer a cached range after a store or a delete', async () => {
      await expectRangeReadYourWrite(t.baseUrl, 'MEM.RANGE');
    });

    it('should never answer a cached derived range after a store or a delete of the finer timeframe', async () => {
      await expectDerivedReadYourWrite(t.baseUrl, 'MEM.DERIVED');
    });

    it('should never answer a cached latest point after a store or a delete', async () => {
      await expectLatestReadYourWrite(t.baseUrl, 'MEM.LATEST');
    });

    it('should put nothing in Redis', async () => {
      expect(await keys(redis, 'MEM*')).toEqual([]);
      expect(await keys(redis, '*MEM.*')).toEqual([]);
    });
  });
});
