import { Logger } from '@nestjs/common';
import { TimeFrame } from '../src/common/market-data.types';
import { DatabaseConnection } from '../src/database/database-connection';
import { applyHypertableLayout } from '../src/repositories/hypertable-layout';
import { BarsReader } from '../src/repositories/bars.reader';
import { BarRow, MarketDataRepository } from '../src/repositories/market-data.repository';
import { makeBarRows } from './support/bar-rows';
import {
  capabilitiesOf,
  createTestDatabase,
  ENGINES,
  TestDatabase,
  TIMESCALE_ENGINES,
} from './support/test-database';

const MINUTE = 60_000;

/** Realistic OHLCV: 2-decimal random-walk prices, integer volumes, nothing else. */
function ohlcv(startIso: string, count: number, seed: number): BarRow[] {
  return makeBarRows(startIso, count, MINUTE, seed).map((b) => ({
    ...b,
    dollarVolume: null,
    tradeCount: null,
    source: null,
  }));
}

describe.each(ENGINES)('Hypertable layout on %s', (engine) => {
  let db: TestDatabase;
  let connection: DatabaseConnection;
  let repository: MarketDataRepository;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase(engine);
    connection = await DatabaseConnection.open(db.settings);
    repository = new MarketDataRepository(connection);
  });

  afterAll(async () => {
    await connection?.close();
    await db?.drop();
  });

  async function dimensions(): Promise<
    { type: string; hours: number | null; partitions: number | null }[]
  > {
    const { rows } = await connection.pool.query<{
      type: string;
      hours: number | null;
      partitions: number | null;
    }>(
      `SELECT dimension_type AS type, (extract(epoch FROM time_interval) / 3600)::float8 AS hours,
              num_partitions::int AS partitions
         FROM timescaledb_information.dimensions WHERE hypertable_name = 'market_data_ts'
        ORDER BY dimension_number`,
    );
    return rows;
  }

  if (!capabilitiesOf(engine).timescale) {
    it('should leave plain PostgreSQL alone', async () => {
      await expect(
        applyHypertableLayout(connection.pool, { chunkIntervalHours: 24, spacePartitions: 16 }),
      ).resolves.toBeUndefined();
    });
    return;
  }

  it('should add a space dimension to the empty table and set the chunk interval', async () => {
    const outcome = await applyHypertableLayout(connection.pool, {
      chunkIntervalHours: 6,
      spacePartitions: 4,
    });

    expect(outcome).toEqual({ chunkIntervalHours: 6, spacePartitions: 4, warning: undefined });
    await expect(dimensions()).resolves.toEqual([
      { type: 'Time', hours: 6, partitions: null },
      { type: 'Space', hours: null, partitions: 4 },
    ]);
    await repository.upsertBars(
      { instrumentId: 'LAYOUT.A', timeframe: TimeFrame.ONE_MINUTE },
      ohlcv('2025-01-01T00:00:00Z', 24 * 60, 1),
    );
    const { rows } = await connection.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM show_chunks('market_data_ts')`,
    );
    expect(rows).toEqual([{ n: 4 }]); // one day of one instrument: 4 chunks of 6 hours
  });

  it('should change the partition count, and refuse to remove the space dimension of a table with rows', async () => {
    await expect(
      applyHypertableLayout(connection.pool, { chunkIntervalHours: 168, spacePartitions: 8 }),
    ).resolves.toEqual({ chunkIntervalHours: 168, spacePartitions: 8, warning: undefined });
    await expect(dimensions()).resolves.toEqual([
      { type: 'Time', hours: 168, partitions: null },
      { type: 'Space', hours: null, partitions: 8 },
    ]);

    await expect(
      applyHypertableLayout(connection.pool, { chunkIntervalHours: 168, spacePartitions: 0 }),
    ).resolves.toEqual({
      chunkIntervalHours: 168,
      spacePartitions: 8,
      warning:
        'LAYOUT_SPACE_PARTITIONS=0 not applied: TimescaleDB cannot remove the space dimension (8 partitions)',
    });
  });
});

describe.each(TIMESCALE_ENGINES)('Compression of realistic bars on %s (TimescaleDB)', (engine) => {
  let db: TestDatabase;
  let connection: DatabaseConnection;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase(engine);
    connection = await DatabaseConnection.open(db.settings);
  });

  afterAll(async () => {
    await connection?.close();
    await db?.drop();
  });

  it('should compress 1-minute OHLCV bars by at least 90 % in the default 7-day chunks and read them back exactly', async () => {
    await applyHypertableLayout(connection.pool, { chunkIntervalHours: 168, spacePartitions: 0 });
    const repository = new MarketDataRepository(connection);
    const series = Array.from({ length: 8 }, (_, i) => ({
      series: { instrumentId: `RATIO.${i}`, timeframe: TimeFrame.ONE_MINUTE },
      // Two whole 7-day chunks (TimescaleDB aligns them to the epoch: Thursdays).
      bars: ohlcv('2025-01-02T00:00:00Z', 14 * 1440, i + 1),
    }));
    for (const batch of series) await repository.upsertSeriesBars([batch]);
    const range = {
      fromMs: Date.parse('2025-01-02T00:00:00Z'),
      toMs: Date.parse('2025-01-16T00:00:00Z'),
    };
    const fields = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;
    const page = { limit: 100_000, offset: 0 };
    const reader = new BarsReader(connection);
    const before = await reader.findRange(series[3].series, range, fields, page);

    await connection.pool.query(`SELECT compress_chunk(c) FROM show_chunks('market_data_ts') c`);

    const { rows } = await connection.pool.query<{ ratio: number; chunks: number }>(
      `SELECT 1 - sum(after_compression_total_bytes)::float8 / sum(before_compression_total_bytes) AS ratio,
              count(*)::int AS chunks
         FROM chunk_compression_stats('market_data_ts') WHERE compression_status = 'Compressed'`,
    );
    expect(rows[0].chunks).toBe(2);
    expect(rows[0].ratio).toBeGreaterThanOrEqual(0.9);
    const after = await reader.findRange(series[3].series, range, fields, page);
    expect(after.totalCount).toBe(14 * 1440);
    expect(after.pointsJson).toBe(before.pointsJson);
  });
});
