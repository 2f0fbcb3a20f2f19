import { Logger } from '@nestjs/common';
import {
  CompressionLevel,
  POINT_FIELDS,
  SeriesKey,
  TimeFrame,
} from '../src/common/market-data.types';
import { AdvisoryLock } from '../src/database/advisory-lock';
import { ADVISORY_LOCKS } from '../src/database/advisory-locks';
import {
  CompressionReport,
  CompressionTask,
  NO_COMPRESSION_REASON,
} from '../src/lifecycle/compression.task';
import { runTask } from './support/lifecycle';
import { BarsReader } from '../src/repositories/bars.reader';
import { CompressionRepository } from '../src/repositories/compression.repository';
import { ConfigurationRepository } from '../src/repositories/configuration.repository';
import { ConfigurationService } from '../src/configuration/configuration.service';
import { DatabaseConnection } from '../src/database/database-connection';
import { MarketDataRepository } from '../src/repositories/market-data.repository';
import { readMigrations } from '../src/database/migration-runner';
import { makeBarRows } from './support/bar-rows';
import { createTestDatabase, TestDatabase, TIMESCALE_ENGINES } from './support/test-database';

/**
 * The compression policy job against real databases: TimescaleDB (the
 * embedded engine and the server) compresses by configuration; plain PostgreSQL has nothing
 * to compress.
 */

const FIVE_MINUTES = 5 * 60_000;
const MIGRATION_VERSION = '20261126131000';

const NONE_SERIES: SeriesKey = { instrumentId: 'CMP.NONE', timeframe: TimeFrame.ONE_MINUTE };
const HIGH_SERIES: SeriesKey = { instrumentId: 'CMP.HIGH', timeframe: TimeFrame.ONE_MINUTE };
/** No configuration: MEDIUM, the default. */
const DEFAULT_SERIES: SeriesKey = { instrumentId: 'CMP.DEFAULT', timeframe: TimeFrame.ONE_MINUTE };

/** One chunk per UTC day (the hypertable's chunk interval), and the series stored in it. */
const DAYS: readonly { day: string; series: readonly SeriesKey[] }[] = [
  { day: '2025-01-01', series: [NONE_SERIES] },
  { day: '2025-01-02', series: [HIGH_SERIES] },
  { day: '2025-01-03', series: [NONE_SERIES, HIGH_SERIES] },
  { day: '2025-01-04', series: [DEFAULT_SERIES] },
  { day: '2025-01-05', series: [HIGH_SERIES, DEFAULT_SERIES] },
  { day: '2025-01-06', series: [HIGH_SERIES] },
];

interface ChunkState {
  day: string;
  compressed: boolean;
}

describe.each(TIMESCALE_ENGINES)('CompressionTask on %s (TimescaleDB)', (engine) => {
  let db: TestDatabase;
  let connection: DatabaseConnection;
  let marketData: MarketDataRepository;
  let bars: BarsReader;
  let configurations: ConfigurationService;
  let job: CompressionTask;
  /** One run of the task at `iso`, as the scheduler starts it (under its lock). */
  const compressAt = async (iso: string) =>
    (await runTask(connection, job, new Date(iso))) as CompressionReport;
  /** Chunk name -> the UTC day it covers. */
  let dayOfChunk: Map<string, string>;

  async function chunkStates(): Promise<ChunkState[]> {
    const { rows } = await connection.pool.query<ChunkState>(
      `SELECT to_char(c.range_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
              s.compression_status = 'Compressed' AS compressed
         FROM timescaledb_information.chunks c
         JOIN chunk_compression_stats('market_data_ts') s
           ON s.chunk_schema = c.chunk_schema AND s.chunk_name = c.chunk_name
        WHERE c.hypertable_name = 'market_data_ts'
        ORDER BY c.range_start`,
    );
    return rows;
  }

  async function readSeries(series: SeriesKey): Promise<unknown[]> {
    const page = await bars.findRange(
      series,
      { fromMs: Date.parse('2025-01-01T00:00:00Z'), toMs: Date.parse('2025-01-08T00:00:00Z') },
      POINT_FIELDS,
      { limit: 100_000, offset: 0 },
    );
    return JSON.parse(page.pointsJson) as unknown[];
  }

  function daysOf(report: { compressed_chunks: { chunk: string }[] }): string[] {
    return report.compressed_chunks.map((c) => dayOfChunk.get(c.chunk) ?? c.chunk);
  }

  const allSeries = [NONE_SERIES, HIGH_SERIES, DEFAULT_SERIES];
  const before = new Map<SeriesKey, unknown[]>();

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase(engine);
    connection = await DatabaseConnection.open(db.settings);
    marketData = new MarketDataRepository(connection);
    bars = new BarsReader(connection);
    configurations = new ConfigurationService(
      new ConfigurationRepository(connection.dataSource),
      db.settings,
    );
    job = new CompressionTask(new CompressionRepository(connection));

    await configurations.put(NONE_SERIES, { compression_level: CompressionLevel.NONE });
    await configurations.put(HIGH_SERIES, { compression_level: CompressionLevel.HIGH });
    for (const [i, { day, series }] of DAYS.entries()) {
      for (const [j, key] of series.entries()) {
        // A bar every 5 minutes all day long; each series its own prices.
        await marketData.upsertBars(
          key,
          makeBarRows(`${day}T00:00:00Z`, 288, FIVE_MINUTES, 10 * i + j + 1),
        );
      }
    }
    for (const key of allSeries) before.set(key, await readSeries(key));
    const { rows } = await connection.pool.query<{ name: string; day: string }>(
      `SELECT format('%I.%I', chunk_schema, chunk_name) AS name,
              to_char(range_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day
         FROM timescaledb_information.chunks WHERE hypertable_name = 'market_data_ts'`,
    );
    dayOfChunk = new Map(rows.map((r) => [r.name, r.day]));
  });

  afterAll(async () => {
    await connection?.close();
    await db?.drop();
  });

  it('should start with one uncompressed chunk per day and no TimescaleDB compression policy', async () => {
    await expect(chunkStates()).resolves.toEqual(
      DAYS.map(({ day }) => ({ day, compressed: false })),
    );
    const { rows } = await connection.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_compression' AND hypertable_name = 'market_data_ts'`,
    );
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('should compress exactly the chunks whose series all allow it', async () => {
    // Jan 5 ended 12 hours before: its default (MEDIUM) series needs 24 hours; Jan 6 has not ended.
    const report = await compressAt('2025-01-06T12:00:00Z');

    expect(report).toMatchObject({ ran: true, skipped: 4, failed_chunks: [] });
    expect(daysOf(report)).toEqual(['2025-01-02', '2025-01-04']);
    expect(report.compressed_chunks[0]).toEqual({
      chunk: expect.stringMatching(/^_timescaledb_internal\._hyper_\d+_\d+_chunk$/),
      range_start: '2025-01-02T00:00:00.000Z',
      range_end: '2025-01-03T00:00:00.000Z',
    });
    await expect(chunkStates()).resolves.toEqual([
      { day: '2025-01-01', compressed: false },
      { day: '2025-01-02', compressed: true },
      { day: '2025-01-03', compressed: false },
      { day: '2025-01-04', compressed: true },
      { day: '2025-01-05', compressed: false },
      { day: '2025-01-06', compressed: false },
    ]);
  });

  it('should compress the younger chunks once their levels allow, never a chunk holding a NONE series', async () => {
    // A day later: Jan 5 ended 36 hours before (MEDIUM and HIGH allow), Jan 6 12 hours (HIGH allows).
    const report = await compressAt('2025-01-07T12:00:00Z');

    expect(report).toMatchObject({ ran: true, skipped: 2, failed_chunks: [] });
    expect(daysOf(report)).toEqual(['2025-01-05', '2025-01-06']);
    await expect(chunkStates()).resolves.toEqual([
      { day: '2025-01-01', compressed: false },
      { day: '2025-01-02', compressed: true },
      { day: '2025-01-03', compressed: false },
      { day: '2025-01-04', compressed: true },
      { day: '2025-01-05', compressed: true },
      { day: '2025-01-06', compressed: true },
    ]);
    // Years later the NONE series still keeps its chunks as they are.
    const later = await compressAt('2035-01-01T00:00:00Z');
    expect(later).toMatchObject({ ran: true, compressed_chunks: [], skipped: 2 });
  });

  it('should read every series back identical after compression', async () => {
    for (const key of allSeries) {
      const after = await readSeries(key);
      expect({ series: key.instrumentId, rows: after.length }).toEqual({
        series: key.instrumentId,
        rows: before.get(key)!.length,
      });
      expect(after).toEqual(before.get(key));
    }
    expect(before.get(HIGH_SERIES)).toHaveLength(4 * 288);
  });

  it('should measure a compression ratio for a series in compressed chunks', async () => {
    const ratio = await marketData.measureCompressionRatio(DEFAULT_SERIES);

    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThan(1);
  });

  it('should recompress a chunk written to after its compression', async () => {
    const backfill = makeBarRows('2025-01-02T12:02:00Z', 3, FIVE_MINUTES, 99);
    await marketData.upsertBars(HIGH_SERIES, backfill);
    const { rows } = await connection.pool.query<{ partial: boolean }>(
      `SELECT s.status & 8 <> 0 AS partial FROM _timescaledb_catalog.chunk s
         JOIN timescaledb_information.chunks c
           ON s.schema_name = c.chunk_schema AND s.table_name = c.chunk_name
        WHERE c.hypertable_name = 'market_data_ts' AND c.range_start = '2025-01-02T00:00:00Z'`,
    );
    expect(rows).toEqual([{ partial: true }]);

    const report = await compressAt('2025-01-07T12:00:00Z');

    expect(daysOf(report)).toEqual(['2025-01-02']);
    const { rows: after } = await connection.pool.query<{ partial: boolean }>(
      `SELECT s.status & 8 <> 0 AS partial FROM _timescaledb_catalog.chunk s
         JOIN timescaledb_information.chunks c
           ON s.schema_name = c.chunk_schema AND s.table_name = c.chunk_name
        WHERE c.hypertable_name = 'market_data_ts' AND c.range_start = '2025-01-02T00:00:00Z'`,
    );
    expect(after).toEqual([{ partial: false }]);
    expect(await readSeries(HIGH_SERIES)).toHaveLength(4 * 288 + 3);
  });

  it('should compress the chunks of a series moved off NONE on the next run', async () => {
    await configurations.put(NONE_SERIES, { compression_level: CompressionLevel.LOW });

    // LOW waits 7 days after a chunk's end: Jan 1 ended on Jan 2, Jan 3 on Jan 4.
    const first = await compressAt('2025-01-10T12:00:00Z');
    const second = await compressAt('2025-01-11T00:00:00Z');

    expect(daysOf(first)).toEqual(['2025-01-01']);
    expect(daysOf(second)).toEqual(['2025-01-03']);
    expect((await chunkStates()).every((c) => c.compressed)).toBe(true);
    expect(await readSeries(NONE_SERIES)).toEqual(before.get(NONE_SERIES));
  });

  it('should restore the TimescaleDB policy on down and remove it again on up', async () => {
    const migration = readMigrations().find((m) => m.version === MIGRATION_VERSION)!;
    const policies = async () =>
      (
        await connection.pool.query<{ after: string }>(
          `SELECT config->>'compress_after' AS after FROM timescaledb_information.jobs
            WHERE proc_name = 'policy_compression' AND hypertable_name = 'market_data_ts'`,
        )
      ).rows;

    await connection.pool.query(migration.down);
    const restored = await policies();
    await connection.pool.query(migration.up);

    expect(restored).toEqual([{ after: '24:00:00' }]);
    await expect(policies()).resolves.toEqual([]);
  });
});

describe('CompressionTask on postgresql', () => {
  let db: TestDatabase;
  let connection: DatabaseConnection;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase('postgresql');
    connection = await DatabaseConnection.open(db.settings);
  });

  afterAll(async () => {
    await connection?.close();
    await db?.drop();
  });

  it('should do nothing and say that plain PostgreSQL has no compression', async () => {
    await new MarketDataRepository(connection).upsertBars(
      DEFAULT_SERIES,
      makeBarRows('2025-01-01T00:00:00Z', 10),
    );
    const job = new CompressionTask(new CompressionRepository(connection));
    const compressAt = (iso: string) => runTask(connection, job, new Date(iso));

    await expect(compressAt('2030-01-01T00:00:00Z')).resolves.toEqual({
      ran: false,
      reason: NO_COMPRESSION_REASON,
      compressed_chunks: [],
      skipped: 0,
      compressed_rollup_chunks: [],
      skipped_rollup_chunks: 0,
      failed_chunks: [],
    });
  });

  it('should let one session at a time hold a lock (AdvisoryLock), and free it afterwards', async () => {
    const lock = new AdvisoryLock(connection);
    const key = ADVISORY_LOCKS.compression;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));

    const first = lock.run(key, async (session) => {
      entered();
      await held;
      // The lock's own session: no request statement timeout for a long job.
      const { rows } = await session.query<{ timeout: string }>(
        `SELECT current_setting('statement_timeout') AS timeout`,
      );
      return rows[0]?.timeout;
    });
    await inside;
    const second = await lock.run(key, async () => 'second');
    release();

    expect(second).toBeUndefined();
    await expect(first).resolves.toBe('0');
    await expect(lock.run(key, async () => 'third')).resolves.toBe('third');
    // The pool's sessions keep the request statement timeout.
    const { rows } = await connection.pool.query<{ timeout: string }>(
      `SELECT current_setting('statement_timeout') AS timeout`,
    );
    expect(rows).toEqual([{ timeout: '30s' }]);
  });

  it("should free a lock whose work failed, with the work's own error", async () => {
    const lock = new AdvisoryLock(connection);
    const key = ADVISORY_LOCKS.compression;

    await expect(
      lock.run(key, async (session) => {
        await session.query('SELECT 1/0');
      }),
    ).rejects.toThrow('division by zero');
    await expect(lock.run(key, async () => 'after')).resolves.toBe('after');
  });

  it('should refuse a compression level outside none, low, medium, high in the table', async () => {
    await expect(
      connection.pool.query(
        `INSERT INTO storage_configurations (instrument_id, timeframe, compression_level)
         VALUES ('CHK', 'ONE_MINUTE', 'ultra')`,
      ),
    ).rejects.toThrow(/storage_configurations_compression_level_check/);
  });
});
