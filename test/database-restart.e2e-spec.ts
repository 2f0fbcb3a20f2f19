import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AddressInfo } from 'node:net';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';
import { auditBatches, runWriter, SentBatch } from './support/ingest-load';
import { TcpProxy } from './support/tcp-proxy';
import {
  createTestDatabase,
  POSTGRES_ADMIN_URL,
  TEST_RETENTION,
  TestDatabase,
} from './support/test-database';

/**
 * PostgreSQL "restarted" under a steady stream of stores and queries: the app
 * reaches it only through a TcpProxy, which is stopped for a few seconds and
 * started again (a restart with downtime), then has every connection cut at
 * once (a fast restart). Requests in between get 503 + Retry-After within a
 * bound, the pool recovers by itself, and every acknowledged write is stored.
 */

const BOUND_MS = 10_000;
const WRITERS = 3;
const READERS = 2;

interface ReadResult {
  status: number;
  retryAfter: string | null;
  ms: number;
}

async function runReader(
  baseUrl: string,
  instrumentId: string,
  log: ReadResult[],
  stop: () => boolean,
): Promise<void> {
  let limit = 90_000;
  while (!stop()) {
    // A different limit each time: a new cache key, so every read reaches the database.
    const params = new URLSearchParams({
      instrument_id: instrumentId,
      timeframe: 'ONE_MINUTE',
      start_time: '2025-04-01T00:00:00Z',
      end_time: '2025-05-01T00:00:00Z',
      limit: String(limit--),
    });
    const started = performance.now();
    let result: ReadResult;
    try {
      const response = await fetch(`${baseUrl}/api/v1/storage/query?${params.toString()}`, {
        signal: AbortSignal.timeout(BOUND_MS + 2_000),
      });
      await response.text();
      result = {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        ms: performance.now() - started,
      };
    } catch {
      result = { status: 0, retryAfter: null, ms: performance.now() - started };
    }
    log.push(result);
    if (result.status !== 200) await new Promise((r) => setTimeout(r, 50));
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const isAcked = (b: SentBatch) => b.status === 200;

describe('PostgreSQL restarted under load', () => {
  let proxy: TcpProxy;
  let db: TestDatabase;
  let app: NestFastifyApplication;
  let baseUrl: string;

  beforeAll(async () => {
    const target = new URL(POSTGRES_ADMIN_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    db = await createTestDatabase('postgresql');
    const url = new URL(db.settings.databaseUrl!);
    url.hostname = '127.0.0.1';
    url.port = String(await proxy.start());
    app = await createApp(
      loadSettings({
        LOG_LEVEL: 'error',
        ...TEST_RETENTION,
        DATABASE_URL: url.toString(),
        DB_POOL_SIZE: '5',
        DB_STATEMENT_TIMEOUT_MS: '3000',
        STATS_REFRESH_INTERVAL_MS: '0',
        COMPRESSION_JOB_INTERVAL_MS: '0',
      }),
    );
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    proxy?.cutAndResume();
    if (proxy && !proxy.running) await proxy.start().catch(() => undefined);
    await app?.close();
    await proxy?.stop();
    await db?.drop();
  });

  it('should answer 503 + Retry-After during the outages, recover by itself and keep every acknowledged write', async () => {
    const writes: SentBatch[] = [];
    const reads: ReadResult[] = [];
    let stop = false;
    const clients = [
      ...Array.from({ length: WRITERS }, (_, i) =>
        runWriter(baseUrl, `RST${i}`, 50, writes, () => stop, { timeoutMs: BOUND_MS + 2_000 }),
      ),
      ...Array.from({ length: READERS }, (_, i) =>
        runReader(baseUrl, `RST${i}`, reads, () => stop),
      ),
    ];
    const acked = () => writes.filter(isAcked).length;

    await until('writes before the outage', () => acked() >= 15);
    // 1. Down for 3 s: every connection dropped, new ones refused.
    await proxy.stop();
    const outageStartedAt = writes.length;
    await new Promise((r) => setTimeout(r, 3_000));
    await proxy.start();
    const ackedAtRestart = acked();
    await until('writes after the restart', () => acked() >= ackedAtRestart + 15);
    // 2. A fast restart: every connection cut at once, new ones accepted right away.
    proxy.cutAndResume();
    const ackedAtCut = acked();
    await until('writes after the cut', () => acked() >= ackedAtCut + 15);
    stop = true;
    await Promise.all(clients);

    const answered = [...writes.map((w) => w.status), ...reads.map((r) => r.status)];
    // Every request got an answer (none hung, none lost its connection): 200 or 503.
    expect(new Set(answered)).toEqual(new Set([200, 503]));
    const turnedAway = [...writes, ...reads].filter((r) => r.status === 503);
    for (const r of turnedAway) expect(r.retryAfter).toMatch(/^[1-9]\d*$/);
    // None hung past the bound.
    expect(Math.max(...writes.map((w) => w.ms!), ...reads.map((r) => r.ms))).toBeLessThan(BOUND_MS);
    // The outage was seen by writers and readers alike, and both recovered.
    expect(writes.slice(outageStartedAt).some((w) => w.status === 503)).toBe(true);
    expect(reads.some((r) => r.status === 503)).toBe(true);
    expect(reads.at(-1)!.status).toBe(200);

    const audit = await auditBatches(baseUrl, writes);
    expect(audit).toEqual({
      acknowledged: acked(),
      lostOrAltered: [],
      partial: [],
      committedUnanswered: expect.any(Number),
      unexpectedRows: 0,
    });

    const health = await fetch(`${baseUrl}/api/v1/storage/health`);
    const body = (await health.json()) as { status: string; database: { pool: { total: number } } };
    expect(health.status).toBe(200);
    expect(body.status).toBe('healthy');
    expect(body.database.pool.total).toBeLessThanOrEqual(5);
  }, 180_000);
});
