import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AddressInfo } from 'node:net';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';
import { makeBars } from './support/bars';
import { TcpProxy } from './support/tcp-proxy';
import {
  createTestDatabase,
  POSTGRES_ADMIN_URL,
  TEST_RETENTION,
  TestDatabase,
} from './support/test-database';

/**
 * PostgreSQL goes away under a running app and comes back: the app answers
 * 503 + Retry-After quickly (never hangs, never leaks SQL or a stack) and
 * recovers on its own, with nothing written before the outage lost.
 */

const BASE = '/api/v1/storage';
const DAY = '2025-06-20T00:00:00.000Z';
const NEXT_DAY = '2025-06-21T00:00:00.000Z';
/** An answer slower than this during the outage counts as a hang. */
const BOUND_MS = 10_000;

interface TimedResponse {
  status: number;
  headers: Headers;
  text: string;
  body: any;
  ms: number;
}

/** fetch that gives up well after BOUND_MS, so a hang fails the test instead of stalling it. */
async function timedRequest(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<TimedResponse> {
  const started = performance.now();
  let response: Response;
  try {
    response = await fetch(baseUrl + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(BOUND_MS + 2_000),
    });
  } catch (error) {
    throw new Error(
      `${method} ${path} hung: no answer after ${Math.round(performance.now() - started)} ms (${String(error)})`,
      { cause: error },
    );
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: parsed,
    ms: performance.now() - started,
  };
}

function expectNoLeak(text: string): void {
  expect(text).not.toMatch(/\n\s+at /);
  expect(text).not.toMatch(/\bat \S+ \(/);
  expect(text).not.toMatch(/\.(ts|js):\d+/);
  expect(text).not.toContain('node_modules');
  expect(text).not.toContain('SELECT');
  expect(text).not.toContain('INSERT');
  expect(text).not.toContain('ECONNREFUSED');
  expect(text).not.toContain('127.0.0.1');
}

function queryPath(instrumentId: string, limit = 100_000, timeframe = 'ONE_MINUTE'): string {
  const params = new URLSearchParams({
    instrument_id: instrumentId,
    timeframe,
    start_time: DAY,
    end_time: NEXT_DAY,
    limit: String(limit),
  });
  return `${BASE}/query?${params.toString()}`;
}

let nextUncachedLimit = 99_999;

/** A query no earlier request asked, so the query cache cannot answer it: it must reach the database. */
function uncachedQueryPath(instrumentId: string, timeframe = 'ONE_MINUTE'): string {
  return queryPath(instrumentId, nextUncachedLimit--, timeframe);
}

interface AppBehindProxy {
  readonly proxy: TcpProxy;
  readonly baseUrl: string;
  close(): Promise<void>;
}

/** The app on a fresh PostgreSQL database that it reaches only through a TcpProxy. */
async function startAppBehindProxy(env: Record<string, string> = {}): Promise<AppBehindProxy> {
  const target = new URL(POSTGRES_ADMIN_URL);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  const db: TestDatabase = await createTestDatabase('postgresql');
  const url = new URL(db.settings.databaseUrl!);
  url.hostname = '127.0.0.1';
  url.port = String(await proxy.start());
  const app: NestFastifyApplication = await createApp(
    loadSettings({ LOG_LEVEL: 'error', ...TEST_RETENTION, ...env, DATABASE_URL: url.toString() }),
  );
  await app.listen(0, '127.0.0.1');
  return {
    proxy,
    baseUrl: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
    close: async () => {
      // Whatever state a failed test left, let the app close its pool first.
      proxy.cutAndResume();
      if (!proxy.running) await proxy.start().catch(() => undefined);
      await app.close();
      await proxy.stop();
      await db.drop();
    },
  };
}

describe('database outage on postgresql', () => {
  let proxy: TcpProxy;
  let baseUrl: string;
  let harness: AppBehindProxy | undefined;

  const before = makeBars(DAY, 600, 60_000, 7);
  const during = makeBars('2025-06-20T12:00:00Z', 10, 60_000, 8);
  const after = makeBars('2025-06-20T18:00:00Z', 30, 60_000, 9);

  beforeAll(async () => {
    harness = await startAppBehindProxy();
    ({ proxy, baseUrl } = harness);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('should store and read bars through the proxy', async () => {
    const stored = await timedRequest(baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: 'OUTAGE',
      timeframe: 'ONE_MINUTE',
      data_points: before,
    });
    expect(stored.status).toBe(200);
    expect(stored.body.stored_count).toBe(600);
    const read = await timedRequest(baseUrl, 'GET', queryPath('OUTAGE'));
    expect(read.status).toBe(200);
    expect(read.body.total_count).toBe(600);
    expect(proxy.openConnections).toBeGreaterThan(0);
  });

  it('should still answer a query cached just before the outage from the cache', async () => {
    await proxy.stop();
    // The same query as the read right after the store, before the database went away.
    const res = await timedRequest(baseUrl, 'GET', queryPath('OUTAGE'));
    expect(res.status).toBe(200);
    expect(res.ms).toBeLessThan(BOUND_MS);
    expect(res.body.cache_hit).toBe(true);
    expect(res.body.total_count).toBe(600);
    expect(res.body.data_points).toEqual(before);
  });

  it('should answer 503 with Retry-After within the bound on every data endpoint while the database is gone', async () => {
    await proxy.stop();
    expect(proxy.openConnections).toBe(0);

    const calls: [string, string, unknown?][] = [
      ['GET', uncachedQueryPath('OUTAGE')],
      [
        'POST',
        `${BASE}/store`,
        { instrument_id: 'OUTAGE', timeframe: 'ONE_MINUTE', data_points: during },
      ],
      ['GET', `${BASE}/instruments/OUTAGE/latest?timeframe=ONE_MINUTE`],
      ['DELETE', `${BASE}/instruments/OUTAGE?start_time=${DAY}&end_time=${NEXT_DAY}`],
      // A derived query runs several statements.
      ['GET', uncachedQueryPath('OUTAGE', 'ONE_HOUR')],
      // Twice more: the pool must not be left waiting on dead connections.
      ['GET', uncachedQueryPath('OUTAGE')],
      [
        'POST',
        `${BASE}/store`,
        { instrument_id: 'OUTAGE', timeframe: 'ONE_MINUTE', data_points: during },
      ],
    ];
    for (const [method, path, body] of calls) {
      const res = await timedRequest(baseUrl, method, path, body);
      const call = `${method} ${path.split('?')[0]}`;
      expect({ call, status: res.status, text: res.text }).toEqual({
        call,
        status: 503,
        text: expect.any(String),
      });
      expect(res.ms).toBeLessThan(BOUND_MS);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: expect.any(String),
      });
      expectNoLeak(res.text);
    }
  });

  it('should answer several concurrent requests with 503 during the outage, none hanging', async () => {
    const results = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        i % 3 === 0
          ? timedRequest(baseUrl, 'POST', `${BASE}/store`, {
              instrument_id: 'OUTAGE',
              timeframe: 'ONE_MINUTE',
              data_points: during,
            })
          : timedRequest(baseUrl, 'GET', uncachedQueryPath('OUTAGE')),
      ),
    );
    for (const res of results) {
      expect(res.status).toBe(503);
      expect(res.ms).toBeLessThan(BOUND_MS);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expectNoLeak(res.text);
    }
  });

  it('should report the database down on health and readiness during the outage', async () => {
    const health = await timedRequest(baseUrl, 'GET', `${BASE}/health`);
    expect(health.status).toBe(503);
    expect(health.ms).toBeLessThan(BOUND_MS);
    expect(health.body.status).toBe('unhealthy');
    expect(health.body.database.up).toBe(false);
    expect(health.body.database.engine).toBe('postgresql');
    expectNoLeak(health.text);

    const ready = await timedRequest(baseUrl, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(BOUND_MS);
    expectNoLeak(ready.text);

    const live = await timedRequest(baseUrl, 'GET', '/health/live');
    expect(live.status).toBe(200);
  });

  it('should serve again without a restart once the database is back, with every bar written before intact', async () => {
    await proxy.start();

    // Not a cached answer: this one has to reach the database again.
    const read = await timedRequest(baseUrl, 'GET', uncachedQueryPath('OUTAGE'));
    expect(read.body.cache_hit).toBe(false);
    expect(read.status).toBe(200);
    expect(read.body.total_count).toBe(600);
    expect(read.body.data_points).toEqual(before);

    const stored = await timedRequest(baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: 'OUTAGE',
      timeframe: 'ONE_MINUTE',
      data_points: after,
    });
    expect(stored.status).toBe(200);
    expect(stored.body.stored_count).toBe(30);

    const all = await timedRequest(baseUrl, 'GET', queryPath('OUTAGE'));
    expect(all.body.total_count).toBe(630);
    // Nothing sent during the outage was half-written.
    expect(all.body.data_points).toEqual([...before, ...after]);

    const health = await timedRequest(baseUrl, 'GET', `${BASE}/health`);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('healthy');
    const ready = await timedRequest(baseUrl, 'GET', '/health/ready');
    expect(ready.status).toBe(200);
  });
});

/**
 * The database stops answering without closing anything (a dropped route, a
 * frozen host), then the connections are cut.
 */
describe('database network partition on postgresql', () => {
  let proxy: TcpProxy;
  let baseUrl: string;
  let harness: AppBehindProxy | undefined;
  const bars = makeBars(DAY, 100, 60_000, 11);
  const later = makeBars('2025-06-20T12:00:00Z', 10, 60_000, 12);

  beforeAll(async () => {
    // A 3 s statement timeout: no request has a reason to wait on the database much longer.
    harness = await startAppBehindProxy({ DB_STATEMENT_TIMEOUT_MS: '3000' });
    ({ proxy, baseUrl } = harness);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('should answer a write whose connection is cut mid-transaction and keep serving', async () => {
    const stored = await timedRequest(baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: 'PART',
      timeframe: 'ONE_MINUTE',
      data_points: bars,
    });
    expect(stored.status).toBe(200);

    // If the cut pg client has no 'error' listener while checked out, its 'error' event is
    // unhandled: outside Jest the process exits; Jest reports it as the suite failing to run.
    proxy.freeze();
    // The store takes the pooled connection, opens its transaction and waits on the frozen link.
    const inFlight = timedRequest(baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: 'PART',
      timeframe: 'ONE_MINUTE',
      data_points: later,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    proxy.cutAndResume();
    const res = await inFlight;
    expect(res.status).toBe(503);
    expect(res.ms).toBeLessThan(BOUND_MS);
    expectNoLeak(res.text);

    // The process is still there and the pool recovers on its own.
    expect((await timedRequest(baseUrl, 'GET', '/health/live')).status).toBe(200);
    const read = await timedRequest(baseUrl, 'GET', queryPath('PART'));
    expect(read.status).toBe(200);
    expect(read.body.data_points).toEqual(bars);
    const again = await timedRequest(baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: 'PART',
      timeframe: 'ONE_MINUTE',
      data_points: later,
    });
    expect(again.status).toBe(200);
    expect(again.body.stored_count).toBe(10);
  }, 60_000);

  it('should answer within the bound, not hang, while the database does not answer', async () => {
    proxy.freeze();
    const results = await Promise.all([
      timedRequest(baseUrl, 'GET', uncachedQueryPath('PART')),
      timedRequest(baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: 'PART',
        timeframe: 'ONE_MINUTE',
        data_points: later,
      }),
      timedRequest(baseUrl, 'GET', `${BASE}/instruments/PART/latest?timeframe=ONE_MINUTE`),
    ]);
    for (const res of results) {
      expect(res.status).toBe(503);
      expect(res.ms).toBeLessThan(BOUND_MS);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expectNoLeak(res.text);
    }
  }, 60_000);
});
