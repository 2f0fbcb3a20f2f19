import { Inject, Injectable } from '@nestjs/common';
import { Between, Repository } from 'typeorm';
import { AdvisoryLock, LockedSession } from '../database/advisory-lock';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { COMPRESSED_CHUNKS_SQL } from './compressed-chunks.sql';
import { DatabaseConnection, StorageEngine } from '../database/database-connection';
import { StorageStatisticsEntity } from '../database/entities';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import { onlyRow } from '../database/rows';
import { inSessionTransaction } from '../database/sessions';
import { ROLLUP_LEVELS } from './rollups.repository';
import { NATIVE_ROLLUPS_TABLE } from './native-rollups.sql';

/** Answered queries of a batch or of a day; the count weighs the two averages when they merge. */
export interface QueryFigures {
  readonly queryCount: number;
  readonly avgQueryTimeMs: number;
  /** Share of the queries answered from the cache, 0..1. */
  readonly cacheHitRatio: number;
}

/** A series as counted in market_data_ts. */
export interface SeriesCount {
  readonly instrumentId: string;
  readonly timeframe: string;
  readonly recordCount: number;
  /** avg(quality_score). */
  readonly dataQuality: number;
  /** The newest bar's timestamp. */
  readonly lastUpdated: Date;
  /** 1 - compressed/uncompressed bytes of the compressed chunks over the series' span; 0 if none. */
  readonly compressionRatio: number;
}

export interface TableSize {
  /** market_data_ts with its indexes, compressed chunks and TOAST. */
  readonly totalBytes: number;
  /** The rollups' materialized hypertables, the same way (plain PostgreSQL: market_data_rollups). */
  readonly rollupsBytes: number;
  /** 1 - compressed/uncompressed bytes over the compressed chunks; 0 if none (or no compression). */
  readonly compressionRatio: number;
}

export interface SeriesMeasurement extends SeriesCount {
  readonly storageSizeMb: number;
}

/** One refresh, as written to storage_statistics (the day's row) and storage_metadata_ts. */
/** The newest measurement as read back, with each series' retention facts. */
export interface LatestMeasurement extends StorageMeasurement {
  readonly series: readonly LatestSeries[];
}

/** A measured series as read back, with what its retention needs (read now, not measured). */
export interface LatestSeries extends SeriesMeasurement {
  /** Its oldest bar now; null when it has none left. */
  readonly oldest: Date | null;
  /** Its configured retention_days (null: forever); undefined: no configuration. */
  readonly configuredRetentionDays?: number | null;
}

export interface StorageMeasurement {
  readonly measuredAt: Date;
  /** The UTC day of measuredAt, 'YYYY-MM-DD'. */
  readonly date: string;
  readonly totalRecords: number;
  /** market_data_ts alone. */
  readonly totalSizeGb: number;
  /** The four rollups (continuous aggregates; plain PostgreSQL: market_data_rollups). */
  readonly rollupsSizeGb: number;
  readonly compressionRatio: number;
  readonly series: readonly SeriesMeasurement[];
}

/** The day's query figures; zeros when nothing was flushed yet. */
export interface DayQueryFigures extends QueryFigures {
  readonly date: string;
  /** When they were read (database clock): the flushes committed by then. */
  readonly readAt: Date;
}

/** What one connection holding the measurement lock can do. */
export interface MeasurementSession {
  /** The database's clock, to the millisecond: every instance stamps with the same clock. */
  databaseTime(): Promise<Date>;
  /** How long ago any instance last measured; null when none ever did. */
  msSinceLastMeasurement(): Promise<number | null>;
  countSeries(): Promise<SeriesCount[]>;
  measureTableSize(): Promise<TableSize>;
  /** The day's sizes in storage_statistics and one storage_metadata_ts row per series, at once. */
  saveMeasurement(measurement: StorageMeasurement): Promise<void>;
}

/** One statement scans market_data_ts once for every series' figures. */
const SERIES_COUNTS_SQL = `
  SELECT instrument_id, timeframe, count(*) AS record_count, avg(quality_score) AS data_quality,
         min("timestamp") AS first_at, max("timestamp") AS last_at
    FROM market_data_ts
   GROUP BY instrument_id, timeframe`;

const COUNT_SERIES_SQL: Readonly<Record<StorageEngine, string>> = {
  postgresql: `
    SELECT instrument_id, timeframe, record_count, data_quality, last_at, 0::float8 AS compression_ratio
      FROM (${SERIES_COUNTS_SQL}) s
     ORDER BY instrument_id, timeframe`,
  // The chunks that hold a series are approximated by those overlapping its time span, as
  // MarketDataRepository.measureCompressionRatio does for a store's answer.
  timescaledb: `
    WITH compressed AS (${COMPRESSED_CHUNKS_SQL})
    SELECT s.instrument_id, s.timeframe, s.record_count, s.data_quality, s.last_at,
           coalesce((SELECT 1 - sum(c.after_bytes)::float8 / nullif(sum(c.before_bytes), 0)
                       FROM compressed c
                      WHERE c.range_end > s.first_at AND c.range_start <= s.last_at), 0)
             AS compression_ratio
      FROM (${SERIES_COUNTS_SQL}) s
     ORDER BY s.instrument_id, s.timeframe`,
};

/** The rollups' views as an SQL array literal: constant names, never from a request. */
const ROLLUP_VIEWS_SQL = `ARRAY[${ROLLUP_LEVELS.map((l) => `'${l.view}'`).join(', ')}]::text[]`;

const TABLE_SIZE_SQL: Readonly<Record<StorageEngine, string>> = {
  // The parent holds no rows; its partitions (and their indexes) hold them all. The rollups: one table.
  postgresql: `
    SELECT coalesce(sum(pg_total_relation_size(relid)), 0) AS total_bytes,
           pg_total_relation_size('${NATIVE_ROLLUPS_TABLE}') AS rollups_bytes, 0::float8 AS compression_ratio
      FROM pg_partition_tree('market_data_ts')`,
  // hypertable_size of a continuous aggregate is its materialized hypertable's (chunks, indexes, compressed chunks).
  timescaledb: `
    SELECT hypertable_size('market_data_ts') AS total_bytes,
           (SELECT coalesce(sum(hypertable_size(format('%I.%I', a.user_view_schema, a.user_view_name)::regclass)), 0)
              FROM _timescaledb_catalog.continuous_agg a
             WHERE a.user_view_schema = current_schema()
               AND a.user_view_name = ANY (${ROLLUP_VIEWS_SQL})) AS rollups_bytes,
           coalesce((SELECT 1 - sum(after_compression_total_bytes)::float8
                                / nullif(sum(before_compression_total_bytes), 0)
                       FROM hypertable_compression_stats('market_data_ts')), 0) AS compression_ratio`,
};

interface SeriesCountRow {
  instrument_id: string;
  timeframe: string;
  record_count: string;
  data_quality: number;
  last_at: Date;
  compression_ratio: number;
}

class PgMeasurementSession implements MeasurementSession {
  constructor(
    private readonly client: LockedSession,
    private readonly engine: StorageEngine,
  ) {}

  async databaseTime(): Promise<Date> {
    const { rows } = await this.client.query<{ now: Date }>(
      `SELECT date_trunc('milliseconds', now()) AS now`,
    );
    return onlyRow(rows).now;
  }

  async msSinceLastMeasurement(): Promise<number | null> {
    const { rows } = await this.client.query<{ ms: number | null }>(
      `SELECT (extract(epoch FROM now() - max(measured_at)) * 1000)::float8 AS ms
         FROM storage_statistics`,
    );
    return onlyRow(rows).ms;
  }

  async countSeries(): Promise<SeriesCount[]> {
    const { rows } = await this.client.query<SeriesCountRow>(COUNT_SERIES_SQL[this.engine]);
    return rows.map((r) => ({
      instrumentId: r.instrument_id,
      timeframe: r.timeframe,
      recordCount: Number(r.record_count),
      dataQuality: r.data_quality,
      lastUpdated: r.last_at,
      compressionRatio: r.compression_ratio,
    }));
  }

  async measureTableSize(): Promise<TableSize> {
    const { rows } = await this.client.query<{
      total_bytes: string;
      rollups_bytes: string;
      compression_ratio: number;
    }>(TABLE_SIZE_SQL[this.engine]);
    const size = onlyRow(rows);
    return {
      totalBytes: Number(size.total_bytes),
      rollupsBytes: Number(size.rollups_bytes),
      compressionRatio: size.compression_ratio,
    };
  }

  async saveMeasurement(m: StorageMeasurement): Promise<void> {
    const measuredAt = m.measuredAt.toISOString();
    await inSessionTransaction(this.client, async (client) => {
      // Only the measured columns: the query counters are the flushes' own (addQueryFigures).
      await client.query(
        `INSERT INTO storage_statistics AS s
           (date, total_records, total_size_gb, rollups_size_gb, compression_ratio, measured_at,
            query_count, avg_query_time_ms, cache_hit_ratio)
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0)
         ON CONFLICT (date) DO UPDATE SET
           total_records = EXCLUDED.total_records,
           total_size_gb = EXCLUDED.total_size_gb,
           rollups_size_gb = EXCLUDED.rollups_size_gb,
           compression_ratio = EXCLUDED.compression_ratio,
           measured_at = EXCLUDED.measured_at`,
        [
          m.date,
          String(m.totalRecords),
          m.totalSizeGb,
          m.rollupsSizeGb,
          m.compressionRatio,
          measuredAt,
        ],
      );
      if (m.series.length > 0) {
        await client.query(
          `INSERT INTO storage_metadata_ts ("timestamp", instrument_id, timeframe, record_count,
                                            storage_size_mb, compression_ratio, last_updated, data_quality)
           SELECT $1, i, t, rc, mb, cr, lu, dq
             FROM unnest($2::text[], $3::text[], $4::int[], $5::float8[], $6::float8[],
                         $7::timestamptz[], $8::float8[]) AS u(i, t, rc, mb, cr, lu, dq)
           ON CONFLICT (instrument_id, timeframe, "timestamp") DO UPDATE SET
             record_count = EXCLUDED.record_count,
             storage_size_mb = EXCLUDED.storage_size_mb,
             compression_ratio = EXCLUDED.compression_ratio,
             last_updated = EXCLUDED.last_updated,
             data_quality = EXCLUDED.data_quality`,
          [
            measuredAt,
            m.series.map((s) => s.instrumentId),
            m.series.map((s) => s.timeframe),
            m.series.map((s) => s.recordCount),
            m.series.map((s) => s.storageSizeMb),
            m.series.map((s) => s.compressionRatio),
            m.series.map((s) => s.lastUpdated.toISOString()),
            m.series.map((s) => s.dataQuality),
          ],
        );
      }
    });
  }
}

interface MeasurementRow {
  date: string;
  total_records: string | null;
  total_size_gb: number | null;
  rollups_size_gb: number | null;
  compression_ratio: number | null;
  measured_at: Date;
}

interface SeriesRow {
  instrument_id: string;
  timeframe: string;
  record_count: number;
  storage_size_mb: number;
  compression_ratio: number;
  last_updated: Date;
  data_quality: number;
  oldest: Date | null;
  configured: boolean;
  retention_days: number | null;
}

/**
 * storage_statistics and storage_metadata_ts: measurements of market_data_ts
 * and of the rollups beside it (TimescaleDB's size functions, or the
 * partitions' sizes on plain PostgreSQL) and the service's query counters.
 */
@Injectable()
export class StatisticsRepository {
  private readonly days: Repository<StorageStatisticsEntity>;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    this.days = db.dataSource.getRepository(StorageStatisticsEntity);
  }

  get engine(): StorageEngine {
    return this.db.info.engine;
  }

  /**
   * Runs `work` on one connection holding the measurement lock, shared by
   * every instance on the database. With `wait` false, answers undefined at
   * once when another instance holds it.
   */
  withMeasurementLock<T>(
    wait: boolean,
    work: (session: MeasurementSession) => Promise<T>,
  ): Promise<T | undefined> {
    return new AdvisoryLock(this.db).run(
      ADVISORY_LOCKS.statisticsMeasurement,
      // Errors of the measurement's statements read as ours, as the lock's own do.
      (sql) => translatePgErrors(() => work(this.sessionOn(sql))),
      { wait },
    );
  }

  /** The measurement's statements on the session holding its lock (AdvisoryLock). */
  sessionOn(sql: LockedSession): MeasurementSession {
    return new PgMeasurementSession(sql, this.db.info.engine);
  }

  /**
   * Adds a batch of query figures to today's row (UTC day, database clock):
   * counts add up, averages are weighted by the counts, so any number of
   * instances can flush into the same row.
   */
  async addQueryFigures(batch: QueryFigures): Promise<void> {
    await translatePgErrors(() =>
      this.db.pool.query(
        `INSERT INTO storage_statistics AS s (date, query_count, avg_query_time_ms, cache_hit_ratio)
         VALUES ((now() AT TIME ZONE 'UTC')::date, $1, $2, $3)
         ON CONFLICT (date) DO UPDATE SET
           query_count = coalesce(s.query_count, 0) + EXCLUDED.query_count,
           avg_query_time_ms = coalesce(
             (coalesce(s.avg_query_time_ms, 0) * coalesce(s.query_count, 0)
               + EXCLUDED.avg_query_time_ms * EXCLUDED.query_count)
             / nullif(coalesce(s.query_count, 0) + EXCLUDED.query_count, 0), 0),
           cache_hit_ratio = coalesce(
             (coalesce(s.cache_hit_ratio, 0) * coalesce(s.query_count, 0)
               + EXCLUDED.cache_hit_ratio * EXCLUDED.query_count)
             / nullif(coalesce(s.query_count, 0) + EXCLUDED.query_count, 0), 0)`,
        [batch.queryCount, batch.avgQueryTimeMs, batch.cacheHitRatio],
      ),
    );
  }

  /** The newest measurement by any instance, with its series; null when none was ever made. */
  async findLatestMeasurement(): Promise<LatestMeasurement | null> {
    return translatePgErrors(async () => {
      const { rows } = await this.db.pool.query<MeasurementRow>(
        `SELECT date, total_records, total_size_gb, rollups_size_gb, compression_ratio, measured_at
           FROM storage_statistics WHERE measured_at IS NOT NULL
          ORDER BY measured_at DESC LIMIT 1`,
      );
      const [row] = rows;
      if (!row) return null;
      const { rows: series } = await this.db.pool.query<SeriesRow>(
        // The oldest bar of each series: one index probe (instrument_id, timeframe, timestamp).
        `SELECT m.instrument_id, m.timeframe, m.record_count, m.storage_size_mb,
                m.compression_ratio, m.last_updated, m.data_quality,
                (SELECT min(d."timestamp") FROM market_data_ts d
                  WHERE d.instrument_id = m.instrument_id AND d.timeframe = m.timeframe) AS oldest,
                c.id IS NOT NULL AS configured, c.retention_days
           FROM storage_metadata_ts m
           LEFT JOIN storage_configurations c
             ON c.instrument_id = m.instrument_id AND c.timeframe = m.timeframe
          WHERE m."timestamp" = $1
          ORDER BY m.instrument_id, m.timeframe`,
        [row.measured_at.toISOString()],
      );
      return {
        measuredAt: row.measured_at,
        date: row.date,
        totalRecords: Number(row.total_records ?? 0),
        totalSizeGb: row.total_size_gb ?? 0,
        // A day measured before the rollups were (migration 20261201120000): none counted.
        rollupsSizeGb: row.rollups_size_gb ?? 0,
        compressionRatio: row.compression_ratio ?? 0,
        series: series.map((s) => ({
          instrumentId: s.instrument_id,
          timeframe: s.timeframe,
          recordCount: s.record_count,
          storageSizeMb: s.storage_size_mb,
          compressionRatio: s.compression_ratio,
          lastUpdated: s.last_updated,
          dataQuality: s.data_quality,
          oldest: s.oldest,
          ...(s.configured ? { configuredRetentionDays: s.retention_days } : {}),
        })),
      };
    });
  }

  /** Today's query figures (UTC day, database clock). */
  async findTodayQueryFigures(): Promise<DayQueryFigures> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{
        date: string;
        read_at: Date;
        query_count: number | null;
        avg_query_time_ms: number | null;
        cache_hit_ratio: number | null;
      }>(
        `SELECT today.date::text AS date, today.read_at,
                s.query_count, s.avg_query_time_ms, s.cache_hit_ratio
           FROM (SELECT (now() AT TIME ZONE 'UTC')::date AS date,
                        date_trunc('milliseconds', now()) AS read_at) today
           LEFT JOIN storage_statistics s ON s.date = today.date`,
      ),
    );
    const row = onlyRow(rows);
    return {
      date: row.date,
      readAt: row.read_at,
      queryCount: row.query_count ?? 0,
      avgQueryTimeMs: row.avg_query_time_ms ?? 0,
      cacheHitRatio: row.cache_hit_ratio ?? 0,
    };
  }

  /** The daily rows of [from, to] ('YYYY-MM-DD', both inclusive), oldest first. */
  async findDays(from: string, to: string): Promise<StorageStatisticsEntity[]> {
    return translatePgErrors(() =>
      this.days.find({ where: { date: Between(from, to) }, order: { date: 'ASC' } }),
    );
  }
}
