import { makeBars } from './support/bars';
import { privateRedis, PrivateServer } from './support/private-server';
import { freePort } from './support/service-process';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * The cache's Redis server process is killed (kill -9 of a private
 * redis-server, not a proxy) and started again: reads and writes go on from
 * the database, health says degraded while it is gone, and the cache is used
 * again once it is back.
 */

const BASE = '/api/v1/storage';
const DAY = '2025-06-20T00:00:00.000Z';
const NEXT_DAY = '2025-06-21T00:00:00.000Z';

function queryPath(instrumentId: string): string {
  const params = new URLSearchParams({
    instrument_id: instrumentId,
    timeframe: 'ONE_MINUTE',
    start_time: DAY,
    end_time: NEXT_DAY,
    limit: '5000',
  });
  return `${BASE}/query?${params.toString()}`;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Redis server stopped under the cache on postgresql', () => {
  let redis: PrivateServer;
  let harness: TestApp;
  let base: string;
  const first = makeBars(DAY, 120, 60_000, 21);
  const during = makeBars('2025-06-20T06:00:00Z', 60, 60_000, 22);
  const after = makeBars('2025-06-20T12:00:00Z', 60, 60_000, 23);

  beforeAll(async () => {
    redis = privateRedis(await freePort());
    await redis.start();
    harness = await startTestApp('postgresql', {
      REDIS_URL: `redis://127.0.0.1:${redis.port}/0`,
      STATS_REFRESH_INTERVAL_MS: '0',
    });
    base = harness.baseUrl;
  });

  afterAll(async () => {
    await harness?.close();
    await redis?.kill();
  });

  const store = (bars: unknown[]) =>
    request(base, 'POST', `${BASE}/store`, {
      instrument_id: 'RDS',
      timeframe: 'ONE_MINUTE',
      data_points: bars,
    });

  it('should answer from Redis while it runs', async () => {
    expect((await store(first)).status).toBe(200);
    expect((await request(base, 'GET', queryPath('RDS'))).body.cache_hit).toBe(false);
    const cached = await request(base, 'GET', queryPath('RDS'));
    expect(cached.body.cache_hit).toBe(true);
    expect(cached.body.data_points).toEqual(first);
  });

  it('should store, query, answer latest and delete from the database once redis-server is killed, with health degraded', async () => {
    await redis.kill();

    const stored = await store(during);
    expect(stored.status).toBe(200);
    expect(stored.body.stored_count).toBe(60);
    // Not the cached answer of before: the write is visible at once.
    const read = await request(base, 'GET', queryPath('RDS'));
    expect(read.status).toBe(200);
    expect(read.body.cache_hit).toBe(false);
    expect(read.body.data_points).toEqual([...first, ...during]);
    const again = await request(base, 'GET', queryPath('RDS'));
    expect(again.body.cache_hit).toBe(false);

    const latest = await request(
      base,
      'GET',
      `${BASE}/instruments/RDS/latest?timeframe=ONE_MINUTE`,
    );
    expect(latest.status).toBe(200);
    expect(latest.body).toEqual(during.at(-1));

    const deleted = await request(
      base,
      'DELETE',
      `${BASE}/instruments/RDS?start_time=2025-06-20T06:30:00Z&end_time=${NEXT_DAY}`,
    );
    expect(deleted.status).toBe(200);
    expect(deleted.body.deleted_count).toBe(30);

    const health = await request(base, 'GET', `${BASE}/health`);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    expect(health.body.cache).toMatchObject({ status: 'down', kind: 'redis' });
    expect(health.body.database.up).toBe(true);
    expect((await request(base, 'GET', '/health/ready')).status).toBe(200);
  });

  it('should report the cache up again once redis-server is back, and answer the data written meanwhile', async () => {
    await redis.start();
    await waitFor('the cache to be up again', async () => {
      const health = await request(base, 'GET', `${BASE}/health`);
      return health.body.status === 'healthy' && health.body.cache.status === 'up';
    });
    expect((await store(after)).status).toBe(200);
    const expected = [...first, ...during.slice(0, 30), ...after];
    const read = await request(base, 'GET', queryPath('RDS'));
    expect(read.body.data_points).toEqual(expected);
    // Invalidations failed while Redis was gone: this instance reads nothing from the cache
    // for a while (src/cache/query-cache.service.ts), so no answer older than a write comes back.
    const again = await request(base, 'GET', queryPath('RDS'));
    expect(again.body.cache_hit).toBe(false);
    expect(again.body.data_points).toEqual(expected);
  });
});
