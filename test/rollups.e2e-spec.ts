import { PointField, POINT_FIELDS, TimeFrame } from '../src/common/market-data.types';
import { CompressionReport, NO_COMPRESSION_REASON } from '../src/lifecycle/compression.task';
import { DatabaseConnection } from '../src/database/database-connection';
import { DATABASE_CONNECTION } from '../src/database/database.tokens';
import { BarsReader } from '../src/repositories/bars.reader';
import { TimeRange } from '../src/repositories/market-data.repository';
import { RollupsRepository } from '../src/repositories/rollups.repository';
import { RetentionRepository } from '../src/repositories/retention.repository';
import { runAppTask } from './support/lifecycle';
import { BarPoint, makeBars } from './support/bars';
import { capabilitiesOf, ENGINES } from './support/test-database';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * Derived timeframes through the API equal the raw derivation (every bucket
 * recomputed from the stored minutes) on every engine, from the rollups
 * before any refresh, after one, after late and corrected bars, after
 * deletes, and with writes into compressed chunks: on TimescaleDB (the
 * embedded engine and the server) the continuous aggregates, on plain
 * PostgreSQL the service's table market_data_rollups.
 */

const ID = 'RLP.A';
const DAY_MS = 86_400_000;
const START = '2025-03-03T00:00:00.000Z';
/** Three UTC days of minutes. */
const END = '2025-03-06T00:00:00.000Z';
const TARGETS = [
  TimeFrame.FIVE_MINUTES,
  TimeFrame.FIFTEEN_MINUTES,
  TimeFrame.ONE_HOUR,
  TimeFrame.ONE_DAY,
];

interface Shape {
  readonly start: string;
  readonly end: string;
  readonly fields?: readonly PointField[];
  readonly limit?: number;
  readonly offset?: number;
}

/** The whole span, an unaligned slice, and a projected page. */
const SHAPES: readonly Shape[] = [
  { start: START, end: END },
  { start: '2025-03-04T09:07:00Z', end: '2025-03-05T13:50:00Z' },
  {
    start: START,
    end: END,
    fields: ['timestamp', 'high', 'volume', 'dollar_volume', 'trade_count'],
    limit: 7,
    offset: 3,
  },
];

function minuteBars(): BarPoint[] {
  const bars = makeBars(START, (Date.parse(END) - Date.parse(START)) / 60_000, 60_000, 7);
  // Missing values make a bucket's sum null; a volume past 2^53 must stay exact.
  bars[17].dollar_volume = null;
  bars[1500].trade_count = null;
  bars[2000].volume = '9007199254740993';
  return bars;
}

function bar(timestamp: string, overrides: Partial<BarPoint> = {}): BarPoint {
  return {
    timestamp,
    open: 101.25,
    high: 140.5,
    low: 90.01,
    close: 99.99,
    volume: 777,
    dollar_volume: 77_692.23,
    trade_count: 9,
    ...overrides,
  };
}

describe.each(ENGINES)('Rollups on %s', (engine) => {
  const { timescale } = capabilitiesOf(engine);
  let t: TestApp;
  let bars: BarsReader;
  let rollups: RollupsRepository;
  /** The refresh task at `now`, as POST /maintenance/run starts it (under its lock). */
  const task = { run: (now: Date) => runAppTask(t.app, 'rollup_refresh', now) };
  let db: DatabaseConnection;

  beforeAll(async () => {
    t = await startTestApp(engine, {
      ROLLUP_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      STATS_REFRESH_INTERVAL_MS: '0',
      MAINTENANCE_INTERVAL_MS: '0',
      // The compressed-chunk cases need several chunks within the few days of data here.
      LAYOUT_CHUNK_INTERVAL_HOURS: '24',
    });
    bars = t.app.get(BarsReader);
    rollups = t.app.get(RollupsRepository);
    db = t.app.get<DatabaseConnection>(DATABASE_CONNECTION);
    await store(minuteBars());
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  async function store(points: BarPoint[]): Promise<void> {
    const res = await request(t.baseUrl, 'POST', '/api/v1/storage/store', {
      instrument_id: ID,
      timeframe: 'ONE_MINUTE',
      data_points: points,
    });
    expect(res.status).toBe(200);
    expect(res.body.failed_count).toBe(0);
  }

  async function remove(start: string, end: string): Promise<number> {
    const res = await request(
      t.baseUrl,
      'DELETE',
      `/api/v1/storage/instruments/${ID}?start_time=${start}&end_time=${end}`,
    );
    expect(res.status).toBe(200);
    return res.body.deleted_count as number;
  }

  /** The bucket-aligned source range of a shape, as the query service rounds it. */
  function sourceRange(target: TimeFrame, shape: Shape): TimeRange {
    const step =
      { FIVE_MINUTES: 300_000, FIFTEEN_MINUTES: 900_000, ONE_HOUR: 3_600_000 }[target as string] ??
      DAY_MS;
    const up = (ms: number) => Math.ceil(ms / step) * step;
    return { fromMs: up(Date.parse(shape.start)), toMs: up(Date.parse(shape.end)) };
  }

  /**
   * Every target and shape: the API answer and the rollups' answer are the
   * raw derivation, byte for byte (volumes above 2^53 included).
   */
  async function expectAnswersEqualRaw(viaApi = true): Promise<void> {
    for (const target of TARGETS) {
      for (const shape of SHAPES) {
        const fields = shape.fields ?? POINT_FIELDS;
        const page = { limit: shape.limit ?? 1000, offset: shape.offset ?? 0 };
        const range = sourceRange(target, shape);
        const raw = await bars.findDerivedRange(
          ID,
          TimeFrame.ONE_MINUTE,
          target,
          range,
          fields,
          page,
        );
        expect(raw.totalCount).toBeGreaterThan(0);

        const fromRollups = await rollups.findDerivedRange(ID, target, range, fields, page);
        expect(fromRollups).toEqual(raw);

        if (!viaApi) continue;
        const query = new URLSearchParams({
          instrument_id: ID,
          timeframe: target,
          start_time: shape.start,
          end_time: shape.end,
          limit: String(page.limit),
          offset: String(page.offset),
          fields: fields.filter((f) => f !== 'timestamp').join(','),
        });
        const res = await request(t.baseUrl, 'GET', `/api/v1/storage/query?${query.toString()}`);
        expect(res.status).toBe(200);
        expect(res.body.derived_from).toBe('ONE_MINUTE');
        expect(res.text).toContain(
          `"data_points":${raw.pointsJson},"total_count":${raw.totalCount},`,
        );
      }
    }
  }

  /** The compression task through the maintenance endpoint, as an operator runs it. */
  async function compressNow(): Promise<CompressionReport> {
    const res = await request(
      t.baseUrl,
      'POST',
      '/api/v1/storage/maintenance/run?task=compression',
    );
    expect(res.status).toBe(200);
    expect(res.body.tasks).toEqual([
      expect.objectContaining({ name: 'compression', status: 'done' }),
    ]);
    return res.body.tasks[0].result as CompressionReport;
  }

  /** Chunks of each rollup's materialized hypertable, by view: [compressed, all, partial]. */
  async function rollupChunks(): Promise<Record<string, [number, number, number]>> {
    const { rows } = await db.pool.query<{
      view: string;
      compressed: number;
      all: number;
      partial: number;
    }>(
      `SELECT a.user_view_name AS view, count(*) FILTER (WHERE c.is_compressed)::int AS compressed,
              count(*)::int AS all, count(*) FILTER (WHERE s.status & 8 <> 0)::int AS partial
         FROM _timescaledb_catalog.continuous_agg a
         JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id
         JOIN timescaledb_information.chunks c
           ON c.hypertable_schema = h.schema_name AND c.hypertable_name = h.table_name
         JOIN _timescaledb_catalog.chunk s
           ON s.schema_name = c.chunk_schema AND s.table_name = c.chunk_name
        GROUP BY 1 ORDER BY 1`,
    );
    return Object.fromEntries(rows.map((r) => [r.view, [r.compressed, r.all, r.partial]]));
  }

  /**
   * The stored 1-hour bucket, bypassing the stale check: the aggregate's own
   * view (materialized part and real-time part) on TimescaleDB, the
   * materialized row on plain PostgreSQL.
   */
  async function viewHour(bucket: string): Promise<{ high: number; volume: string } | undefined> {
    const { rows } = await db.pool.query<{ high: number; volume: string }>(
      timescale
        ? `SELECT high_price::float8 AS high, volume FROM market_data_1h WHERE instrument_id = $1 AND bucket = $2`
        : `SELECT high_price::float8 AS high, volume FROM market_data_rollups
            WHERE instrument_id = $1 AND timeframe = 'ONE_HOUR' AND bucket = $2`,
      [ID, bucket],
    );
    return rows[0];
  }

  it('should answer derived timeframes equal to the raw derivation before any refresh', async () => {
    await expectAnswersEqualRaw();
  });

  it('should refresh the rollups: per level on TimescaleDB, whole days on plain PostgreSQL', async () => {
    const report = await task.run(new Date('2025-03-05T12:00:00Z'));

    if (!timescale) {
      // Nothing was materialized: from the first minute's day to one whole day before today.
      expect(report).toEqual({
        ran: true,
        table: 'market_data_rollups',
        changed_spans: 0,
        materialized_from: START,
        materialized_until: '2025-03-04T00:00:00.000Z',
        took_ms: expect.any(Number),
      });
      const { rows } = await db.pool.query<{ timeframe: string; buckets: number }>(
        `SELECT timeframe, count(*)::int AS buckets FROM market_data_rollups
          WHERE instrument_id = $1 GROUP BY 1 ORDER BY 2`,
        [ID],
      );
      expect(rows).toEqual([
        { timeframe: 'ONE_DAY', buckets: 1 },
        { timeframe: 'ONE_HOUR', buckets: 24 },
        { timeframe: 'FIFTEEN_MINUTES', buckets: 96 },
        { timeframe: 'FIVE_MINUTES', buckets: 288 },
      ]);
      return;
    }
    expect(report.ran).toBe(true);
    expect(report.levels).toEqual([
      expect.objectContaining({
        view: 'market_data_5m',
        refreshed_until: '2025-03-05T11:55:00.000Z',
      }),
      expect.objectContaining({
        view: 'market_data_15m',
        refreshed_until: '2025-03-05T11:45:00.000Z',
      }),
      expect.objectContaining({
        view: 'market_data_1h',
        refreshed_until: '2025-03-05T11:00:00.000Z',
      }),
      expect.objectContaining({
        view: 'market_data_1d',
        refreshed_until: '2025-03-04T00:00:00.000Z',
      }),
    ]);
    const { rows } = await db.pool.query<{ hours: string }>(
      `SELECT count(*) AS hours FROM market_data_1h WHERE instrument_id = $1 AND bucket < '2025-03-05T11:00:00Z'`,
      [ID],
    );
    expect(Number(rows[0].hours)).toBe(24 + 24 + 11);
  });

  it('should stay equal after the refresh, the newest buckets computed in real time', async () => {
    await expectAnswersEqualRaw();
  });

  it('should read materialized buckets from the rollups, not from the raw bars', async () => {
    const table = timescale
      ? (
          await db.pool.query<{ table: string }>(
            `SELECT format('%I.%I', h.schema_name, h.table_name) AS table
               FROM _timescaledb_catalog.continuous_agg c
               JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id
              WHERE c.user_view_name = 'market_data_1d'`,
          )
        ).rows[0].table
      : `market_data_rollups`;
    const level = timescale ? '' : `AND timeframe = 'ONE_DAY'`;
    const day = { fromMs: Date.parse(START), toMs: Date.parse(START) + DAY_MS };
    const read = () =>
      rollups.findDerivedRange(ID, TimeFrame.ONE_DAY, day, ['timestamp', 'volume'], {
        limit: 10,
        offset: 0,
      });
    const honest = await read();
    // Nothing above the daily level logs this write: only a read of the aggregate can see it.
    await db.pool.query(
      `UPDATE ${table} SET volume = 42 WHERE instrument_id = $1 AND bucket = $2 ${level}`,
      [ID, START],
    );
    try {
      expect(await read()).toEqual({
        totalCount: 1,
        pointsJson: `[{"timestamp":"${START}","volume":42}]`,
      });
    } finally {
      await db.pool.query(
        `UPDATE ${table} SET volume = $3::numeric WHERE instrument_id = $1 AND bucket = $2 ${level}`,
        [ID, START, JSON.parse(honest!.pointsJson)[0].volume],
      );
    }
    expect(await read()).toEqual(honest);
  });

  it('should stay equal after late and corrected bars and a delete, before and after a refresh', async () => {
    const before = timescale ? await viewHour('2025-03-04T10:00:00Z') : undefined;
    expect(await remove('2025-03-04T09:00:00Z', '2025-03-04T09:03:00Z')).toBe(3);
    await store([
      // A late bar into the gap, and a correction of a stored one.
      bar('2025-03-04T09:01:00.000Z', { dollar_volume: null }),
      bar('2025-03-04T10:02:00.000Z', { high: 250.75, volume: '123456789012' }),
    ]);
    // A whole bucket of every level gone.
    expect(await remove('2025-03-03T00:00:00Z', '2025-03-03T01:00:00Z')).toBe(60);

    if (timescale) {
      // The materialized hour still holds the old bar: without the stale check the answer would be wrong.
      expect(await viewHour('2025-03-04T10:00:00Z')).toEqual(before);
      expect(before!.high).toBeLessThan(250.75);
    } else {
      // The deleted hour is materialized (the day before the watermark) and still there.
      expect(await viewHour('2025-03-03T00:00:00Z')).toBeDefined();
    }
    await expectAnswersEqualRaw();

    const report = await task.run(new Date('2025-03-07T00:00:00Z'));
    if (!timescale) {
      // The delete below the watermark is a change (its day rebuilt); the rest is new window.
      expect(report).toMatchObject({
        changed_spans: 1,
        materialized_from: '2025-03-04T00:00:00.000Z',
        materialized_until: '2025-03-06T00:00:00.000Z',
      });
      expect(await viewHour('2025-03-04T10:00:00Z')).toMatchObject({ high: 250.75 });
      expect(await viewHour('2025-03-03T00:00:00Z')).toBeUndefined();
    } else {
      expect(await viewHour('2025-03-04T10:00:00Z')).toMatchObject({ high: 250.75 });
      expect(await viewHour('2025-03-03T00:00:00Z')).toBeUndefined();
      // The window starts at the oldest change (the deleted first hour), not at the beginning of time.
      expect((report.levels as object[])[0]).toMatchObject({
        view: 'market_data_5m',
        refreshed_from: '2025-03-03T00:00:00.000Z',
        refreshed_until: '2025-03-06T23:55:00.000Z',
      });
    }
    await expectAnswersEqualRaw();
  });

  it('should refresh nothing when nothing changed since the last refresh', async () => {
    const report = await task.run(new Date('2025-03-07T00:00:00Z'));

    if (!timescale) {
      expect(report).toMatchObject({ changed_spans: 0 });
      expect(report).not.toHaveProperty('materialized_from');
      return;
    }
    expect(report.levels).toHaveLength(4);
    for (const level of report.levels as object[]) {
      expect(level).toMatchObject({ pending_ranges: 0 });
      expect(level).not.toHaveProperty('refreshed_from');
    }
  });

  it('should leave no TimescaleDB job on the tables: the service owns refresh and compression', async () => {
    if (!timescale) return;
    // TimescaleDB's own housekeeping jobs (telemetry, job history) belong to no table.
    const { rows } = await db.pool.query<{ proc_name: string }>(
      `SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL`,
    );
    expect(rows).toEqual([]);
  });

  it('should stay equal with upserts and deletes into compressed chunks', async () => {
    if (timescale) {
      const { rows } = await db.pool.query<{ chunk: string }>(
        `SELECT compress_chunk(c, if_not_compressed => true)::text AS chunk FROM show_chunks('market_data_ts') c`,
      );
      expect(rows.length).toBeGreaterThanOrEqual(3);
    }
    await store([
      bar('2025-03-03T12:34:00.000Z', { low: 1.5, trade_count: null }),
      bar('2025-03-05T23:59:00.000Z', { close: 140.5, volume: 5 }),
    ]);
    expect(await remove('2025-03-05T20:00:00Z', '2025-03-05T20:30:00Z')).toBe(30);
    await expectAnswersEqualRaw();

    const report = await task.run(new Date('2025-03-07T00:00:00Z'));
    if (timescale) {
      expect((report.levels as { pending_ranges: number }[])[0].pending_ranges).toBeGreaterThan(0);
    } else {
      // Two days touched below the watermark (03-03; 03-05 twice), merged per day.
      expect(report).toMatchObject({ changed_spans: 2 });
    }
    await expectAnswersEqualRaw();
  });

  it('should stay equal with late and corrected bars into compressed rollup chunks, refreshed into them', async () => {
    // Every rollup chunk here ends by 2025-03-13: long past, so all of them are due.
    const report = await compressNow();
    if (!timescale) {
      expect(report).toMatchObject({ ran: false, reason: NO_COMPRESSION_REASON });
    } else {
      expect(report).toMatchObject({ ran: true, skipped_rollup_chunks: 0, failed_chunks: [] });
      expect(new Set(report.compressed_rollup_chunks.map((c) => c.timeframe))).toEqual(
        new Set(TARGETS),
      );
      for (const [compressed, all] of Object.values(await rollupChunks())) {
        expect(compressed).toBe(all);
      }
    }
    await expectAnswersEqualRaw();

    const before = timescale ? await viewHour('2025-03-04T15:00:00Z') : undefined;
    await store([
      // A correction of a stored minute and a late bar into a deleted span.
      bar('2025-03-04T15:07:00.000Z', { high: 444.44, volume: '98765432109', trade_count: null }),
      bar('2025-03-05T20:10:00.000Z', { low: 0.5, dollar_volume: 12.34 }),
    ]);
    if (timescale) {
      // The compressed materialization still holds the old hour: the answer must not come from it.
      expect(await viewHour('2025-03-04T15:00:00Z')).toEqual(before);
    }
    await expectAnswersEqualRaw();

    await task.run(new Date('2025-03-07T00:00:00Z'));
    if (timescale) {
      // Re-materialized into the compressed chunks: those are partial until compressed again.
      expect(await viewHour('2025-03-04T15:00:00Z')).toMatchObject({ high: 444.44 });
      const partial = Object.values(await rollupChunks()).filter(([, , p]) => p > 0);
      expect(partial.length).toBeGreaterThan(0);
    }
    await expectAnswersEqualRaw();

    const again = await compressNow();
    if (timescale) {
      expect(again.compressed_rollup_chunks.length).toBeGreaterThan(0);
      for (const [compressed, all, partial] of Object.values(await rollupChunks())) {
        expect([compressed, partial]).toEqual([all, 0]);
      }
    }
    await expectAnswersEqualRaw();
  });

  it('should stay equal when a coarser level is refreshed ahead of the finer ones', async () => {
    await store([bar('2025-03-05T16:20:00.000Z', { volume: 31, high: 333.33 })]);
    if (timescale) {
      // Built from the 15-minute level, which does not hold the new bar yet.
      await db.pool.query(
        `CALL refresh_continuous_aggregate('market_data_1h', NULL::timestamptz, '2025-03-06T00:00:00Z'::timestamptz)`,
      );
    }
    await expectAnswersEqualRaw();
  });

  it('should stay equal after a bulk store of new bars below the watermark (COPY on a server)', async () => {
    // 600 minutes gone and refreshed away, then stored again as new rows: one plain COPY.
    const span = makeBars('2025-03-05T00:00:00Z', 600, 60_000, 11);
    expect(await remove('2025-03-05T00:00:00Z', '2025-03-05T10:00:00Z')).toBe(600);
    await task.run(new Date('2025-03-07T00:00:00Z'));
    if (!timescale) expect(await viewHour('2025-03-05T05:00:00Z')).toBeUndefined();
    await store(span);

    await expectAnswersEqualRaw(false);
    await task.run(new Date('2025-03-07T00:00:00Z'));
    expect(await viewHour('2025-03-05T05:00:00Z')).toBeDefined();
    await expectAnswersEqualRaw(false);
  });

  it('should stay equal when a write commits after a refresh began', async () => {
    if (timescale) return; // TimescaleDB's invalidation log: its own transactional rules
    await task.run(new Date('2025-03-07T00:00:00Z'));
    const writer = await db.pool.connect();
    try {
      await writer.query('BEGIN');
      // A correction of a materialized minute, not committed before the refresh has begun.
      await writer.query(
        `UPDATE market_data_ts SET high_price = 555.55
          WHERE instrument_id = $1 AND timeframe = 'ONE_MINUTE' AND "timestamp" = '2025-03-04T11:11:00Z'`,
        [ID],
      );
      // The refresh cannot see the write (nor its log row) and is not held up by it.
      expect(await task.run(new Date('2025-03-07T00:00:00Z'))).toMatchObject({ changed_spans: 0 });
      await writer.query('COMMIT');
    } finally {
      writer.release();
    }
    // The hour materialized without it is stale; the change logged with the write reads it raw.
    expect((await viewHour('2025-03-04T11:00:00Z'))!.high).toBeLessThan(555.55);
    await expectAnswersEqualRaw(false);
    await task.run(new Date('2025-03-07T00:00:00Z'));
    expect(await viewHour('2025-03-04T11:00:00Z')).toMatchObject({ high: 555.55 });
    await expectAnswersEqualRaw(false);
  });

  it('should stay equal after retention drops whole chunks', async () => {
    if (!timescale) {
      // A whole month: every bar here. Its rollups go with the partition.
      const buckets = () =>
        db.pool
          .query<{ n: number }>(`SELECT count(*)::int AS n FROM market_data_rollups`)
          .then((r) => r.rows[0].n);
      expect(await buckets()).toBeGreaterThan(0);
      const dropped = await t.app
        .get(RetentionRepository)
        .dropWholeChunksBefore(new Date('2025-04-01T00:00:00Z'));
      expect(dropped).toContain('market_data_ts_y2025m03');
      expect(await buckets()).toBe(0);
      for (const target of TARGETS) {
        const range = sourceRange(target, SHAPES[0]);
        const page = { limit: 1000, offset: 0 };
        const raw = await bars.findDerivedRange(
          ID,
          TimeFrame.ONE_MINUTE,
          target,
          range,
          POINT_FIELDS,
          page,
        );
        expect(raw.totalCount).toBe(0);
        expect(await rollups.findDerivedRange(ID, target, range, POINT_FIELDS, page)).toEqual(raw);
      }
      return;
    }
    // drop_chunks logs the dropped range as invalidated: read raw (nothing) until the refresh drops the buckets.
    await db.pool.query(
      `SELECT drop_chunks('market_data_ts', older_than => '2025-03-04T00:00:00Z'::timestamptz)`,
    );
    // Straight to the repositories: the query cache knows nothing of a drop made in SQL.
    await expectAnswersEqualRaw(false);
    await task.run(new Date('2025-03-07T00:00:00Z'));
    await expectAnswersEqualRaw(false);
    expect(await viewHour('2025-03-03T10:00:00Z')).toBeUndefined();
  });
});
