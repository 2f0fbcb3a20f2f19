import { Logger } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Pool } from 'pg';
import { createApp } from '../src/app.factory';
import { AdvisoryLock } from '../src/database/advisory-lock';
import { NO_COMPRESSION_REASON } from '../src/lifecycle/compression.task';
import { DatabaseConnection } from '../src/database/database-connection';
import { DATABASE_CONNECTION } from '../src/database/database.tokens';
import { CompressionTask } from '../src/lifecycle/compression.task';
import { LifecycleTask } from '../src/lifecycle/lifecycle-task';
import { PartitionsTask } from '../src/lifecycle/partitions.task';
import { RetentionTask } from '../src/lifecycle/retention.task';
import { RollupRefreshTask } from '../src/lifecycle/rollup-refresh.task';
import { StatisticsTask } from '../src/lifecycle/statistics.task';
import { TickLifecycleTask } from '../src/lifecycle/tick-lifecycle.task';
import { BarPoint, makeBars } from './support/bars';
import { capabilitiesOf, ENGINES } from './support/test-database';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * The data lifecycle through the real application on every engine:
 * compression and reads back, late data, corrections and deletes in
 * compressed chunks, retention, far-past and far-future stores, and
 * POST /api/v1/storage/maintenance/run. Timers are off: every task runs
 * through the endpoint.
 */
const DAY = 86_400_000;
const TIMERS_OFF = {
  MAINTENANCE_INTERVAL_MS: '0',
  COMPRESSION_JOB_INTERVAL_MS: '0',
  STATS_REFRESH_INTERVAL_MS: '0',
  // Reads span 1900..2200, past the default query range cap.
  MAX_QUERY_RANGE_DAYS: '110000',
};

/** A point as the query answers it. */
function answered(p: BarPoint): Record<string, unknown> {
  return {
    timestamp: new Date(p.timestamp).toISOString(),
    open: p.open,
    high: p.high,
    low: p.low,
    close: p.close,
    volume: p.volume,
    dollar_volume: p.dollar_volume ?? null,
    trade_count: p.trade_count ?? null,
  };
}

/** Values that only survive an exact representation. */
const EDGE_VALUES: Partial<BarPoint>[] = [
  { open: 0.1 + 0.2, high: 1e6 + 0.015625, low: 1e-7, close: 0.30000000000000004 },
  { open: 5e-324, high: 1.7976931348623157e308, low: 5e-324, close: 123456789.12345679 },
  { open: 2.675, high: 2.68, low: 1.005, close: 1.015, dollar_volume: 0.1 + 0.7 },
];

describe.each(ENGINES)('Data lifecycle on %s', (engine) => {
  const { embedded, timescale } = capabilitiesOf(engine);
  let t: TestApp;
  let pool: Pool;

  async function configure(instrumentId: string, retentionDays: number | null) {
    const put = await request(
      t.baseUrl,
      'PUT',
      `/api/v1/storage/configurations/${instrumentId}/ONE_MINUTE`,
      { compression_level: 'MEDIUM', retention_days: retentionDays },
    );
    expect([200, 201]).toContain(put.status);
  }

  async function unconfigure(instrumentId: string) {
    const res = await request(
      t.baseUrl,
      'DELETE',
      `/api/v1/storage/configurations/${instrumentId}/ONE_MINUTE`,
    );
    expect(res.status).toBe(200);
  }

  const store = (instrumentId: string, points: BarPoint[]) =>
    request(t.baseUrl, 'POST', '/api/v1/storage/store', {
      instrument_id: instrumentId,
      timeframe: 'ONE_MINUTE',
      data_points: points,
    });

  async function readAll(
    instrumentId: string,
    from = '1900-01-01T00:00:00Z',
    to = '2200-01-01T00:00:00Z',
  ) {
    const res = await request<{ data_points: Record<string, unknown>[] }>(
      t.baseUrl,
      'GET',
      `/api/v1/storage/query?instrument_id=${instrumentId}&timeframe=ONE_MINUTE&start_time=${from}&end_time=${to}&limit=100000`,
    );
    return res.status === 404 ? [] : res.body.data_points;
  }

  const runMaintenance = (query = '') =>
    request(t.baseUrl, 'POST', `/api/v1/storage/maintenance/run${query}`);

  async function taskResult(name: string): Promise<Record<string, any>> {
    const res = await runMaintenance(`?task=${name}`);
    expect(res.status).toBe(200);
    expect(res.body.tasks).toEqual([expect.objectContaining({ name, status: 'done' })]);
    return (res.body as { tasks: { result: Record<string, any> }[] }).tasks[0].result;
  }

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    // One pooled connection on PostgreSQL: a task holding its lock must not starve its own statements.
    // The service's default retention (the suites' harness keeps forever).
    t = await startTestApp(engine, {
      ...TIMERS_OFF,
      DB_POOL_SIZE: '1',
      RETENTION_DEFAULT_DAYS: '730',
    });
    pool = t.app.get<DatabaseConnection>(DATABASE_CONNECTION).pool;
  });

  afterAll(async () => {
    await t?.close();
  });

  it('should answer every task of a run, and refuse an unknown task or parameter', async () => {
    const res = await runMaintenance();

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      started_at: expect.any(String),
      finished_at: expect.any(String),
      tasks: [
        {
          name: 'compression',
          status: 'done',
          took_ms: expect.any(Number),
          result: expect.any(Object),
        },
        {
          name: 'retention',
          status: 'done',
          took_ms: expect.any(Number),
          result: expect.any(Object),
        },
        {
          name: 'partitions',
          status: 'done',
          took_ms: expect.any(Number),
          result: expect.any(Object),
        },
        {
          name: 'rollup_refresh',
          status: 'done',
          took_ms: expect.any(Number),
          result: expect.any(Object),
        },
        {
          name: 'tick_lifecycle',
          status: 'done',
          took_ms: expect.any(Number),
          result: {
            dry_run: false,
            retention_days: 730,
            dropped_before: expect.any(String),
            compressed_chunks: [],
            skipped_chunks: 0,
            dropped_parts: 0,
          },
        },
        {
          name: 'statistics',
          status: 'done',
          took_ms: expect.any(Number),
          result: expect.objectContaining({ measured: true, measured_at: expect.any(String) }),
        },
      ],
    });
    const [compression, retention, partitions, rollups] = res.body.tasks;
    if (!timescale) {
      expect(compression.result).toMatchObject({ ran: false, reason: NO_COMPRESSION_REASON });
      expect(partitions.result).toEqual({
        created_partitions: [],
        months_ahead: 3,
        tables: ['market_data_ts', 'market_trades_ts', 'market_quotes_ts'],
      });
      expect(rollups.result).toMatchObject({ ran: true, table: 'market_data_rollups' });
    } else {
      expect(compression.result).toMatchObject({ ran: true, compressed_chunks: [] });
      expect(rollups.result).toMatchObject({ ran: true, levels: expect.any(Array) });
    }
    expect(retention.result).toMatchObject({
      dry_run: false,
      default_retention_days: 730,
      deleted_rows: 0,
      dropped_chunks: [],
    });

    const unknown = await runMaintenance('?task=vacuum');
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({
      field: 'task',
      message:
        'task must be one of compression, retention, partitions, rollup_refresh, tick_lifecycle, statistics',
    });
    const extra = await runMaintenance('?now=2030-01-01');
    expect(extra.status).toBe(400);
    expect(extra.body).toMatchObject({ field: 'now' });
  });

  it('should store bars of 1900 and 2199 in one request, creating only the months they fall in', async () => {
    const far: BarPoint[] = [
      { ...makeBars('1900-01-01T00:00:00Z', 1)[0] },
      { ...makeBars('1950-06-15T12:00:00Z', 1, 60_000, 2)[0] },
      { ...makeBars('2199-12-31T23:59:00Z', 1, 60_000, 3)[0] },
    ];
    const before = await partitionNames();
    // Kept forever (the default retention would refuse 1900); the retention test goes back to the default.
    await configure('FAR.EDGE', null);

    const res = await store('FAR.EDGE', far);

    expect(res.status).toBe(200);
    expect(res.body.stored_count).toBe(3);
    await expect(readAll('FAR.EDGE')).resolves.toEqual(far.map(answered));
    if (!timescale) {
      const created = (await partitionNames()).filter((n) => !before.includes(n));
      expect(created.sort()).toEqual([
        'market_data_ts_y1900m01',
        'market_data_ts_y1950m06',
        'market_data_ts_y2199m12',
      ]);
    }
  });

  it('should read compressed bars back exactly and take late bars, corrections and deletes into compressed chunks, idempotently', async () => {
    const instrument = 'LIFE.BACKFILL';
    // Three whole UTC days ending 20 days ago: old enough to compress, young enough to keep.
    const first = Math.floor((Date.now() - 23 * DAY) / DAY) * DAY;
    const middle = new Date(first + DAY).toISOString().slice(0, 10);
    const all = makeBars(new Date(first).toISOString(), 3 * 1440, 60_000, 9);
    EDGE_VALUES.forEach((edge, i) => Object.assign(all[100 + i], edge));
    // Every 7th bar arrives late, after its chunk is compressed.
    const late = all.filter((_, i) => i % 7 === 3);
    const early = all.filter((_, i) => i % 7 !== 3);
    expect((await store(instrument, early)).body.stored_count).toBe(early.length);

    const compressed = await taskResult('compression');
    if (timescale) {
      expect(compressed.compressed_chunks.length).toBeGreaterThan(0);
      await expect(compressedChunkCount()).resolves.toBeGreaterThan(0);
    } else {
      expect(compressed).toMatchObject({ ran: false, reason: NO_COMPRESSION_REASON });
    }
    await expect(readAll(instrument)).resolves.toEqual(early.map(answered));

    if (timescale) {
      // The session's cap on decompressed rows would refuse these writes; the repository lifts it.
      // (DB_POOL_SIZE 1: the pool's one session is the repository's, so the SET reaches it.)
      await pool.query('SET timescaledb.max_tuples_decompressed_per_dml_transaction = 10');
    }
    try {
      // Late bars, and a correction of every 5th early bar (close moved to open), twice.
      const corrected = early
        .filter((_, i) => i % 5 === 0)
        .map((p) => ({ ...p, close: p.open, volume: Number(p.volume) + 1 }));
      for (let attempt = 0; attempt < 2; attempt++) {
        expect((await store(instrument, late)).body.stored_count).toBe(late.length);
        expect((await store(instrument, corrected)).body.stored_count).toBe(corrected.length);
      }
      const byTime = new Map(all.map((p) => [p.timestamp, p]));
      corrected.forEach((p) => byTime.set(p.timestamp, p));
      const expected = [...byTime.values()].map(answered);
      await expect(readAll(instrument)).resolves.toEqual(expected);

      // Recompressing the written-to chunks changes nothing a reader sees.
      const again = await taskResult('compression');
      if (timescale) expect(again.compressed_chunks.length).toBeGreaterThan(0);
      await expect(readAll(instrument)).resolves.toEqual(expected);

      // A delete of the middle day out of compressed chunks.
      const deleted = await request(
        t.baseUrl,
        'DELETE',
        `/api/v1/storage/instruments/${instrument}?timeframe=ONE_MINUTE&start_time=${middle}T00:00:00Z&end_time=${new Date(first + 2 * DAY).toISOString()}`,
      );
      expect(deleted.body.deleted_count).toBe(1440);
      await expect(readAll(instrument)).resolves.toEqual(
        expected.filter((p) => !String(p.timestamp).startsWith(middle)),
      );
    } finally {
      if (timescale) {
        await pool.query('RESET timescaledb.max_tuples_decompressed_per_dml_transaction');
      }
    }
  });

  it('should keep each series for its retention, uncapped, and drop only what is past it', async () => {
    const now = Date.now();
    const ages = [10, 40, 800, 3200, 3700];
    /** Three bars at the start of the UTC day `days` ago. */
    const barsAged = (days: number, seed: number) =>
      makeBars(new Date(Math.floor((now - days * DAY) / DAY) * DAY).toISOString(), 3, 60_000, seed);
    const series: Record<string, number | undefined> = {
      'RET.DEFAULT': undefined, // 730 days
      'RET.SHORT': 30,
      'RET.LONG': 3000,
      'RET.HUGE': 5000, // no cap: kept as configured
    };
    // As a user gets there: kept forever while stored, then a shorter retention (or the default).
    for (const [instrument, days] of Object.entries(series)) {
      await configure(instrument, null);
      const points = ages.flatMap((age, i) => barsAged(age, i + 1));
      expect((await store(instrument, points)).body.stored_count).toBe(15);
      if (days === undefined) await unconfigure(instrument);
      else await configure(instrument, days);
    }
    await unconfigure('FAR.EDGE');
    await taskResult('compression');
    // Cached before retention: the answer must not outlive the rows.
    expect(await readAll('RET.DEFAULT')).toHaveLength(15);

    const result = await taskResult('retention');

    const kept = async (instrument: string) => {
      const left = new Set(
        (await readAll(instrument)).map((p) => String(p.timestamp).slice(0, 10)),
      );
      return ages.filter((age) => left.has(barsAged(age, 1)[0].timestamp.slice(0, 10)));
    };
    await expect(kept('RET.DEFAULT')).resolves.toEqual([10, 40]);
    await expect(kept('RET.SHORT')).resolves.toEqual([10]);
    await expect(kept('RET.LONG')).resolves.toEqual([10, 40, 800]);
    await expect(kept('RET.HUGE')).resolves.toEqual([10, 40, 800, 3200, 3700]);
    // Older than every retention: gone with their whole chunk or partition (1900, 1950 too).
    await expect(readAll('FAR.EDGE')).resolves.toEqual([
      expect.objectContaining({ timestamp: '2199-12-31T23:59:00.000Z' }),
    ]);
    expect(result).toMatchObject({
      longest_retention_days: 5000,
      dropped_chunks: expect.any(Array),
    });
    // The chunks or partitions of 1900 and 1950, older than every retention.
    expect(result.dropped_chunks.length).toBeGreaterThanOrEqual(2);
    if (!timescale) {
      expect(result.dropped_chunks).toEqual(
        expect.arrayContaining(['market_data_ts_y1900m01', 'market_data_ts_y1950m06']),
      );
      expect(await partitionNames()).not.toContain('market_data_ts_y1900m01');
    }
    // The backfilled series is within the default 730 days.
    expect(result.deleted_by_series).not.toContainEqual(
      expect.objectContaining({ instrument_id: 'LIFE.BACKFILL' }),
    );

    const second = await taskResult('retention');
    expect(second).toMatchObject({ dropped_chunks: [], deleted_rows: 0, deleted_by_series: [] });
  });

  // A second instance on the same database: only a server has more than one session.
  if (!embedded) {
    describe('beside a second instance on the same database', () => {
      let other: NestFastifyApplication;
      const TASKS: [string, new (...args: never[]) => LifecycleTask][] = [
        ['compression', CompressionTask],
        ['retention', RetentionTask],
        ['partitions', PartitionsTask],
        ['rollup_refresh', RollupRefreshTask],
        ['tick_lifecycle', TickLifecycleTask],
        ['statistics', StatisticsTask],
      ];

      beforeAll(async () => {
        // A settings object of its own: one open connection per settings object.
        other = await createApp({ ...t.db.settings });
        await other.init();
      });

      afterAll(async () => {
        await other?.close();
      });

      it.each(TASKS)(
        'should skip %s while the other instance holds its lock, and run it once freed',
        async (name, type) => {
          const task = other.get(type, { strict: false });
          let release!: () => void;
          const released = new Promise<void>((resolve) => (release = resolve));
          let holding!: () => void;
          const held = new Promise<void>((resolve) => (holding = resolve));
          // The other instance's lock helper, with the key its task runs under.
          const holder = other.get(AdvisoryLock, { strict: false }).run(task.lockKey, async () => {
            holding();
            await released;
            return 'held';
          });
          await held;
          try {
            const res = await runMaintenance(`?task=${name}`);
            expect(res.status).toBe(200);
            expect(res.body.tasks).toEqual([
              {
                name,
                status: 'skipped',
                took_ms: expect.any(Number),
                reason: 'another instance is running this task',
              },
            ]);
          } finally {
            release();
          }
          await expect(holder).resolves.toBe('held');
          await taskResult(name);
        },
      );
    });
  }

  if (!timescale) {
    it('should report a compression ratio of 0 with its reason in the statistics', async () => {
      const res = await request(t.baseUrl, 'GET', '/api/v1/storage/statistics');
      expect(res.body).toMatchObject({
        engine: 'postgresql',
        compression_ratio: 0,
        compression_note: 'plain PostgreSQL has no compression',
      });
    });
  }

  async function partitionNames(): Promise<string[]> {
    if (timescale) return [];
    const { rows } = await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'market_data_ts'::regclass`,
    );
    return rows.map((r) => r.name);
  }

  async function compressedChunkCount(): Promise<number> {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM timescaledb_information.chunks
        WHERE hypertable_name = 'market_data_ts' AND is_compressed`,
    );
    return rows[0].n;
  }
});
