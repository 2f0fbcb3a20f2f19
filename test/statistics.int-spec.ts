import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { QueryCache } from '../src/cache/query-cache.service';
import { SeriesKey, TimeFrame } from '../src/common/market-data.types';
import { ADVISORY_LOCKS } from '../src/database/advisory-locks';
import { DatabaseConnection } from '../src/database/database-connection';
import { BarRow, MarketDataRepository } from '../src/repositories/market-data.repository';
import { RollupRefreshRepository } from '../src/repositories/rollup-refresh.repository';
import { RollupRefreshTask } from '../src/lifecycle/rollup-refresh.task';
import { runTask } from './support/lifecycle';
import { StorageStatisticsDto } from '../src/statistics/dto/statistics-response.dto';
import { StatisticsRepository } from '../src/repositories/statistics.repository';
import { StatisticsService } from '../src/statistics/statistics.service';
import { makeBarRows } from './support/bar-rows';
import {
  capabilitiesOf,
  createTestDatabase,
  ENGINES,
  reportedEngine,
  TestDatabase,
} from './support/test-database';

const GIB = 1024 ** 3;

const MINUTES: SeriesKey = { instrumentId: 'STAT.A', timeframe: TimeFrame.ONE_MINUTE };
const HOURS: SeriesKey = { instrumentId: 'STAT.B', timeframe: TimeFrame.ONE_HOUR };

/** A timestamptz expression as ISO text in UTC, whatever the session's zone. */
function iso(expression: string): string {
  return `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** Bars whose quality varies, so that the average says something. */
function withQuality(rows: BarRow[]): BarRow[] {
  return rows.map((row, i) => ({ ...row, qualityScore: 0.5 + (i % 5) / 10 }));
}

/** A cache that never has anything: every answer comes from the database. */
function noCache(): QueryCache {
  return {
    get: async () => undefined,
    set: async () => undefined,
  } as unknown as QueryCache;
}

interface DirectSeries {
  instrument_id: string;
  timeframe: string;
  record_count: number;
  data_quality: number;
  last_updated: string;
}

interface MetadataRow extends DirectSeries {
  storage_size_mb: number;
  compression_ratio: number;
}

interface StatisticsRow {
  date: string;
  total_records: string;
  total_size_gb: number;
  rollups_size_gb: number;
  compression_ratio: number;
  query_count: number;
  avg_query_time_ms: number;
  cache_hit_ratio: number;
  measured_at: Date;
}

describe.each(ENGINES)('Statistics on %s', (engine) => {
  let db: TestDatabase;
  let connection: DatabaseConnection;
  let marketData: MarketDataRepository;
  let repository: StatisticsRepository;
  let service: StatisticsService;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase(engine, { STATS_REFRESH_INTERVAL_MS: '0' });
    connection = await DatabaseConnection.open(db.settings);
    marketData = new MarketDataRepository(connection);
    repository = new StatisticsRepository(connection);
    service = new StatisticsService(repository, noCache(), db.settings);
    await marketData.upsertBars(
      MINUTES,
      withQuality(makeBarRows('2025-03-03T00:00:00Z', 3 * 1440, 60_000, 7)),
    );
    await marketData.upsertBars(
      HOURS,
      withQuality(makeBarRows('2025-03-01T00:00:00Z', 24 * 10, 3_600_000, 9)),
    );
  });

  afterAll(async () => {
    await connection?.close();
    await db?.drop();
  });

  async function sql<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await connection.pool.query(text, params)).rows as T[];
  }

  /** What the statistics should say, straight from market_data_ts. */
  async function directSeries(): Promise<DirectSeries[]> {
    return sql<DirectSeries>(
      `SELECT instrument_id, timeframe, count(*)::int AS record_count,
              avg(quality_score) AS data_quality, ${iso('max("timestamp")')} AS last_updated
         FROM market_data_ts GROUP BY 1, 2 ORDER BY 1, 2`,
    );
  }

  /** The table's size as the engine reports it. */
  async function directTableBytes(): Promise<number> {
    const [row] = await sql<{ bytes: string }>(
      capabilitiesOf(engine).timescale
        ? `SELECT hypertable_size('market_data_ts') AS bytes`
        : `SELECT sum(pg_total_relation_size(inhrelid)) AS bytes
             FROM pg_inherits WHERE inhparent = 'market_data_ts'::regclass`,
    );
    return Number(row.bytes);
  }

  /**
   * The rollups' size straight from their materialized hypertables (the
   * repository sizes the views); plain PostgreSQL has none.
   */
  async function directRollupsBytes(): Promise<number> {
    if (!capabilitiesOf(engine).timescale) {
      const [plain] = await sql<{ bytes: string }>(
        `SELECT pg_total_relation_size('market_data_rollups') AS bytes`,
      );
      return Number(plain.bytes);
    }
    const [row] = await sql<{ bytes: string }>(
      `SELECT sum(hypertable_size(format('%I.%I', h.schema_name, h.table_name)::regclass)) AS bytes
         FROM _timescaledb_catalog.continuous_agg a
         JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id
        WHERE a.user_view_name IN ('market_data_5m', 'market_data_15m', 'market_data_1h', 'market_data_1d')`,
    );
    return Number(row.bytes);
  }

  async function todayRow(): Promise<StatisticsRow> {
    const rows = await sql<StatisticsRow>(
      `SELECT date, total_records, total_size_gb, rollups_size_gb, compression_ratio, query_count,
              avg_query_time_ms, cache_hit_ratio, measured_at
         FROM storage_statistics WHERE date = (now() AT TIME ZONE 'UTC')::date`,
    );
    expect(rows).toHaveLength(1);
    return rows[0];
  }

  async function metadataAt(measuredAt: Date): Promise<MetadataRow[]> {
    return sql<MetadataRow>(
      `SELECT instrument_id, timeframe, record_count, data_quality, ${iso('last_updated')} AS last_updated,
              storage_size_mb, compression_ratio
         FROM storage_metadata_ts WHERE "timestamp" = $1 ORDER BY 1, 2`,
      [measuredAt.toISOString()],
    );
  }

  /** Sizes then hold still: no background vacuum adds a map fork between two readings. */
  async function settle(): Promise<void> {
    await connection.pool.query('VACUUM ANALYZE market_data_ts');
    if (!capabilitiesOf(engine).timescale) return;
    const tables = await sql<{ table: string }>(
      `SELECT format('%I.%I', h.schema_name, h.table_name) AS table
         FROM _timescaledb_catalog.continuous_agg a
         JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id`,
    );
    for (const { table } of tables) await connection.pool.query(`VACUUM ANALYZE ${table}`);
  }

  describe('refreshNow', () => {
    it('should write one storage_metadata_ts row per series equal to a direct count, average and newest timestamp', async () => {
      await settle();

      await service.refreshNow();

      const { measured_at } = await todayRow();
      const direct = await directSeries();
      const written = await metadataAt(measured_at);
      expect(direct.map((s) => s.record_count)).toEqual([3 * 1440, 240]);
      expect(written).toHaveLength(2);
      written.forEach((row, i) => {
        expect(row).toMatchObject({
          instrument_id: direct[i].instrument_id,
          timeframe: direct[i].timeframe,
          record_count: direct[i].record_count,
          last_updated: direct[i].last_updated,
        });
        expect(row.data_quality).toBeCloseTo(direct[i].data_quality, 12);
      });
    });

    it("should record today's total records and size equal to count(*) and the engine's own size", async () => {
      await settle();

      await service.refreshNow();

      const row = await todayRow();
      const [{ n }] = await sql<{ n: string }>('SELECT count(*) AS n FROM market_data_ts');
      expect(row.total_records).toBe(n);
      expect(row.total_size_gb * GIB).toBe(await directTableBytes());
      expect(row.rollups_size_gb * GIB).toBe(await directRollupsBytes());
      expect(Date.now() - row.measured_at.getTime()).toBeLessThan(60_000);
    });

    it("should give each series its share by rows of the table's size", async () => {
      await settle();

      await service.refreshNow();

      const row = await todayRow();
      const written = await metadataAt(row.measured_at);
      const totalMb = row.total_size_gb * 1024;
      const totalRecords = Number(row.total_records);
      for (const series of written) {
        expect(series.storage_size_mb).toBeCloseTo(
          (totalMb * series.record_count) / totalRecords,
          9,
        );
      }
      expect(written.reduce((sum, s) => sum + s.storage_size_mb, 0)).toBeCloseTo(totalMb, 9);
    });

    it('should measure again after a write, keeping the earlier rows as history', async () => {
      const before = await sql<{ n: string }>('SELECT count(*) AS n FROM storage_metadata_ts');
      await marketData.upsertBars(MINUTES, makeBarRows('2025-03-06T00:00:00Z', 60, 60_000, 3));

      await service.refreshNow();

      const after = await sql<{ n: string }>('SELECT count(*) AS n FROM storage_metadata_ts');
      expect(Number(after[0].n)).toBe(Number(before[0].n) + 2);
      const { measured_at } = await todayRow();
      const written = await metadataAt(measured_at);
      expect(written.map((s) => s.record_count)).toEqual(
        (await directSeries()).map((s) => s.record_count),
      );
      expect(written[0]).toMatchObject({ last_updated: '2025-03-06T00:59:00.000Z' });
    });

    it('should answer the newest measurement through current()', async () => {
      await service.refreshNow();

      const body = JSON.parse(await service.current()) as StorageStatisticsDto;

      const direct = await directSeries();
      const { measured_at, total_records } = await todayRow();
      expect(body).toMatchObject({
        measured_at: measured_at.toISOString(),
        engine: reportedEngine(engine),
        total_records: Number(total_records),
      });
      expect(body.series.map((s) => [s.instrument_id, s.record_count])).toEqual(
        direct.map((s) => [s.instrument_id, s.record_count]),
      );
    });
  });

  describe('rollups', () => {
    it("should record the rollups' size beside the bars', refreshed and then compressed", async () => {
      const refresh = new RollupRefreshTask(new RollupRefreshRepository(connection));
      await runTask(connection, refresh, new Date('2025-03-10T00:00:00Z'));
      await settle();

      await service.refreshNow();

      const refreshed = await todayRow();
      expect(refreshed.rollups_size_gb * GIB).toBe(await directRollupsBytes());
      expect(refreshed.total_size_gb * GIB).toBe(await directTableBytes());
      const body = JSON.parse(await service.current()) as StorageStatisticsDto;
      expect(body.rollups_size_gb).toBe(refreshed.rollups_size_gb);
      expect(body.total_size_gb).toBe(refreshed.total_size_gb);
      expect(refreshed.rollups_size_gb).toBeGreaterThan(0);
      if (!capabilitiesOf(engine).timescale) return; // nothing compresses there

      // Compressed rollup chunks count too (hypertable_size takes in the compressed chunks).
      const compressed = await sql<{ chunk: string }>(
        `SELECT compress_chunk(c, if_not_compressed => true)::text AS chunk
           FROM unnest(ARRAY['market_data_5m', 'market_data_15m', 'market_data_1h', 'market_data_1d']) v,
                LATERAL show_chunks(v::regclass) c`,
      );
      expect(compressed.length).toBeGreaterThanOrEqual(4);
      await settle();

      await service.refreshNow();

      const after = await todayRow();
      expect(after.rollups_size_gb * GIB).toBe(await directRollupsBytes());
      // The compressed parts are in it (on data this small they need about as much as the rows did).
      const [stats] = await sql<{ after: string }>(
        `SELECT sum(s.after_compression_total_bytes) AS after
           FROM _timescaledb_catalog.continuous_agg a
           JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id,
                LATERAL chunk_compression_stats(format('%I.%I', h.schema_name, h.table_name)::regclass) s
          WHERE s.compression_status = 'Compressed'`,
      );
      expect(Number(stats.after)).toBeGreaterThan(0);
      expect(after.rollups_size_gb * GIB).toBeGreaterThan(Number(stats.after));
    });
  });

  describe('compression', () => {
    if (capabilitiesOf(engine).timescale) {
      it('should report the compression of the compressed chunks, overall and per series', async () => {
        await sql(
          `SELECT compress_chunk(c) FROM show_chunks('market_data_ts', older_than => TIMESTAMPTZ '2025-03-04T00:00:00Z') c`,
        );

        await service.refreshNow();

        const row = await todayRow();
        const [overall] = await sql<{ ratio: number }>(
          `SELECT 1 - after_compression_total_bytes::float8 / before_compression_total_bytes AS ratio
             FROM hypertable_compression_stats('market_data_ts')`,
        );
        expect(overall.ratio).toBeGreaterThan(0);
        expect(row.compression_ratio).toBeCloseTo(overall.ratio, 12);
        expect(row.total_size_gb * GIB).toBe(await directTableBytes());
        const written = await metadataAt(row.measured_at);
        for (const series of written) {
          const expected = await marketData.measureCompressionRatio({
            instrumentId: series.instrument_id,
            timeframe: series.timeframe as TimeFrame,
          });
          expect(series.compression_ratio).toBeCloseTo(expected, 12);
          expect(series.compression_ratio).toBeGreaterThan(0);
        }
      });
    } else {
      it('should report no compression on plain PostgreSQL', async () => {
        await service.refreshNow();

        const row = await todayRow();
        expect(row.compression_ratio).toBe(0);
        const written = await metadataAt(row.measured_at);
        expect(written.map((s) => s.compression_ratio)).toEqual([0, 0]);
        expect(JSON.parse(await service.current()).compression_note).toBe(
          'plain PostgreSQL has no compression',
        );
      });
    }
  });

  describe('addQueryFigures', () => {
    it("should add batches from several instances to today's row, weighting the averages by count", async () => {
      const start = await todayRow();

      await repository.addQueryFigures({ queryCount: 3, avgQueryTimeMs: 10, cacheHitRatio: 1 });
      await repository.addQueryFigures({ queryCount: 1, avgQueryTimeMs: 50, cacheHitRatio: 0 });

      const row = await todayRow();
      const count = start.query_count + 4;
      expect(row.query_count).toBe(count);
      expect(row.avg_query_time_ms).toBeCloseTo(
        (start.avg_query_time_ms * start.query_count + 3 * 10 + 50) / count,
        9,
      );
      expect(row.cache_hit_ratio).toBeCloseTo(
        (start.cache_hit_ratio * start.query_count + 3) / count,
        9,
      );
      // A measurement leaves the counters as the flushes made them.
      await service.refreshNow();
      expect(await todayRow()).toMatchObject({
        query_count: row.query_count,
        avg_query_time_ms: row.avg_query_time_ms,
        cache_hit_ratio: row.cache_hit_ratio,
      });
    });

    it("should flush the service's recorded queries on refresh", async () => {
      const start = await todayRow();
      service.recordQuery(2, true);
      service.recordQuery(4, false);

      await service.refreshNow();

      const row = await todayRow();
      expect(row.query_count).toBe(start.query_count + 2);
      expect(row.avg_query_time_ms).toBeCloseTo(
        (start.avg_query_time_ms * start.query_count + 6) / (start.query_count + 2),
        9,
      );
    });
  });

  describe('findDays', () => {
    it('should answer the rows of the range only, oldest first', async () => {
      await sql(
        `INSERT INTO storage_statistics (date, total_records, query_count)
         VALUES ('2024-01-01', 1, 1), ('2024-01-02', 2, 2), ('2024-01-05', 5, 5)`,
      );

      const days = await repository.findDays('2024-01-02', '2024-01-05');

      expect(days.map((d) => [d.date, d.totalRecords, d.queryCount])).toEqual([
        ['2024-01-02', '2', 2],
        ['2024-01-05', '5', 5],
      ]);
      await expect(repository.findDays('2023-01-01', '2023-12-31')).resolves.toEqual([]);
    });

    it('should refuse a second row for a day', async () => {
      await expect(
        sql(`INSERT INTO storage_statistics (date) VALUES ('2024-01-01')`),
      ).rejects.toThrow(/storage_statistics_date_key/);
    });
  });

  // Another session holding the lock: only a server has more than one.
  if (!capabilitiesOf(engine).embedded) {
    describe('withMeasurementLock', () => {
      let other: Client;

      beforeEach(async () => {
        other = new Client({ connectionString: db.settings.databaseUrl });
        await other.connect();
        await other.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCKS.statisticsMeasurement]);
      });

      afterEach(async () => {
        await other.end();
      });

      it('should skip the work while another instance holds the lock', async () => {
        const result = await repository.withMeasurementLock(false, async () => 'measured');

        expect(result).toBeUndefined();
      });

      it('should wait for the lock when told to, then do the work', async () => {
        const waiting = repository.withMeasurementLock(true, async () => 'measured');
        await new Promise((resolve) => setTimeout(resolve, 200));
        await other.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCKS.statisticsMeasurement]);

        await expect(waiting).resolves.toBe('measured');
        // Released afterwards: the next attempt gets it at once.
        await expect(repository.withMeasurementLock(false, async () => 'again')).resolves.toBe(
          'again',
        );
      });
    });
  }
});
