import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { makeBars } from '../test/support/bars';
import { privateRedis } from '../test/support/private-server';
import { freePort, killService, startServiceProcess } from '../test/support/service-process';
import { createBenchDatabase, machineLine, printTable } from './support';

/**
 * `npm run soak`: the real service (src/main.ts in its own process, on a
 * fresh PostgreSQL database, its cache in a private redis-server started for
 * the run, so the shared Redis is not filled with soak answers) under a mixed load of stores and
 * queries from autocannon on 127.0.0.1 for SOAK_DURATION_S at
 * SOAK_CONNECTIONS connections. Prints p50/p95 per request shape against the
 * budgets of DESIGN 8 and the service's RSS over time. Exits non-zero on any
 * 5xx (or connection error or timeout) and when RSS after warm-up grows by
 * more than the bound; latency is reported, never a failure (one busy
 * machine is not a benchmark).
 */

export interface SoakOptions {
  durationS: number;
  connections: number;
  /** RSS samples before this are warm-up (JIT, pools, caches filling). */
  warmupS: number;
  /** Allowed RSS growth after warm-up, in MiB. */
  rssGrowthBoundMiB: number;
  /** A private redis-server for the cache (true), or the memory cache (false). */
  redis: boolean;
  quiet?: boolean;
}

export interface ShapeResult {
  name: string;
  connections: number;
  requests: number;
  non2xx: number;
  status5xx: number;
  errors: number;
  timeouts: number;
  p50Ms: number;
  p95Ms: number;
  budgetMs: number | undefined;
}

export interface SoakResult {
  shapes: ShapeResult[];
  rssMiB: { warm: number; end: number; max: number; growth: number };
  rssSamples: number[];
  failures: string[];
}

const INSTRUMENTS = Array.from({ length: 8 }, (_, i) => `SOAK${i}`);
const SEED_DAYS = 3;
const SEED_START = '2025-03-01T00:00:00.000Z';
/** Stores write new minutes after the seeded days, 100 bars per request. */
const STORE_BARS = 100;
/** DESIGN 8: every query shape p95 < 1 s at 32 concurrent clients. */
const QUERY_BUDGET_MS = 1_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

interface Shape {
  name: string;
  share: number;
  budgetMs: number | undefined;
  requests: autocannon.Request[];
}

/** The request mix; each connection cycles through its shape's requests. */
function shapes(): Shape[] {
  let storeCounter = 0;
  let uncachedLimit = 50_000;
  const dayQuery = (instrument: string, limit: number) =>
    `/api/v1/storage/query?instrument_id=${instrument}&timeframe=ONE_MINUTE&start_time=2025-03-02T00:00:00Z&end_time=2025-03-03T00:00:00Z&limit=${limit}`;
  return [
    {
      name: 'store 100 bars (new minutes)',
      share: 0.25,
      budgetMs: undefined,
      requests: [
        {
          method: 'POST',
          path: '/api/v1/storage/store',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => {
            const n = storeCounter++;
            const instrument = INSTRUMENTS[n % INSTRUMENTS.length];
            const start =
              Date.parse(SEED_START) +
              SEED_DAYS * 86_400_000 +
              Math.floor(n / INSTRUMENTS.length) * STORE_BARS * 60_000;
            const bars = makeBars(new Date(start).toISOString(), STORE_BARS, 60_000, n + 1);
            return {
              ...req,
              body: JSON.stringify({
                instrument_id: instrument,
                timeframe: 'ONE_MINUTE',
                data_points: bars,
              }),
            };
          },
        },
      ],
    },
    {
      name: 'query 1 day (1,440 bars), uncached',
      share: 0.25,
      budgetMs: QUERY_BUDGET_MS,
      requests: [
        {
          method: 'GET',
          // A new limit each time: a new cache key, the same rows.
          setupRequest: (req) => ({
            ...req,
            path: dayQuery(INSTRUMENTS[uncachedLimit % 8], uncachedLimit--),
          }),
        },
      ],
    },
    {
      name: 'query 1 day, repeated (cache)',
      share: 0.25,
      budgetMs: QUERY_BUDGET_MS,
      requests: INSTRUMENTS.map((id) => ({ method: 'GET', path: dayQuery(id, 1440) })),
    },
    {
      name: 'latest + ONE_HOUR derived over 3 days',
      share: 0.25,
      budgetMs: QUERY_BUDGET_MS,
      requests: INSTRUMENTS.flatMap((id) => [
        { method: 'GET', path: `/api/v1/storage/instruments/${id}/latest?timeframe=ONE_MINUTE` },
        {
          method: 'GET',
          path: `/api/v1/storage/query?instrument_id=${id}&timeframe=ONE_HOUR&start_time=2025-03-01T00:00:00Z&end_time=2025-03-04T00:00:00Z`,
        },
      ]),
    },
  ];
}

async function seed(baseUrl: string): Promise<void> {
  for (const [i, id] of INSTRUMENTS.entries()) {
    const response = await fetch(`${baseUrl}/api/v1/storage/store`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        instrument_id: id,
        timeframe: 'ONE_MINUTE',
        data_points: makeBars(SEED_START, SEED_DAYS * 1440, 60_000, 100 + i),
      }),
    });
    if (response.status !== 200) throw new Error(`seeding ${id}: ${response.status}`);
  }
}

function runShape(
  baseUrl: string,
  shape: Shape,
  connections: number,
  durationS: number,
): Promise<ShapeResult> {
  const latencies: number[] = [];
  let status5xx = 0;
  let non2xx = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: baseUrl,
        connections,
        duration: durationS,
        timeout: 30,
        requests: shape.requests,
      },
      (error, result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        latencies.sort((a, b) => a - b);
        resolve({
          name: shape.name,
          connections,
          requests: latencies.length,
          non2xx,
          status5xx,
          errors: result.errors,
          timeouts: result.timeouts,
          p50Ms: percentile(latencies, 50),
          p95Ms: percentile(latencies, 95),
          budgetMs: shape.budgetMs,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      if (statusCode < 200 || statusCode >= 300) non2xx++;
      if (statusCode >= 500) status5xx++;
    });
  });
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = (line: string) => options.quiet || console.log(line);
  const db = await createBenchDatabase();
  const redis = options.redis ? privateRedis(await freePort()) : undefined;
  await redis?.start();
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    ...(redis ? { REDIS_URL: `redis://127.0.0.1:${redis.port}/0` } : {}),
    LOG_LEVEL: 'warn',
    // The statistics job runs as in production: it is part of what must not leak.
    STATS_REFRESH_INTERVAL_MS: '10000',
    // 32 connections from one address would meet the per-client rate limit: load, not abuse.
    RATE_LIMIT_REQUESTS: '0',
  });
  const pid = service.child.pid!;
  const rssSamples: number[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    await seed(service.baseUrl);
    // One sample a second from the start of the load: sample i is at i s.
    sampler = setInterval(() => rssSamples.push(rssMiB(pid)), 1_000);
    const mix = shapes();
    const perShape = mix.map((s) => Math.max(1, Math.round(options.connections * s.share)));
    log(
      `soak: ${options.durationS} s, ${perShape.reduce((a, b) => a + b, 0)} connections, ${INSTRUMENTS.length} instruments seeded with ${SEED_DAYS} days of 1-minute bars; service pid ${pid}`,
    );
    const results = await Promise.all(
      mix.map((shape, i) => runShape(service.baseUrl, shape, perShape[i], options.durationS)),
    );
    clearInterval(sampler);
    // RSS saws up and down with garbage collection (here 230 -> 400 -> 230 MiB): a leak shows
    // as a rising floor, so the lowest sample of the first and of the second half after
    // warm-up are compared, not two points of the saw.
    const steady = rssSamples.slice(options.warmupS);
    const half = Math.max(1, Math.floor(steady.length / 2));
    const warm = Math.min(...steady.slice(0, half));
    const end = Math.min(...steady.slice(-half));
    const rss = { warm, end, max: Math.max(...rssSamples), growth: end - warm };
    const failures: string[] = [];
    for (const r of results) {
      if (r.status5xx > 0) failures.push(`${r.name}: ${r.status5xx} answers 5xx`);
      if (r.errors > 0 || r.timeouts > 0)
        failures.push(`${r.name}: ${r.errors} connection errors, ${r.timeouts} timeouts`);
      if (r.non2xx > r.status5xx) failures.push(`${r.name}: ${r.non2xx - r.status5xx} answers 4xx`);
      if (r.requests === 0) failures.push(`${r.name}: no request completed`);
    }
    if (rss.growth > options.rssGrowthBoundMiB) {
      failures.push(
        `RSS grew ${rss.growth.toFixed(1)} MiB after warm-up (bound ${options.rssGrowthBoundMiB} MiB)`,
      );
    }
    if (service.child.exitCode !== null) failures.push('the service exited during the run');
    return { shapes: results, rssMiB: rss, rssSamples, failures };
  } finally {
    clearInterval(sampler);
    service.child.kill('SIGTERM');
    await service.exited;
    await killService(service);
    await redis?.kill();
    await db.drop();
  }
}

export function printSoak(result: SoakResult, options: SoakOptions): void {
  printTable(
    `Soak: ${options.durationS} s, ${options.connections} connections, service on PostgreSQL${options.redis ? ' + Redis cache' : ' + memory cache'}`,
    ['shape', 'conns', 'requests', '5xx', 'p50 ms', 'p95 ms', 'budget p95 ms', 'within'],
    result.shapes.map((r) => [
      r.name,
      r.connections,
      r.requests,
      r.status5xx,
      r.p50Ms.toFixed(1),
      r.p95Ms.toFixed(1),
      r.budgetMs ?? '- (none in DESIGN 8)',
      r.budgetMs === undefined ? '-' : r.p95Ms < r.budgetMs ? 'yes' : 'NO',
    ]),
  );
  const { warm, end, max, growth } = result.rssMiB;
  console.log(
    `\nservice RSS floor (lowest sample): ${warm.toFixed(1)} MiB in the first half after the ${options.warmupS} s warm-up, ${end.toFixed(1)} MiB in the second half (growth ${growth.toFixed(1)} MiB, bound ${options.rssGrowthBoundMiB} MiB); max ${max.toFixed(1)} MiB`,
  );
  console.log(`RSS per second (MiB): ${result.rssSamples.map((s) => s.toFixed(0)).join(' ')}`);
}

async function main(): Promise<void> {
  const options: SoakOptions = {
    durationS: Number(process.env.SOAK_DURATION_S ?? 60),
    connections: Number(process.env.SOAK_CONNECTIONS ?? 32),
    warmupS: Number(process.env.SOAK_WARMUP_S ?? 15),
    rssGrowthBoundMiB: Number(process.env.SOAK_RSS_GROWTH_MIB ?? 48),
    redis: process.env.SOAK_CACHE !== 'memory',
  };
  const { execFileSync } = await import('node:child_process');
  const pgVersion = execFileSync('psql', [
    '-XAtc',
    'SHOW server_version',
    process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  ])
    .toString()
    .trim();
  console.log(machineLine(pgVersion));
  const result = await runSoak(options);
  printSoak(result, options);
  if (result.failures.length) {
    console.error(`\nsoak FAILED:\n- ${result.failures.join('\n- ')}`);
    process.exit(1);
  }
  console.log('\nsoak passed: no 5xx, no connection error, RSS within the bound after warm-up');
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
