import Redis from 'ioredis';
import { metricValue } from './support/metrics-text';
import { TcpProxy } from './support/tcp-proxy';
import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

/**
 * Two replicas behind one Redis count a client's requests together (the
 * limit is per client, not per replica), and each counts alone, without
 * errors, while Redis is down. This suite owns Redis database 15.
 */
const REDIS_DB = 15;
const HEALTH = '/api/v1/storage/health';
const LIMIT = 4;
/** Long enough that no window ends during a test. */
const WINDOW_MS = 60_000;

describe.each(ENGINES)('the rate limit across two replicas on %s', (engine) => {
  let proxy: TcpProxy;
  let redis: Redis;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = new Redis(`redis://127.0.0.1:6379/${REDIS_DB}`);
    await redis.flushdb();
    proxy = new TcpProxy('127.0.0.1', 6379);
    await proxy.start();
    const env = {
      REDIS_URL: `redis://127.0.0.1:${proxy.port}/${REDIS_DB}`,
      API_KEYS: 'alice-key=read,bob-key=read,carol-key=read,dave-key=read',
      RATE_LIMIT_REQUESTS: String(LIMIT),
      RATE_LIMIT_WINDOW_MS: String(WINDOW_MS),
    };
    a = await startTestApp(engine, env);
    b = await startTestApp(engine, env);
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await proxy?.stop();
    await redis?.flushdb();
    redis?.disconnect();
  });

  const health = (app: TestApp, key: string) =>
    request(app.baseUrl, 'GET', HEALTH, undefined, { 'x-api-key': key });
  const localDecisions = async (app: TestApp) =>
    metricValue((await request(app.baseUrl, 'GET', '/metrics')).text, 'mds_rate_limit_local_total');

  it("should count a client's requests to both replicas against one budget", async () => {
    // The metrics registry is the process's: both replicas (and earlier engines) add to it.
    const localBefore = await localDecisions(a);
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++)
      statuses.push((await health(i % 2 ? b : a, 'alice-key')).status);
    expect(statuses).toEqual([200, 200, 200, 200]);

    // Each replica has seen only half the budget; together they have seen all of it.
    const refused = await health(a, 'alice-key');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await health(b, 'alice-key')).status).toBe(429);
    // Another client has its own budget.
    expect((await health(b, 'bob-key')).status).toBe(200);
    expect(await localDecisions(a)).toBe(localBefore);
  });

  it('should count on each replica alone while Redis is down, answering without errors, then share again', async () => {
    const localBefore = await localDecisions(a);
    await proxy.stop();
    const during: number[] = [];
    for (const app of [a, b]) {
      for (let i = 0; i < LIMIT; i++) during.push((await health(app, 'carol-key')).status);
    }
    // A budget per replica: no request refused for the other's count, none failed.
    expect(during).toEqual(Array<number>(2 * LIMIT).fill(200));
    expect((await health(a, 'carol-key')).status).toBe(429);
    expect((await localDecisions(a)) - localBefore).toBeGreaterThanOrEqual(2 * LIMIT + 1);

    await proxy.start();
    // Until both have reconnected, a request may still be counted locally.
    const shared = async (app: TestApp) => {
      const before = await localDecisions(app);
      await health(app, 'bob-key');
      return (await localDecisions(app)) === before;
    };
    for (let tries = 0; !((await shared(a)) && (await shared(b))); tries++) {
      expect(tries).toBeLessThan(50);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const statuses: number[] = [];
    for (let i = 0; i <= LIMIT; i++)
      statuses.push((await health(i % 2 ? b : a, 'dave-key')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
  });
});
