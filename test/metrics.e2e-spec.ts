import Redis from 'ioredis';
import { spawnSync } from 'node:child_process';
import { makeBars } from './support/bars';
import { metricValue, parseSamples, samplesOf } from './support/metrics-text';
import { ENGINES } from './support/test-database';
import { JsonResponse, request, startTestApp, TestApp } from './support/test-app';

/**
 * End-to-end tests of GET /metrics (DESIGN 2, metrics module): the service's own
 * metrics move as requests are served, and the whole exposition passes
 * `promtool check metrics`. prom-client metrics are process-wide, so every
 * assertion is on an increase between two scrapes, never an absolute value.
 * This suite owns Redis database 12.
 */

const BASE = '/api/v1/storage';
const REDIS_URL = 'redis://127.0.0.1:6379/12';
const START = '2025-06-20T10:00:00.000Z';
const END = '2025-06-20T11:00:00.000Z';
const STORED = 10;
const FAILED = 2;

const QUERY_ROUTE = '/api/v1/storage/query';
const STORE_ROUTE = '/api/v1/storage/store';
const LATEST_ROUTE = '/api/v1/storage/instruments/:instrument_id/latest';

const SERVICE_METRICS = {
  mds_http_request_duration_seconds: 'histogram',
  mds_points_stored_total: 'counter',
  mds_points_failed_total: 'counter',
  mds_store_duration_seconds: 'histogram',
  mds_query_duration_seconds: 'histogram',
  mds_db_pool_connections: 'gauge',
  mds_cache_operations_total: 'counter',
  mds_rate_limit_local_total: 'counter',
} as const;

function queryPath(instrument: string, timeframe: string): string {
  const params = new URLSearchParams({
    instrument_id: instrument,
    timeframe,
    start_time: START,
    end_time: END,
  });
  return `${BASE}/query?${params.toString()}`;
}

async function scrape(baseUrl: string): Promise<JsonResponse<string>> {
  const res = await request<string>(baseUrl, 'GET', '/metrics');
  expect(res.status).toBe(200);
  return res;
}

/** `promtool check metrics` with the exposition on stdin, as the Prometheus docs run it. */
function promtoolCheck(text: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.error && 'code' in result.error && result.error.code === 'ENOENT') {
    throw new Error(
      'promtool is not installed: it comes with the Debian package "prometheus" ' +
        '(apt-get install -y --no-install-recommends prometheus; .ci/run installs it)',
    );
  }
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe.each(ENGINES)('metrics on %s', (engine) => {
  const instrument = `METRICS.${engine.slice(0, 3).toUpperCase()}`;
  let redis: Redis;
  let t: TestApp;
  let before: string;
  let after: JsonResponse<string>;
  /** What each step answered, to tie the metric increases to real outcomes. */
  const answers: Record<string, { status: number; body: unknown }> = {};

  const increase = (name: string, labels: Record<string, string> = {}): number =>
    metricValue(after.text, name, labels) - metricValue(before, name, labels);

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    await redis.flushdb();
    t = await startTestApp(engine, { REDIS_URL });
    before = (await scrape(t.baseUrl)).text;

    const bars = makeBars(START, STORED + FAILED);
    // Two points break the bar rules (high below low): reported, not stored.
    bars[3] = { ...bars[3], high: bars[3].low - 1 };
    bars[7] = { ...bars[7], high: bars[7].low - 1 };
    const steps: Record<string, [string, string, unknown?]> = {
      store: [
        'POST',
        `${BASE}/store`,
        { instrument_id: instrument, timeframe: 'ONE_MINUTE', data_points: bars },
      ],
      query: ['GET', queryPath(instrument, 'ONE_MINUTE')],
      cachedQuery: ['GET', queryPath(instrument, 'ONE_MINUTE')],
      derivedQuery: ['GET', queryPath(instrument, 'FIVE_MINUTES')],
      latest: ['GET', `${BASE}/instruments/${instrument}/latest?timeframe=ONE_MINUTE`],
      badRequest: ['GET', queryPath(instrument, 'TWO_MINUTES')],
      unknownPath: ['GET', `${BASE}/no-such-endpoint/${instrument}`],
    };
    for (const [step, [method, path, body]] of Object.entries(steps)) {
      const res = await request(t.baseUrl, method, path, body);
      answers[step] = { status: res.status, body: res.body };
    }
    after = await scrape(t.baseUrl);
  });

  afterAll(async () => {
    await t?.close();
    await redis?.flushdb();
    await redis?.quit();
  });

  it('should have served the requests the metrics are about', () => {
    expect(answers).toMatchObject({
      store: { status: 200, body: { stored_count: STORED, failed_count: FAILED } },
      query: { status: 200, body: { cache_hit: false, total_count: STORED } },
      cachedQuery: { status: 200, body: { cache_hit: true, total_count: STORED } },
      derivedQuery: { status: 200, body: { cache_hit: false, derived_from: 'ONE_MINUTE' } },
      latest: { status: 200 },
      badRequest: { status: 400 },
      unknownPath: { status: 404 },
    });
  });

  it('should answer in the Prometheus text format', () => {
    expect(after.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(() => parseSamples(after.text)).not.toThrow();
  });

  it('should declare every service metric with its help text and type', () => {
    for (const [name, type] of Object.entries(SERVICE_METRICS)) {
      expect(after.text).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, 'm'));
      expect(after.text).toContain(`\n# TYPE ${name} ${type}\n`);
    }
  });

  it('should time HTTP requests by method, route template and status', () => {
    const count = (method: string, route: string, status: string) =>
      increase('mds_http_request_duration_seconds_count', { method, route, status });
    expect({
      store: count('POST', STORE_ROUTE, '200'),
      queries: count('GET', QUERY_ROUTE, '200'),
      badRequests: count('GET', QUERY_ROUTE, '400'),
      latest: count('GET', LATEST_ROUTE, '200'),
      metrics: count('GET', '/metrics', '200'),
    }).toEqual({ store: 1, queries: 3, badRequests: 1, latest: 1, metrics: 1 });
    // Every observation falls in the +Inf bucket; the sum of durations grows.
    expect(
      increase('mds_http_request_duration_seconds_bucket', {
        method: 'GET',
        route: QUERY_ROUTE,
        status: '200',
        le: '+Inf',
      }),
    ).toBe(3);
    expect(
      increase('mds_http_request_duration_seconds_sum', { route: QUERY_ROUTE }),
    ).toBeGreaterThan(0);
  });

  it('should label routes by template, never by the raw URL', () => {
    const routes = new Set(
      samplesOf(after.text, 'mds_http_request_duration_seconds_count').map((s) => s.labels.route),
    );
    for (const route of routes) {
      expect(route).not.toContain('?');
      expect(route).not.toContain(instrument);
      expect(route).not.toContain('no-such-endpoint');
    }
    expect(
      samplesOf(after.text, 'mds_http_request_duration_seconds_count', { status: '404' }).map(
        (s) => s.labels.route,
      ),
    ).not.toContainEqual(expect.stringContaining('/no-such-endpoint'));
    expect(increase('mds_http_request_duration_seconds_count', { status: '404' })).toBe(1);
    expect(
      increase('mds_http_request_duration_seconds_count', {
        method: 'GET',
        route: 'unmatched',
        status: '404',
      }),
    ).toBe(1);
  });

  it('should count the stored and the rejected points by timeframe and transport', () => {
    expect({
      stored: increase('mds_points_stored_total', { timeframe: 'ONE_MINUTE', transport: 'rest' }),
      failed: increase('mds_points_failed_total', { timeframe: 'ONE_MINUTE', transport: 'rest' }),
      storedElsewhere: increase('mds_points_stored_total') - STORED,
    }).toEqual({ stored: STORED, failed: FAILED, storedElsewhere: 0 });
  });

  it('should time each store by transport', () => {
    expect(increase('mds_store_duration_seconds_count', { transport: 'rest' })).toBe(1);
    expect(increase('mds_store_duration_seconds_sum', { transport: 'rest' })).toBeGreaterThan(0);
  });

  it('should time reads by shape and cache result', () => {
    const reads = (shape: string, cache: string) =>
      increase('mds_query_duration_seconds_count', { shape, cache });
    expect({
      rangeMiss: reads('range', 'miss'),
      rangeHit: reads('range', 'hit'),
      derivedMiss: reads('derived', 'miss'),
      latestMiss: reads('latest', 'miss'),
      bypass: increase('mds_query_duration_seconds_count', { cache: 'bypass' }),
      all: increase('mds_query_duration_seconds_count'),
    }).toEqual({ rangeMiss: 1, rangeHit: 1, derivedMiss: 1, latestMiss: 1, bypass: 0, all: 4 });
  });

  it('should count cache lookups by result', () => {
    const operations = (result: string) => increase('mds_cache_operations_total', { result });
    expect({
      hit: operations('hit'),
      miss: operations('miss'),
      error: operations('error'),
    }).toEqual({ hit: 1, miss: 3, error: 0 });
  });

  it('should report the database pool connections by state', () => {
    const states = Object.fromEntries(
      samplesOf(after.text, 'mds_db_pool_connections').map((s) => [s.labels.state, s.value]),
    );
    expect(Object.keys(states).sort()).toEqual(['idle', 'total', 'waiting']);
    expect(states.total).toBeGreaterThanOrEqual(1);
    expect(states.idle).toBeGreaterThanOrEqual(0);
    expect(states.idle).toBeLessThanOrEqual(states.total);
    expect(states.waiting).toBe(0);
  });

  it('should export the default process and Node.js metrics', () => {
    expect(metricValue(after.text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(metricValue(after.text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metricValue(after.text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(samplesOf(after.text, 'nodejs_active_handles').length).toBeGreaterThan(0);
  });

  it('should pass promtool check metrics', () => {
    expect(promtoolCheck(after.text)).toEqual({ status: 0, output: '' });
  });
});
