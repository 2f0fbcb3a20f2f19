import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';
import { StatisticsService } from '../src/statistics/statistics.service';
import { makeBars } from '../test/support/bars';
import {
  bySize,
  conditionsLine,
  createBenchDatabase,
  readMachine,
  printTable,
  recordBudget,
  recordConditions,
  TIMESCALEDB_ADMIN_URL,
} from './support';

/**
 * One full maintenance run on the TimescaleDB server, and what the stored
 * bars and their rollups cost per bar before and after compression: 1-minute
 * bars of INSTRUMENTS instruments over DAYS days stored through POST /store,
 * then POST /maintenance/run (every task) twice, timed, with each task's
 * took_ms. The first run compresses the bars and materializes the rollups
 * (compression runs before the refresh); the second compresses the rollups.
 * Sizes are hypertable_size of market_data_ts and of the four continuous
 * aggregates, divided by the number of bars, as GET /statistics reports them
 * (total_size_gb, rollups_size_gb).
 *
 * The endpoint judges ages against the real clock, so the data ends before
 * it: on a boundary of the bars' 7-day chunks at least a day back
 * (BENCH_MAINTENANCE_END overrides it), which leaves no bar chunk and no
 * 5-minute rollup chunk too young to compress. The coarser rollups' chunks
 * (21, 84 and 2016 days) compress once their whole range is that old.
 */
const INSTRUMENTS = bySize({ smoke: 2, small: 5, default: 20, large: 20 });
const DAYS = bySize({ smoke: 3, small: 14, default: 30, large: 60 });
/** Bars per POST /store, and requests in flight. */
const BATCH = 10_000;
const CONCURRENCY = 4;
const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
const MiB = 2 ** 20;
/** ClickHouse's compressed bytes per bar in the peers run of 2026-12-01 (DESIGN 8). */
const CLICKHOUSE_BYTES_PER_BAR = 31.1;

const LEVELS = [
  { view: 'market_data_5m', timeframe: 'FIVE_MINUTES' },
  { view: 'market_data_15m', timeframe: 'FIFTEEN_MINUTES' },
  { view: 'market_data_1h', timeframe: 'ONE_HOUR' },
  { view: 'market_data_1d', timeframe: 'ONE_DAY' },
] as const;

export function dataEndMs(nowMs: number): number {
  const configured = process.env.BENCH_MAINTENANCE_END;
  if (configured === undefined) return Math.floor((nowMs - DAY_MS) / WEEK_MS) * WEEK_MS;
  const ms = Date.parse(configured);
  if (!Number.isFinite(ms) || ms > nowMs - DAY_MS)
    throw new Error('BENCH_MAINTENANCE_END must be an instant at least a day ago');
  return ms;
}

interface TaskReport {
  readonly name: string;
  readonly status: string;
  readonly took_ms: number;
  readonly result?: Record<string, unknown>;
  readonly reason?: string;
}

interface Run {
  readonly wallMs: number;
  readonly tasks: readonly TaskReport[];
}

interface LevelSize {
  readonly view: string;
  readonly timeframe: string;
  readonly bytes: number;
  readonly rows: number;
  readonly chunks: number;
  readonly compressedChunks: number;
}

interface Sizes {
  readonly bars: number;
  readonly barBytes: number;
  readonly barChunks: number;
  readonly barCompressedChunks: number;
  readonly levels: readonly LevelSize[];
  /** GET /statistics after a measurement: what the service reports. */
  readonly reported: { total_size_gb: number; rollups_size_gb: number };
}

function rollupBytes(s: Sizes): number {
  return s.levels.reduce((sum, l) => sum + l.bytes, 0);
}

export async function post<T>(base: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await res.json()) as T;
  if (res.status !== 200)
    throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
  return answer;
}

/** Every bar through POST /store, CONCURRENCY requests in flight. */
async function store(base: string, startMs: number): Promise<number> {
  const perInstrument = DAYS * 1440;
  const requests: { instrument: string; from: number }[] = [];
  for (let i = 0; i < INSTRUMENTS; i++)
    for (let at = 0; at < perInstrument; at += BATCH)
      requests.push({ instrument: `MNT${i}`, from: at });
  // One walk per instrument, made when first needed and let go once all its batches are out.
  const series = new Map<string, { bars: ReturnType<typeof makeBars>; left: number }>();
  const batchesPerInstrument = Math.ceil(perInstrument / BATCH);
  const take = (instrument: string, from: number) => {
    let entry = series.get(instrument);
    if (!entry) {
      const seed = 1 + Number(instrument.slice(3)) * 7919;
      const bars = makeBars(new Date(startMs).toISOString(), perInstrument, 60_000, seed);
      entry = { bars, left: batchesPerInstrument };
      series.set(instrument, entry);
    }
    if (--entry.left === 0) series.delete(instrument);
    return entry.bars.slice(from, from + BATCH);
  };
  let next = 0;
  let stored = 0;
  const worker = async () => {
    while (next < requests.length) {
      const { instrument, from } = requests[next++];
      const points = take(instrument, from);
      const body = await post<{ stored_count: number }>(base, '/api/v1/storage/store', {
        instrument_id: instrument,
        timeframe: 'ONE_MINUTE',
        data_points: points,
      });
      if (body.stored_count !== points.length)
        throw new Error(`stored ${body.stored_count} of ${points.length}`);
      stored += points.length;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return stored;
}

export async function runMaintenance(base: string): Promise<Run> {
  const started = performance.now();
  const report = await post<{ tasks: TaskReport[] }>(base, '/api/v1/storage/maintenance/run');
  const wallMs = performance.now() - started;
  for (const task of report.tasks)
    if (task.status !== 'done') throw new Error(`task ${task.name} ${task.status}: ${task.reason}`);
  const compression = report.tasks.find((t) => t.name === 'compression')?.result;
  if ((compression?.failed_chunks as unknown[] | undefined)?.length)
    throw new Error(`compression failed: ${JSON.stringify(compression?.failed_chunks)}`);
  return { wallMs, tasks: report.tasks };
}

async function measure(url: string, base: string, statistics: StatisticsService): Promise<Sizes> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const chunkCounts = async (hypertable: string) => {
      const { rows } = await client.query<{ chunks: number; compressed: number }>(
        `SELECT count(*)::int AS chunks, count(*) FILTER (WHERE is_compressed)::int AS compressed
           FROM timescaledb_information.chunks WHERE hypertable_name = $1`,
        [hypertable],
      );
      return rows[0];
    };
    const { rows: bars } = await client.query<{ bars: string; bytes: string }>(
      `SELECT (SELECT count(*) FROM market_data_ts) AS bars, hypertable_size('market_data_ts') AS bytes`,
    );
    const barChunks = await chunkCounts('market_data_ts');
    const levels: LevelSize[] = [];
    for (const level of LEVELS) {
      const { rows } = await client.query<{ schema: string; table: string; bytes: string }>(
        `SELECT h.schema_name AS schema, h.table_name AS table,
                hypertable_size(format('%I.%I', a.user_view_schema, a.user_view_name)::regclass) AS bytes
           FROM _timescaledb_catalog.continuous_agg a
           JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id
          WHERE a.user_view_name = $1`,
        [level.view],
      );
      const { schema, table, bytes } = rows[0];
      const count = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${client.escapeIdentifier(schema)}.${client.escapeIdentifier(table)}`,
      );
      const chunks = await chunkCounts(table);
      levels.push({
        ...level,
        bytes: Number(bytes),
        rows: Number(count.rows[0].n),
        chunks: chunks.chunks,
        compressedChunks: chunks.compressed,
      });
    }
    await statistics.refreshNow();
    const res = await fetch(`${base}/api/v1/storage/statistics`);
    const reported = (await res.json()) as Sizes['reported'];
    return {
      bars: Number(bars[0].bars),
      barBytes: Number(bars[0].bytes),
      barChunks: barChunks.chunks,
      barCompressedChunks: barChunks.compressed,
      levels,
      reported,
    };
  } finally {
    await client.end();
  }
}

/** What a task did, in a few words, from its report. */
function summary(task: TaskReport | undefined): string {
  const r = task?.result ?? {};
  switch (task?.name) {
    case 'compression':
      return `${(r.compressed_chunks as unknown[]).length} bar chunks, ${(r.compressed_rollup_chunks as unknown[]).length} rollup chunks compressed`;
    case 'retention':
      return `${(r.dropped_chunks as unknown[]).length} chunks dropped, ${r.deleted_rows as number} rows deleted`;
    case 'partitions':
      return `${(r.created_partitions as unknown[]).length} partitions created`;
    case 'rollup_refresh': {
      const levels = (r.levels ?? []) as { refreshed_from?: string | null }[];
      return `${levels.filter((l) => l.refreshed_from !== undefined).length} of ${levels.length} levels refreshed`;
    }
    default:
      return '';
  }
}

export async function runMaintenanceBench(): Promise<void> {
  const machine = await readMachine();
  const nowMs = Date.now();
  const endMs = dataEndMs(nowMs);
  const startMs = endMs - DAYS * DAY_MS;
  const db = await createBenchDatabase(TIMESCALEDB_ADMIN_URL);
  const app = await createApp(
    loadSettings({
      DATABASE_URL: db.url,
      LOG_LEVEL: 'warn',
      // No timer: the two runs below are all the maintenance there is.
      STATS_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      ROLLUP_REFRESH_INTERVAL_MS: '0',
      MAINTENANCE_INTERVAL_MS: '0',
    }),
  );
  try {
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
    const statistics = app.get(StatisticsService, { strict: false });
    const { rows } = await (async () => {
      const c = new Client({ connectionString: db.url });
      await c.connect();
      try {
        return await c.query<{ v: string; pg: string }>(
          `SELECT extversion AS v, current_setting('server_version') AS pg
             FROM pg_extension WHERE extname = 'timescaledb'`,
        );
      } finally {
        await c.end();
      }
    })();
    if (rows.length === 0) throw new Error(`no TimescaleDB at ${new URL(db.url).host}`);
    const server = `TimescaleDB ${rows[0].v} on PostgreSQL ${rows[0].pg} (${new URL(db.url).host})`;

    const loadStarted = performance.now();
    const stored = await store(base, startMs);
    const loadS = (performance.now() - loadStarted) / 1000;
    const asStored = await measure(db.url, base, statistics);
    const first = await runMaintenance(base);
    const afterFirst = await measure(db.url, base, statistics);
    const second = await runMaintenance(base);
    const afterSecond = await measure(db.url, base, statistics);

    const range = `${new Date(startMs).toISOString().slice(0, 10)} to ${new Date(endMs).toISOString().slice(0, 10)}`;
    recordConditions({
      'maintenance rows': `${stored.toLocaleString('en')} ONE_MINUTE bars, ${INSTRUMENTS} instruments x ${DAYS} days (${range}, ending before the real now so the chunks are old enough), random walks with dollar volume and trade count, through POST /store (${BATCH.toLocaleString('en')} bars a request, ${CONCURRENCY} in flight)`,
      'maintenance engine': `${server}; the service's timers off, two POST /api/v1/storage/maintenance/run`,
      'maintenance load': `${loadS.toFixed(1)} s (${Math.round(stored / loadS).toLocaleString('en')} bars/s)`,
    });
    const title = (what: string) =>
      `${what}, ${stored.toLocaleString('en')} 1-minute bars (${INSTRUMENTS} x ${DAYS} days), ${server} (${conditionsLine(machine)})`;

    const taskNames = first.tasks.map((t) => t.name);
    printTable(
      title('POST /maintenance/run, every task, twice'),
      ['task', 'run 1 took_ms', 'run 1 did', 'run 2 took_ms', 'run 2 did'],
      [
        ...taskNames.map((name) => {
          const a = first.tasks.find((t) => t.name === name);
          const b = second.tasks.find((t) => t.name === name);
          return [name, a?.took_ms ?? '-', summary(a), b?.took_ms ?? '-', summary(b)];
        }),
        [
          'whole request (wall)',
          Math.round(first.wallMs),
          'bars compressed, rollups materialized',
          Math.round(second.wallMs),
          'rollups compressed',
        ],
      ],
    );

    const perBar = (bytes: number) => (bytes / stored).toFixed(1);
    const stage = (label: string, s: Sizes) => [
      label,
      `${s.barCompressedChunks} / ${s.barChunks}`,
      `${s.levels.reduce((n, l) => n + l.compressedChunks, 0)} / ${s.levels.reduce((n, l) => n + l.chunks, 0)}`,
      perBar(s.barBytes),
      perBar(rollupBytes(s)),
      perBar(s.barBytes + rollupBytes(s)),
      `${(s.barBytes / MiB).toFixed(1)} / ${(rollupBytes(s) / MiB).toFixed(1)}`,
      `${(s.reported.total_size_gb * 1024).toFixed(1)} / ${(s.reported.rollups_size_gb * 1024).toFixed(1)}`,
    ];
    printTable(
      title(
        'Bytes per bar: market_data_ts alone and with the four rollups (hypertable_size / bars)',
      ),
      [
        'after',
        'bar chunks compressed',
        'rollup chunks compressed',
        'bars B/bar',
        'rollups B/bar',
        'bars + rollups B/bar',
        'bars / rollups MiB',
        'GET /statistics total_size_gb / rollups_size_gb, in MiB',
      ],
      [
        stage('the store (nothing compressed, no rollup refreshed)', asStored),
        stage('run 1 (bars compressed, rollups refreshed, not compressed)', afterFirst),
        stage('run 2 (rollups compressed)', afterSecond),
      ],
    );

    printTable(
      title('Rollups by level, before and after their compression (run 1 / run 2)'),
      ['level', 'rows', 'chunks compressed', 'MiB', 'bytes per row', 'B per bar'],
      LEVELS.map((level, i) => {
        const a = afterFirst.levels[i];
        const b = afterSecond.levels[i];
        return [
          `${level.timeframe} (${level.view})`,
          b.rows.toLocaleString('en'),
          `${a.compressedChunks} / ${a.chunks} -> ${b.compressedChunks} / ${b.chunks}`,
          `${(a.bytes / MiB).toFixed(2)} -> ${(b.bytes / MiB).toFixed(2)}`,
          `${(a.bytes / Math.max(1, a.rows)).toFixed(1)} -> ${(b.bytes / Math.max(1, b.rows)).toFixed(1)}`,
          `${perBar(a.bytes)} -> ${perBar(b.bytes)}`,
        ];
      }),
    );

    const withRollups = (afterSecond.barBytes + rollupBytes(afterSecond)) / stored;
    recordBudget({
      name: `bytes per bar, rollups included, ${stored.toLocaleString('en')} 1-minute bars, TimescaleDB (ClickHouse: ${CLICKHOUSE_BYTES_PER_BAR})`,
      target: `<= ${CLICKHOUSE_BYTES_PER_BAR} B`,
      measured: `${withRollups.toFixed(1)} B`,
      pass: withRollups <= CLICKHOUSE_BYTES_PER_BAR,
    });
  } finally {
    await app.close();
    await db.drop();
  }
}
