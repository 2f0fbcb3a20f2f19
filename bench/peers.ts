import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { makeBars } from '../test/support/bars';
import { dataEndMs } from './maintenance';
import { forkService } from './processes';
import { ensureInstalled, PeerServer, startClickHouse, startInfluxDb } from './peer-servers';
import {
  Batch,
  clickHouseSystem,
  influxSystem,
  PeerSystem,
  Probe,
  psqlCopySystem,
  Range,
  serviceSystem,
} from './peer-systems';
import { peersReport, Samples } from './peers-report';
import {
  bySize,
  conditionsLine,
  createBenchDatabase,
  percentile,
  POSTGRES_ADMIN_URL,
  readMachine,
  recordConditions,
  TIMESCALEDB_ADMIN_URL,
} from './support';

/**
 * `npm run bench peers` (issue 16, DESIGN 8): the service on plain PostgreSQL
 * and on the TimescaleDB server, InfluxDB 1.6, ClickHouse 18.16 and `psql
 * \copy`, side by side in one run: the same generated bars loaded into each
 * (10,000 a request), then the same reads, systems interleaved within each
 * measure and every measure repeated ROUNDS times. A system that cannot be
 * installed or started is skipped with its reason; the others still run.
 */
const INSTRUMENTS = bySize({ smoke: 4, small: 5, default: 20, large: 20 });
const DAYS = bySize({ smoke: 3, small: 7, default: 30, large: 30 });
const ROUNDS = bySize({ smoke: 1, small: 1, default: 3, large: 5 });
/** Seconds of each 32-client run; requests of each sequential p50. */
const LOAD_S = bySize({ smoke: 1, small: 3, default: 5, large: 10 });
const SEQUENTIAL = bySize({
  smoke: { day: 5, month: 2, hour: 5 },
  small: { day: 10, month: 4, hour: 8 },
  default: { day: 30, month: 7, hour: 15 },
  large: { day: 60, month: 15, hour: 30 },
});
const BATCH = 10_000;
const INGEST_CLIENTS = [1, 4];
const READ_CLIENTS = 32;
const DAY_MS = 86_400_000;
const MONTH_DAYS = Math.min(30, DAYS);
const TIMESCALEDB_INSTALL =
  process.env.BENCH_TIMESCALEDB_INSTALL ??
  join(__dirname, '..', '..', 'shared', 'timescaledb', 'install.sh');
/** Redis databases of the two service instances: distinct, so neither answers from the other's cache. */
const REDIS = ['redis://127.0.0.1:6379/11', 'redis://127.0.0.1:6379/12'];

const run = promisify(execFile);
type Cleanup = () => Promise<unknown>;

interface Data {
  readonly batches: Batch[];
  readonly instruments: string[];
  readonly startMs: number;
  readonly endMs: number;
  readonly bars: number;
}

/** The same bars for every system: one random walk per instrument, cut into batches. */
function generate(): Data {
  // Ends before the real now, on a boundary of the 7-day chunks, so that maintenance compresses it all.
  const endMs = dataEndMs(Date.now());
  const startMs = endMs - DAYS * DAY_MS;
  const tag = `P${process.pid % 100_000}`;
  const instruments = Array.from({ length: INSTRUMENTS }, (_, i) => `${tag}_${i}`);
  const batches: Batch[] = [];
  instruments.forEach((instrument, i) => {
    const bars = makeBars(new Date(startMs).toISOString(), DAYS * 1440, 60_000, 1 + i * 7919);
    for (let at = 0; at < bars.length; at += BATCH)
      batches.push({ instrument, bars: bars.slice(at, at + BATCH) });
  });
  return { batches, instruments, startMs, endMs, bars: INSTRUMENTS * DAYS * 1440 };
}

async function serverVersion(url: string, timescale: boolean): Promise<string> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pg: string; ts: string | null }>(
      `SELECT current_setting('server_version') AS pg,
              (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ts`,
    );
    const pg = `PostgreSQL ${rows[0].pg.split(' ')[0]}`;
    if (!timescale) return pg;
    if (!rows[0].ts) throw new Error(`no TimescaleDB at ${new URL(url).host}`);
    return `TimescaleDB ${rows[0].ts} on ${pg}`;
  } finally {
    await client.end();
  }
}

/** The TimescaleDB server of ../shared/timescaledb, started by its install script when down. */
async function ensureTimescaleDb(): Promise<void> {
  const up = async () => {
    const client = new Client({ connectionString: TIMESCALEDB_ADMIN_URL });
    try {
      await client.connect();
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  if (await up()) return;
  console.log(
    `TimescaleDB down at ${new URL(TIMESCALEDB_ADMIN_URL).host}: bash ${TIMESCALEDB_INSTALL}`,
  );
  await run('bash', [TIMESCALEDB_INSTALL], { timeout: 900_000, maxBuffer: 64 * 2 ** 20 });
  if (!(await up())) throw new Error('TimescaleDB still down after its install script');
}

/** The service on a fresh database of `adminUrl`; its database dropped when cleaned up. */
async function startService(
  name: string,
  adminUrl: string,
  redisUrl: string,
  timescale: boolean,
  cleanups: Cleanup[],
): Promise<{ system: PeerSystem; dbUrl: string; version: string }> {
  const db = await createBenchDatabase(adminUrl);
  cleanups.push(db.drop);
  const service = await forkService(
    {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl,
      LOG_LEVEL: 'warn',
      // Load from one address, not abuse: the per-client rate limit would answer 429s.
      RATE_LIMIT_REQUESTS: '0',
      // No timer: the bench runs maintenance itself, when it measures bytes.
      STATS_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      ROLLUP_REFRESH_INTERVAL_MS: '0',
      MAINTENANCE_INTERVAL_MS: '0',
    },
    name,
  );
  cleanups.push(() => service.stop());
  // After the service's migrations, which create the extension.
  const version = await serverVersion(db.url, timescale);
  return {
    system: serviceSystem(name, service, db.url, version, timescale),
    dbUrl: db.url,
    version,
  };
}

/** A peer from Debian: installed when missing, started, or skipped with the reason. */
async function startPeer(
  binary: string,
  packages: string[],
  start: () => Promise<PeerServer>,
  wrap: (server: PeerServer) => Promise<PeerSystem>,
  cleanups: Cleanup[],
): Promise<PeerSystem> {
  const missing = await ensureInstalled(binary, packages);
  if (missing) throw new Error(missing);
  const server = await start();
  cleanups.push(() => server.stop());
  return wrap(server);
}

/** Every system that could be set up, in the table's order; the others with their reason. */
async function startSystems(
  tmp: string,
  cleanups: Cleanup[],
): Promise<{ systems: PeerSystem[]; skipped: string[] }> {
  const systems: PeerSystem[] = [];
  const skipped: string[] = [];
  const attempt = async (name: string, setUp: () => Promise<PeerSystem>) => {
    try {
      systems.push(await setUp());
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      skipped.push(`${name}: ${reason.split('\n')[0]}`);
      console.log(`skipping ${name}: ${reason.split('\n')[0]}`);
    }
  };
  let plain: { dbUrl: string; version: string } | undefined;
  await attempt('service, plain PG', async () => {
    const started = await startService(
      'service, plain PG',
      POSTGRES_ADMIN_URL,
      REDIS[0],
      false,
      cleanups,
    );
    plain = started;
    return started.system;
  });
  await attempt('service, TimescaleDB', async () => {
    await ensureTimescaleDb();
    return (
      await startService('service, TimescaleDB', TIMESCALEDB_ADMIN_URL, REDIS[1], true, cleanups)
    ).system;
  });
  await attempt('InfluxDB', () =>
    startPeer('/usr/bin/influxd', ['influxdb'], startInfluxDb, influxSystem, cleanups),
  );
  await attempt('ClickHouse', () =>
    startPeer(
      '/usr/sbin/clickhouse-server',
      ['clickhouse-server', 'clickhouse-client'],
      startClickHouse,
      clickHouseSystem,
      cleanups,
    ),
  );
  await attempt('psql \\copy', async () => {
    // Into the service's own table (its partitions made by the warm-up), emptied before each run.
    if (!plain) throw new Error('needs the service on plain PG (its table)');
    return psqlCopySystem(plain.dbUrl, tmp, plain.version);
  });
  return { systems, skipped };
}

// ---------------------------------------------------------------------------
// Measuring.

/** One request, body read and parsed; its milliseconds, status and rows. */
async function timed(probe: Probe): Promise<{ ms: number; ok: boolean; rows: number }> {
  const started = performance.now();
  try {
    const res = await fetch(probe.url, probe.init);
    let rows = 0;
    if (!res.ok) await res.arrayBuffer();
    else if ('rowsOfBytes' in probe)
      rows = probe.rowsOfBytes(new Uint8Array(await res.arrayBuffer()));
    else rows = probe.rows(await res.text());
    return { ms: performance.now() - started, ok: res.ok, rows };
  } catch {
    return { ms: performance.now() - started, ok: false, rows: 0 };
  }
}

async function sequentialP50(probes: () => Probe, count: number, rows: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = await timed(probes());
    if (!r.ok || r.rows !== rows)
      throw new Error(`expected ${rows} rows, read ${r.rows} (ok ${r.ok})`);
    times.push(r.ms);
  }
  return percentile(
    times.sort((a, b) => a - b),
    50,
  );
}

/**
 * READ_CLIENTS clients, each sending its next request as soon as the last
 * answer is parsed, for LOAD_S seconds; the requests under way then finish.
 * Answers of 2xx per second of the whole, and the others counted.
 */
async function concurrent(probes: () => Probe): Promise<{ rps: number; failed: number }> {
  const started = performance.now();
  const deadline = started + LOAD_S * 1000;
  let ok = 0;
  let failed = 0;
  const client = async () => {
    while (performance.now() < deadline) {
      const r = await timed(probes());
      if (r.ok) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: READ_CLIENTS }, client));
  return { rps: ok / ((performance.now() - started) / 1000), failed };
}

/** Records a sample of `measure` for `system`. */
function add(samples: Samples, measure: string, system: string, value: number): void {
  const bySystem = samples.get(measure) ?? new Map<string, number[]>();
  samples.set(measure, bySystem);
  bySystem.set(system, [...(bySystem.get(system) ?? []), value]);
}

async function ingestRounds(systems: PeerSystem[], data: Data, samples: Samples): Promise<void> {
  // psql \copy shares the plain service's table: first, so that the service's own rows stay for the reads.
  const order = [...systems.filter((s) => !s.range), ...systems.filter((s) => s.range)];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const clients of INGEST_CLIENTS) {
      for (const system of order) {
        await system.reset();
        const cpu = system.meterCpu();
        const started = performance.now();
        await system.ingest(clients);
        const seconds = (performance.now() - started) / 1000;
        const used = cpu();
        add(samples, `ingest${clients}`, system.name, data.bars / seconds);
        add(samples, 'cpu', system.name, used.ms / 1000 / (data.bars / 100_000));
        if (used.nodeMs !== undefined) add(samples, 'cpuNode', system.name, used.nodeMs / used.ms);
        console.log(
          `round ${round}, ingest x ${clients}, ${system.name}: ${Math.round(data.bars / seconds)} bars/s, CPU ${(used.ms / 1000).toFixed(2)} s`,
        );
      }
    }
  }
}

interface ReadShape {
  readonly measure: string;
  readonly rows: number;
  probe(system: PeerSystem, k: number): Probe | undefined;
}

function readShapes(data: Data): Record<'day' | 'month' | 'monthArrow' | 'hour', ReadShape> {
  const n = data.instruments.length;
  // Request k: instrument k mod n, and for one day, each day of the span in turn.
  const day = (k: number): Range => {
    const startMs = data.startMs + (Math.floor(k / n) % DAYS) * DAY_MS;
    return { instrument: data.instruments[k % n], startMs, endMs: startMs + DAY_MS };
  };
  const month = (k: number): Range => ({
    instrument: data.instruments[k % n],
    startMs: data.endMs - MONTH_DAYS * DAY_MS,
    endMs: data.endMs,
  });
  return {
    day: { measure: 'day', rows: 1440, probe: (s, k) => s.range?.(day(k), k) },
    month: { measure: 'month', rows: MONTH_DAYS * 1440, probe: (s, k) => s.range?.(month(k), k) },
    monthArrow: {
      measure: 'monthArrow',
      rows: MONTH_DAYS * 1440,
      probe: (s, k) => s.arrowRange?.(month(k), k),
    },
    hour: { measure: 'hour', rows: MONTH_DAYS * 24, probe: (s, k) => s.hourly?.(month(k), k) },
  };
}

async function readRounds(systems: PeerSystem[], data: Data, samples: Samples): Promise<void> {
  const readers = systems.filter((s) => s.range);
  const shapes = readShapes(data);
  // Every request distinct: k counts up across the whole run (k = 0 is the cached shape's).
  let k = 1;
  const next = (shape: ReadShape, system: PeerSystem) => () => shape.probe(system, k++) as Probe;
  for (const system of readers)
    for (const shape of Object.values(shapes))
      if (shape.probe(system, 0)) await sequentialP50(next(shape, system), 2, shape.rows); // warm-up, and the row counts checked
  for (let round = 1; round <= ROUNDS; round++) {
    const step = async (what: string, measure: (s: PeerSystem) => Promise<void>) => {
      for (const system of readers) await measure(system);
      console.log(`round ${round}, ${what} done (load average ${loadavg()[0].toFixed(1)})`);
    };
    const put = (measure: string, s: PeerSystem, value: number) =>
      add(samples, measure, s.name, value);
    const seq = (s: PeerSystem, shape: ReadShape, count: number, probes = next(shape, s)) =>
      sequentialP50(probes, count, shape.rows);
    await step('1 day', async (s) => {
      put('dayP50', s, await seq(s, shapes.day, SEQUENTIAL.day));
      put('dayRps', s, (await concurrent(next(shapes.day, s))).rps);
    });
    await step('30 days', async (s) => {
      put('monthP50', s, await seq(s, shapes.month, SEQUENTIAL.month));
      const load = await concurrent(next(shapes.month, s));
      put('monthRps', s, load.rps);
      put('monthFailed', s, load.failed);
    });
    await step('30 days as Arrow', async (s) => {
      if (!s.arrowRange) return;
      put('monthArrowP50', s, await seq(s, shapes.monthArrow, SEQUENTIAL.month));
      const load = await concurrent(next(shapes.monthArrow, s));
      put('monthArrowRps', s, load.rps);
      put('monthArrowFailed', s, load.failed);
    });
    await step('30 days cached', async (s) => {
      if (!s.caches) return;
      const fixed = () => shapes.month.probe(s, 0) as Probe;
      await seq(s, shapes.month, 2, fixed); // stored in the cache
      put('cachedP50', s, await seq(s, shapes.month, SEQUENTIAL.month, fixed));
    });
    await step('ONE_HOUR', async (s) => {
      put('hourP50', s, await seq(s, shapes.hour, SEQUENTIAL.hour));
    });
  }
}

export async function runPeersBench(): Promise<void> {
  const machine = await readMachine();
  const tmp = mkdtempSync(join(tmpdir(), 'mds-bench-peers-'));
  const cleanups: Cleanup[] = [
    () => Promise.resolve(rmSync(tmp, { recursive: true, force: true })),
  ];
  // One cleanup, however many ask for it: a signal's and the run's own end wait for the same.
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      for (let step = cleanups.pop(); step; step = cleanups.pop())
        await step().catch((error: unknown) => console.error('cleanup:', error));
    })());
  // Ctrl-C or a kill: stop the peers and the services, drop the databases, remove the files.
  const onSignal = () => {
    console.log('interrupted: stopping the peers and the services');
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const loads = [loadavg()[0]];
  try {
    const data = generate();
    const { systems, skipped } = await startSystems(tmp, cleanups);
    for (const system of systems) system.prepare(data.batches, INGEST_CLIENTS);
    // Warm-up (JIT, pools, the plain tables' partitions), not measured.
    for (const system of systems) {
      await system.reset();
      await system.ingest(4);
    }
    const samples: Samples = new Map();
    await ingestRounds(systems, data, samples);
    loads.push(loadavg()[0]);
    for (const system of systems) {
      const stored = await system.count();
      if (stored !== data.bars)
        throw new Error(`${system.name}: ${stored} bars stored of ${data.bars}`);
      await system.prepareReads?.();
    }
    await readRounds(systems, data, samples);
    loads.push(loadavg()[0]);
    const bytes = new Map<string, Awaited<ReturnType<NonNullable<PeerSystem['bytesPerBar']>>>>();
    for (const system of systems)
      if (system.bytesPerBar) bytes.set(system.name, await system.bytesPerBar());
    loads.push(loadavg()[0]);
    recordConditions({
      rows: `${data.bars.toLocaleString('en')} 1-minute bars, ${INSTRUMENTS} instruments x ${DAYS} days (${new Date(data.startMs).toISOString().slice(0, 10)} to ${new Date(data.endMs).toISOString().slice(0, 10)}), random walks with two-decimal prices (test/support/bars.ts makeBars), ${BATCH.toLocaleString('en')} bars a request`,
      systems: systems.map((s) => `${s.name}: ${s.version}`).join('; '),
      skipped: skipped.length ? skipped.join('; ') : 'none',
      clients: `ingest ${INGEST_CLIENTS.join(' and ')}; reads sequential (${SEQUENTIAL.day} one-day, ${SEQUENTIAL.month} ${MONTH_DAYS}-day, ${SEQUENTIAL.hour} ONE_HOUR requests) and ${READ_CLIENTS} clients for ${LOAD_S} s`,
      rounds: `${ROUNDS}, systems interleaved within each measure; medians, spread min-max`,
      machine: conditionsLine(machine),
      'load average': `${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} (start, after ingest, after reads, end)`,
    });
    peersReport(
      systems.map((s) => s.name),
      samples,
      bytes,
      data.bars,
      MONTH_DAYS,
    );
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanUp();
  }
}
