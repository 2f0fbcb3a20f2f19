import { join } from 'node:path';
import { Client } from 'pg';
import { makeBars } from '../test/support/bars';
import { drain, load, LoadResult } from './load';
import { BenchServer, forkServer, forkService } from './processes';
import {
  asciiChart,
  bySize,
  conditionsLine,
  createBenchDatabase,
  ms,
  printTable,
  readMachine,
  recordBudget,
  recordChart,
  recordConditions,
} from './support';

/**
 * Query shapes under load (autocannon) against the service over HTTP on the
 * local PostgreSQL, uncached and cached, 1 and 32 clients, each against the
 * naive client of DESIGN 8 (bench/naive-server.ts) in the same run.
 */
const INSTRUMENT = `QB${process.pid % 100_000}`;
const END_MS = Date.parse('2025-07-01T00:00:00Z');
const DAY_MS = 86_400_000;
const CLIENTS = [1, 32];
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/13';
const BEFORE_REDIS_URL = process.env.BENCH_BEFORE_REDIS_URL ?? 'redis://127.0.0.1:6379/14';
const BATCH = 10_000;

const storedDays = () => bySize({ smoke: 2, small: 60, default: 365, large: 365 });
const durationS = () => bySize({ smoke: 0.5, small: 2, default: 4, large: 15 });
const clientCounts = () =>
  bySize({ smoke: [1, 4], small: CLIENTS, default: CLIENTS, large: CLIENTS });
/** The "30 days" shapes; fewer days when fewer are stored (smoke). */
const monthDays = () => Math.min(30, storedDays());
const PAGE_LIMIT = 100_000;

interface Shape {
  readonly name: string;
  /** The service's path for a request; `jitterMs` (0..59,998) moves end_time inside its last minute. */
  service(jitterMs: number): string;
  /** The naive client's path for the same rows. */
  naive(): string;
  /** Whether uncached requests can be made distinct (every range shape); latest cannot. */
  readonly jitter: boolean;
}

const iso = (msValue: number) => new Date(msValue).toISOString();

function rangeShape(name: string, days: number, limit: number, offset: number): Shape {
  const start = iso(END_MS - days * DAY_MS);
  const params = (end: string) =>
    `instrument_id=${INSTRUMENT}&timeframe=ONE_MINUTE&start_time=${start}&end_time=${end}&limit=${limit}&offset=${offset}`;
  return {
    name,
    jitter: true,
    // The last bar starts a minute before END: any end in (END - 60 s, END] selects the same rows.
    service: (j) => `/api/v1/storage/query?${params(iso(END_MS - 59_999 + j))}`,
    naive: () => `/range?${params(iso(END_MS))}`,
  };
}

function derivedShape(name: string, timeframe: string, stepS: number, days: number): Shape {
  const start = iso(END_MS - days * DAY_MS);
  const limit = (days * 86_400) / stepS;
  return {
    name,
    jitter: true,
    // The source range is rounded up to the bucket: every end in (END - 60 s, END] reads the same.
    service: (j) =>
      `/api/v1/storage/query?instrument_id=${INSTRUMENT}&timeframe=${timeframe}&start_time=${start}&end_time=${iso(END_MS - 59_999 + j)}&limit=${limit}`,
    naive: () =>
      `/derived?instrument_id=${INSTRUMENT}&timeframe=${timeframe}&source=ONE_MINUTE&step_s=${stepS}&start_time=${start}&end_time=${iso(END_MS)}&limit=${limit}&offset=0`,
  };
}

function shapes(): Shape[] {
  const storedRows = storedDays() * 1440;
  // A page from the middle of the stored span, as a client paging through a year meets on average.
  const offset = Math.max(0, Math.min(200_000, storedRows - PAGE_LIMIT));
  return [
    rangeShape('1 day ONE_MINUTE (1,440 rows)', 1, 1440, 0),
    rangeShape(
      `${monthDays()} days ONE_MINUTE (${(monthDays() * 1440).toLocaleString('en')} rows)`,
      monthDays(),
      monthDays() * 1440,
      0,
    ),
    rangeShape(
      `${storedDays()} days ONE_MINUTE, page of ${Math.min(PAGE_LIMIT, storedRows).toLocaleString('en')} at offset ${offset.toLocaleString('en')}`,
      storedDays(),
      PAGE_LIMIT,
      offset,
    ),
    derivedShape(
      `${monthDays()} days FIVE_MINUTES derived (${(monthDays() * 288).toLocaleString('en')} rows)`,
      'FIVE_MINUTES',
      300,
      monthDays(),
    ),
    derivedShape(
      `${monthDays()} days ONE_HOUR derived (${(monthDays() * 24).toLocaleString('en')} rows)`,
      'ONE_HOUR',
      3600,
      monthDays(),
    ),
    {
      name: 'latest ONE_MINUTE',
      jitter: false,
      service: () => `/api/v1/storage/instruments/${INSTRUMENT}/latest?timeframe=ONE_MINUTE`,
      naive: () => `/latest?instrument_id=${INSTRUMENT}&timeframe=ONE_MINUTE`,
    },
  ];
}

async function storeYear(base: string): Promise<number> {
  const total = storedDays() * 1440;
  const bars = makeBars(iso(END_MS - storedDays() * DAY_MS), total);
  for (let i = 0; i < total; i += BATCH) {
    const res = await fetch(`${base}/api/v1/storage/store`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        instrument_id: INSTRUMENT,
        timeframe: 'ONE_MINUTE',
        data_points: bars.slice(i, i + BATCH),
      }),
    });
    const body = (await res.json()) as { stored_count: number };
    if (res.status !== 200 || body.stored_count !== Math.min(BATCH, total - i))
      throw new Error(`store failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  return total;
}

export async function vacuumAnalyze(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('VACUUM ANALYZE market_data_ts');
  } finally {
    await client.end();
  }
}

async function warmUp(base: string, paths: string[]): Promise<void> {
  for (const path of paths) {
    const res = await fetch(base + path);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`warm-up ${path}: ${res.status}`);
  }
}

interface Measured {
  readonly shape: string;
  readonly clients: number;
  readonly naive: LoadResult;
  readonly uncached: LoadResult;
  readonly cached: LoadResult;
  /** Share of the cached run's answers that came from the cache. */
  readonly hitShare: number;
  /** The service of BENCH_BEFORE_SRC, same cells. */
  readonly before?: { readonly uncached: LoadResult; readonly cached: LoadResult };
}

/** Queries answered so far, and how many of them from the cache (mds_query_duration_seconds). */
async function queryCounts(base: string): Promise<{ hit: number; total: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let hit = 0;
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('mds_query_duration_seconds_count{')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    total += value;
    if (line.includes('cache="hit"')) hit += value;
  }
  return { hit, total };
}

export async function runQueryBench(): Promise<void> {
  const machine = await readMachine();
  const db = await createBenchDatabase();
  const pool = '10';
  const common = {
    DATABASE_URL: db.url,
    LOG_LEVEL: 'warn',
    STATS_REFRESH_INTERVAL_MS: '0',
    // Load from one address, not abuse: the per-client rate limit would answer 429s.
    RATE_LIMIT_REQUESTS: '0',
    DB_POOL_SIZE: pool,
  };
  const servers: BenchServer[] = [];
  try {
    const service = await forkService({ ...common, REDIS_URL }, 'service');
    servers.push(service);
    const rows = await storeYear(service.base);
    // The steady state autovacuum reaches on its own: statistics and a visibility map.
    await vacuumAnalyze(db.url);
    // Latest cannot be made distinct per request: its uncached figure comes
    // from a second instance whose cache is unreachable (database only).
    const direct = await forkService(
      { ...common, REDIS_URL: 'redis://127.0.0.1:9', CACHE_TIMEOUT_MS: '50' },
      'service-no-cache',
    );
    servers.push(direct);
    const naive = await forkServer('naive-server.ts', [db.url, pool], 'naive');
    servers.push(naive);
    // BENCH_BEFORE_SRC=<dir with src/ of an earlier commit>: that service too, for before/after rows.
    const beforeSrc = process.env.BENCH_BEFORE_SRC;
    const before = beforeSrc
      ? await forkService(
          { ...common, REDIS_URL: BEFORE_REDIS_URL },
          'before',
          join(beforeSrc, 'src'),
        )
      : undefined;
    if (before) servers.push(before);
    const all = shapes();
    let jitter = 0;
    const nextJitter = () => (jitter = (jitter + 1) % 59_999);
    await warmUp(
      service.base,
      all.flatMap((s) => [s.service(nextJitter()), s.service(nextJitter())]),
    );
    await warmUp(
      naive.base,
      all.map((s) => s.naive()),
    );
    await warmUp(direct.base, [all[5].service(0), all[5].service(0)]);
    recordConditions({
      'stored rows': `${rows.toLocaleString('en')} ONE_MINUTE bars of one instrument (${storedDays()} days, random walk, two-decimal prices)`,
      clients: clientCounts().join(' and '),
      'load per cell': `autocannon, ${durationS()} s`,
      'database pool': `${pool} connections (service and naive client alike)`,
      cache: 'Redis 127.0.0.1:6379 (cache-manager-ioredis-yet through Keyv)',
      machine: conditionsLine(machine),
    });
    const measured: Measured[] = [];
    for (const shape of all) {
      for (const clients of clientCounts()) {
        const naiveResult = await load(naive.base, () => shape.naive(), clients, durationS());
        await drain(naive.base, all[5].naive());
        const uncached = shape.jitter
          ? await load(service.base, () => shape.service(nextJitter()), clients, durationS())
          : await load(direct.base, () => shape.service(0), clients, durationS());
        await drain(service.base, all[0].service(nextJitter()));
        await drain(direct.base, all[5].service(0));
        const fixed = shape.service(0);
        await warmUp(service.base, [fixed]);
        const countsBefore = await queryCounts(service.base);
        const cached = await load(service.base, () => fixed, clients, durationS());
        await drain(service.base, all[0].service(nextJitter()));
        const countsAfter = await queryCounts(service.base);
        // Under CPU starvation a lookup may pass CACHE_TIMEOUT_MS and be answered from the database.
        const hitShare =
          (countsAfter.hit - countsBefore.hit) /
          Math.max(1, countsAfter.total - countsBefore.total - 1);
        let previous: Measured['before'];
        if (before && shape.jitter) {
          const beforeUncached = await load(
            before.base,
            () => shape.service(nextJitter()),
            clients,
            durationS(),
          );
          await drain(before.base, all[0].service(nextJitter()));
          await warmUp(before.base, [fixed]);
          const beforeCached = await load(before.base, () => fixed, clients, durationS());
          await drain(before.base, all[0].service(nextJitter()));
          previous = { uncached: beforeUncached, cached: beforeCached };
        }
        const m = {
          shape: shape.name,
          clients,
          naive: naiveResult,
          uncached,
          cached,
          hitShare,
          before: previous,
        };
        measured.push(m);
        console.log(
          `${shape.name}, ${clients} clients: naive p95 ${ms(naiveResult.p95)} ms ${naiveResult.rps.toFixed(1)}/s; uncached p95 ${ms(uncached.p95)} ms ${uncached.rps.toFixed(1)}/s; cached p95 ${ms(cached.p95)} ms ${cached.rps.toFixed(1)}/s`,
        );
      }
    }
    report(measured, rows, machine);
  } finally {
    for (const server of servers.reverse()) await server.stop();
    // BENCH_KEEP_DB=1 keeps the database for EXPLAIN (ANALYZE, BUFFERS) afterwards.
    if (process.env.BENCH_KEEP_DB) console.log(`kept database ${db.url}`);
    else await db.drop();
  }
}

const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');

function report(
  measured: Measured[],
  rows: number,
  machine: Awaited<ReturnType<typeof readMachine>>,
): void {
  const conditions = `${rows.toLocaleString('en')} stored rows, ${durationS()} s per cell, ${conditionsLine(machine)}`;
  printTable(
    `Query latency and throughput over HTTP (${conditions})`,
    [
      'shape',
      'clients',
      'answer',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'req/s',
      'errors',
      'KB/answer',
      'x naive req/s',
      'x naive p95',
    ],
    measured.flatMap((m) =>
      (['naive', 'uncached', 'cached'] as const).map((kind) => {
        const r = m[kind];
        return [
          m.shape,
          m.clients,
          kind === 'naive' ? 'naive pg client (baseline)' : kind,
          ms(r.p50),
          ms(r.p95),
          ms(r.p99),
          r.rps.toFixed(1),
          r.errors,
          (r.bytesPerRequest / 1024).toFixed(0),
          kind === 'naive' ? '1.00x' : ratio(r.rps, m.naive.rps),
          kind === 'naive' ? '1.00x' : ratio(r.p95, m.naive.p95),
        ];
      }),
    ),
  );
  printTable(
    `Cached against uncached, same run (${conditions})`,
    [
      'shape',
      'clients',
      'uncached req/s',
      'cached req/s',
      'cached x uncached',
      'answered from cache',
    ],
    measured.map((m) => [
      m.shape,
      m.clients,
      m.uncached.rps.toFixed(1),
      m.cached.rps.toFixed(1),
      ratio(m.cached.rps, m.uncached.rps),
      `${Math.round(Math.min(1, m.hitShare) * 100)} %`,
    ]),
  );
  const compared = measured.filter((m) => m.before);
  if (compared.length) {
    printTable(
      `Before (${process.env.BENCH_BEFORE_SRC}) and after, same run (${conditions})`,
      [
        'shape',
        'clients',
        'answer',
        'before p50',
        'before p95',
        'before req/s',
        'after p50',
        'after p95',
        'after req/s',
        'naive req/s',
      ],
      compared.flatMap((m) =>
        (['uncached', 'cached'] as const).map((kind) => {
          const b = m.before![kind];
          const a = m[kind];
          return [
            m.shape,
            m.clients,
            kind,
            ms(b.p50),
            ms(b.p95),
            b.rps.toFixed(1),
            ms(a.p50),
            ms(a.p95),
            a.rps.toFixed(1),
            m.naive.rps.toFixed(1),
          ];
        }),
      ),
    );
  }
  for (const clients of clientCounts()) {
    recordChart(
      `Latency percentiles at ${clients} client${clients > 1 ? 's' : ''} (ms, log scale)`,
      asciiChart(
        measured
          .filter((m) => m.clients === clients)
          .flatMap((m) =>
            (['naive', 'uncached', 'cached'] as const).map((kind) => ({
              label: `${m.shape.split(' (')[0].split(',')[0]} ${kind}`,
              values: [
                { name: 'p50', value: m[kind].p50 },
                { name: 'p95', value: m[kind].p95 },
                { name: 'p99', value: m[kind].p99 },
              ],
            })),
          ),
        'ms',
      ),
    );
  }
  for (const m of measured) {
    if (m.clients === Math.max(...clientCounts())) {
      for (const kind of ['uncached', 'cached'] as const) {
        recordBudget({
          name: `p95, ${m.shape}, ${m.clients} clients, ${kind}`,
          target: '< 1000 ms',
          measured: `${ms(m[kind].p95)} ms`,
          pass: m[kind].p95 < 1000 && m[kind].errors === 0,
        });
      }
    }
  }
  for (const m of measured.filter((x) => /^\d+ days? ONE_MINUTE \(/.test(x.shape))) {
    recordBudget({
      name: `uncached throughput x naive, ${m.shape}, ${m.clients} client(s)`,
      target: '>= 2x',
      measured: ratio(m.uncached.rps, m.naive.rps),
      pass: m.uncached.rps >= 2 * m.naive.rps,
    });
    recordBudget({
      name: `uncached p95 x naive, ${m.shape}, ${m.clients} client(s)`,
      target: '<= 0.5x',
      measured: ratio(m.uncached.p95, m.naive.p95),
      pass: m.uncached.p95 <= 0.5 * m.naive.p95,
    });
  }
  for (const m of measured) {
    recordBudget({
      name: `cached throughput x uncached, ${m.shape}, ${m.clients} client(s)`,
      target: '>= 10x',
      measured: ratio(m.cached.rps, m.uncached.rps),
      pass: m.cached.rps >= 10 * m.uncached.rps,
    });
  }
}
