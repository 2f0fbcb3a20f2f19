import Redis from 'ioredis';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';
import { makeBars } from '../test/support/bars';
import { createBenchDatabase, machineLine, printTable } from './support';

/**
 * A one-day ONE_MINUTE query (1,440 bars) over HTTP, one client, uncached
 * (every request a different cache key: a different `limit` above the day's
 * size, so the same rows) against cached (the same request repeated), in one
 * run, with the cache in Redis.
 */
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Timings {
  /** Round trip seen by the client, answer parsed. */
  readonly httpMs: number[];
  /** query_time_ms reported by the service. */
  readonly server: number[];
}

async function timeRequests(urls: string[]): Promise<Timings> {
  const httpMs: number[] = [];
  const server: number[] = [];
  for (const url of urls) {
    const started = performance.now();
    const res = await fetch(url);
    const body = (await res.json()) as { total_count: number; query_time_ms: number };
    if (res.status !== 200 || body.total_count !== 1440)
      throw new Error(`bad answer ${res.status}`);
    httpMs.push(performance.now() - started);
    server.push(body.query_time_ms);
  }
  const sort = (t: number[]) => t.sort((x, y) => x - y);
  return { httpMs: sort(httpMs), server: sort(server) };
}

export async function runCacheBench(): Promise<void> {
  const db = await createBenchDatabase();
  const redis = new Redis(REDIS_URL);
  await redis.flushdb();
  const app = await createApp(
    loadSettings({
      DATABASE_URL: db.url,
      REDIS_URL,
      LOG_LEVEL: 'warn',
      STATS_REFRESH_INTERVAL_MS: '0',
    }),
  );
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  try {
    await fetch(`${base}/api/v1/storage/store`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        instrument_id: 'BENCH',
        timeframe: 'ONE_MINUTE',
        data_points: makeBars('2025-06-21T00:00:00Z', 1440),
      }),
    });
    const path = (limit: number) =>
      `${base}/api/v1/storage/query?instrument_id=BENCH&timeframe=ONE_MINUTE&start_time=2025-06-21T00:00:00Z&end_time=2025-06-22T00:00:00Z&limit=${limit}`;
    await timeRequests(Array.from({ length: 20 }, (_, i) => path(50_000 + i))); // warm-up
    const uncached = await timeRequests(Array.from({ length: REQUESTS }, (_, i) => path(1440 + i)));
    const cached = await timeRequests(Array.from({ length: REQUESTS }, () => path(1440)));
    const row = (name: string, { httpMs, server: serverMs }: Timings) => [
      name,
      percentile(httpMs, 50).toFixed(2),
      percentile(httpMs, 95).toFixed(2),
      percentile(serverMs, 50).toFixed(2),
      percentile(serverMs, 95).toFixed(2),
      Math.round(1000 / (httpMs.reduce((a, b) => a + b, 0) / httpMs.length)),
    ];
    const health = (await fetch(`${base}/api/v1/storage/health`).then((r) => r.json())) as {
      database: { server_version: string };
    };
    printTable(
      `One-day ONE_MINUTE query (1,440 bars) over HTTP, 1 client, ${REQUESTS} requests each, Redis cache (${machineLine(health.database.server_version)})`,
      ['answer', 'HTTP p50 ms', 'HTTP p95 ms', 'server p50 ms', 'server p95 ms', 'requests/s'],
      [row('uncached (database)', uncached), row('cached (Redis)', cached)],
    );
  } finally {
    await app.close();
    await redis.flushdb();
    redis.disconnect();
    await db.drop();
  }
}
