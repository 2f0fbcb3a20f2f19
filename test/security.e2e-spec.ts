import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { makeBars } from './support/bars';
import { ENGINES } from './support/test-database';
import { JsonResponse, request, startTestApp, TestApp } from './support/test-app';

/** API keys, rate limit, caps, statement timeout and security headers over HTTP (docs/security.md). */

const BASE = '/api/v1/storage';
const DAY = '2025-06-20T00:00:00.000Z';
const QUERY = `${BASE}/query?instrument_id=SEC&timeframe=ONE_MINUTE&start_time=2025-06-20T00:00:00Z&end_time=2025-06-21T00:00:00Z`;
const KEYS = {
  read: 'reader-key-0123456789',
  write: 'writer-key-0123456789',
  admin: 'admin-key-0123456789',
};
const API_KEYS = `${KEYS.read}=read,${KEYS.write}=read+write,${KEYS.admin}=admin`;

function expectError(res: JsonResponse, status: number): void {
  expect(res.status).toBe(status);
  expect(Object.keys(res.body as object).sort()).toEqual(['error', 'message', 'statusCode']);
  expect(res.body).toMatchObject({ statusCode: status, error: expect.any(String) });
}

function storeBody(count = 3) {
  return { instrument_id: 'SEC', timeframe: 'ONE_MINUTE', data_points: makeBars(DAY, count) };
}

describe.each(ENGINES)('API keys on %s', (engine) => {
  let t: TestApp;
  const as = (key: string | undefined, method: string, path: string, body?: unknown) =>
    request(t.baseUrl, method, path, body, key === undefined ? {} : { 'x-api-key': key });

  beforeAll(async () => {
    t = await startTestApp(engine, { API_KEYS });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('should answer 401 without a key or with an unknown one, and not echo the key', async () => {
    const missing = await as(undefined, 'GET', QUERY);
    const wrong = await as('not-a-configured-key', 'GET', QUERY);
    const almost = await as(`${KEYS.admin}x`, 'GET', QUERY);

    for (const res of [missing, wrong, almost]) expectError(res, 401);
    expect(missing.body.message).toBe('A valid API key is required in the x-api-key header');
    expect(wrong.text).not.toContain('not-a-configured-key');
  });

  it('should let a read key read and refuse it writes with 403', async () => {
    expect((await as(KEYS.read, 'GET', QUERY)).status).toBe(200);
    expect((await as(KEYS.read, 'GET', `${BASE}/statistics`)).status).toBe(200);
    expect((await as(KEYS.read, 'GET', `${BASE}/health`)).status).toBe(200);

    const store = await as(KEYS.read, 'POST', `${BASE}/store`, storeBody());
    const remove = await as(
      KEYS.read,
      'DELETE',
      `${BASE}/instruments/SEC?start_time=2025-06-20T00:00:00Z&end_time=2025-06-21T00:00:00Z`,
    );
    expectError(store, 403);
    expectError(remove, 403);
    expect(store.body.message).toBe('This API key lacks the write scope');
    // Nothing was written by the refused store.
    expect((await as(KEYS.read, 'GET', QUERY)).body.total_count).toBe(0);
  });

  it('should let a write key store and delete but not configure', async () => {
    const store = await as(KEYS.write, 'POST', `${BASE}/store`, storeBody(3));
    expect(store.status).toBe(200);
    expect(store.body.stored_count).toBe(3);
    const remove = await as(
      KEYS.write,
      'DELETE',
      `${BASE}/instruments/SEC?start_time=2025-06-20T00:02:00Z&end_time=2025-06-21T00:00:00Z`,
    );
    expect(remove.status).toBe(200);
    expect(remove.body.deleted_count).toBe(1);

    expectError(await as(KEYS.write, 'GET', `${BASE}/configurations`), 403);
    expectError(
      await as(KEYS.write, 'PUT', `${BASE}/configurations/SEC/ONE_MINUTE`, {
        compression_level: 'LOW',
      }),
      403,
    );
  });

  it('should let an admin key do everything (admin implies write and read)', async () => {
    const put = await as(KEYS.admin, 'PUT', `${BASE}/configurations/SEC/ONE_MINUTE`, {
      compression_level: 'LOW',
    });
    expect(put.status).toBe(201);
    expect((await as(KEYS.admin, 'GET', `${BASE}/configurations`)).status).toBe(200);
    expect((await as(KEYS.admin, 'POST', `${BASE}/store`, storeBody(1))).status).toBe(200);
    expect((await as(KEYS.admin, 'GET', QUERY)).body.total_count).toBe(2);
  });

  it('should keep probes, metrics and the API docs open', async () => {
    for (const path of [
      '/health/live',
      '/health/ready',
      '/metrics',
      '/api/docs',
      '/api/docs-json',
    ]) {
      const res = await as(undefined, 'GET', path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
    }
  });

  it('should describe the x-api-key scheme in the OpenAPI document', async () => {
    const doc = await as(undefined, 'GET', '/api/docs-json');

    expect(doc.body.components.securitySchemes).toEqual({
      'api-key': { type: 'apiKey', name: 'x-api-key', in: 'header' },
    });
    expect(doc.body.security).toEqual([{ 'api-key': [] }]);
    expect(Object.keys(doc.body.paths)).toContain(
      '/api/v1/storage/instruments/{instrument_id}/integrity',
    );
  });
});

describe('rate limit on postgresql', () => {
  let t: TestApp;
  const other = 'second-key-0123456789';
  const as = (key: string | undefined, path = QUERY) =>
    request(t.baseUrl, 'GET', path, undefined, key === undefined ? {} : { 'x-api-key': key });

  beforeAll(async () => {
    t = await startTestApp('postgresql', {
      API_KEYS: `${KEYS.read}=read,${other}=read`,
      RATE_LIMIT_REQUESTS: '5',
      RATE_LIMIT_WINDOW_MS: '2000',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('should answer 429 with Retry-After past the limit of a key, other keys unaffected', async () => {
    const first = await as(KEYS.read);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('5');
    for (let i = 0; i < 4; i++) expect((await as(KEYS.read)).status).toBe(200);

    const limited = await as(KEYS.read);
    expectError(limited, 429);
    expect(limited.body.message).toMatch(
      /^Too many requests: at most 5 per 2 s; retry after \d s$/,
    );
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);

    expect((await as(other)).status).toBe(200);
    // Probes are never limited.
    expect((await as(KEYS.read, '/health/live')).status).toBe(200);

    // After Retry-After the key is served again.
    await new Promise((done) => setTimeout(done, retryAfter * 1000 + 100));
    expect((await as(KEYS.read)).status).toBe(200);
  });

  it('should limit requests with wrong keys by address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await as(`guess-${i}`)).status);

    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });
});

describe('caps, timeouts and headers on postgresql', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('postgresql', {
      MAX_QUERY_RANGE_DAYS: '1',
      DB_STATEMENT_TIMEOUT_MS: '1000',
    });
    const stored = await request(t.baseUrl, 'POST', `${BASE}/store`, storeBody(5));
    expect(stored.status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('should refuse a query range above MAX_QUERY_RANGE_DAYS naming end_time', async () => {
    const ok = await request(t.baseUrl, 'GET', QUERY);
    const tooLong = await request(
      t.baseUrl,
      'GET',
      `${BASE}/query?instrument_id=SEC&timeframe=ONE_MINUTE&start_time=2025-06-20T00:00:00Z&end_time=2025-06-21T00:00:00.001Z`,
    );

    expect(ok.status).toBe(200);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'end_time must be at most 1 days after start_time (MAX_QUERY_RANGE_DAYS)',
      field: 'end_time',
    });
  });

  it('should refuse a limit above 100000', async () => {
    const res = await request(t.baseUrl, 'GET', `${QUERY}&limit=100001`);

    expect(res.status).toBe(400);
    expect(res.body.field).toBe('limit');
  });

  it('should end a statement blocked past DB_STATEMENT_TIMEOUT_MS with 503 and free its connection', async () => {
    const locker = new Client({ connectionString: t.db.settings.databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE market_data_ts IN ACCESS EXCLUSIVE MODE');
      const blocked = await request(t.baseUrl, 'GET', `${QUERY}&offset=1`);
      expectError(blocked, 503);
      expect(blocked.headers.get('retry-after')).toBe('5');
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    // The connection went back to the pool: the next statements run.
    const after = await request(t.baseUrl, 'GET', `${QUERY}&offset=2`);
    expect(after.status).toBe(200);
    expect(after.body.total_count).toBe(5);
  });

  it('should send the helmet headers on API answers', async () => {
    const res = await request(t.baseUrl, 'GET', QUERY);

    expect(res.status).toBe(200);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // The docs' assets are fetched over the scheme the page came with.
    expect(res.headers.get('content-security-policy')).not.toContain('upgrade-insecure-requests');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('should serve a Swagger UI whose scripts and styles the policy allows', async () => {
    const page = await request(t.baseUrl, 'GET', '/api/docs');
    expect(page.status).toBe(200);
    const html = page.text;
    // Inline scripts would be blocked by script-src 'self': every script has a same-origin src.
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const attributes of scripts) expect(attributes).toMatch(/src="(\.\/|\/)[^"]+"/);
    const assets = [...html.matchAll(/(?:src|href)="(\.\/[^"]+|\/[^"]+)"/g)].map((m) => m[1]);
    for (const asset of assets) {
      const url = new URL(asset, `${t.baseUrl}/api/docs/`);
      const res = await fetch(url);
      // Read to the end: an unread body keeps its connection open past app.close().
      await res.arrayBuffer();
      expect({ asset, status: res.status }).toEqual({ asset, status: 200 });
    }
    const init = await request(t.baseUrl, 'GET', '/api/docs/swagger-ui-init.js');
    expect(init.status).toBe(200);
    expect(init.text).toContain('SwaggerUIBundle(');
  });
});

describe('start-up in production', () => {
  it('should refuse to start without API_KEYS, with one line naming it', () => {
    const result = spawnSync(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', 'src/main.ts'],
      {
        cwd: resolve(__dirname, '..'),
        env: { ...process.env, NODE_ENV: 'production', API_KEYS: '', PORT: '0' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );

    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      'Invalid setting API_KEYS: must be set when NODE_ENV=production (API_KEYS=<key>=read,<key>=read+write,<key>=admin); the API would otherwise be open\n',
    );
  });
});
