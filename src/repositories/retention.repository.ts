import { Inject, Injectable } from '@nestjs/common';
import { PoolClient } from 'pg';
import { SeriesKey } from '../common/market-data.types';
import { DatabaseConnection } from '../database/database-connection';
import { MarketDataPartitions } from './market-data-partitions';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import { withTransaction } from '../database/sessions';

/** A series with a retention of its own (storage_configurations.retention_days). */
export interface ConfiguredRetention {
  readonly series: SeriesKey;
  /** null: kept forever. */
  readonly retentionDays: number | null;
}

const UNCONFIGURED_BETWEEN = `($1::timestamptz IS NULL OR "timestamp" >= $1) AND "timestamp" < $2
  AND NOT EXISTS (SELECT 1 FROM storage_configurations c
                   WHERE c.instrument_id = d.instrument_id AND c.timeframe = d.timeframe)`;

/** Rows deleted per series. */
export interface DeletedRows {
  readonly instrumentId: string;
  readonly timeframe: string;
  readonly count: number;
}

/**
 * The SQL of retention: whole chunks (TimescaleDB drop_chunks) or monthly
 * partitions (plain PostgreSQL, detach and drop) past the longest retention,
 * and row deletes for the series that keep less.
 */
@Injectable()
export class RetentionRepository {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  async findConfiguredRetentions(): Promise<ConfiguredRetention[]> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{
        instrument_id: string;
        timeframe: string;
        retention_days: number | null;
      }>(
        `SELECT instrument_id, timeframe, retention_days FROM storage_configurations
          ORDER BY instrument_id, timeframe`,
      ),
    );
    return rows.map((r) => ({
      series: { instrumentId: r.instrument_id, timeframe: r.timeframe } as SeriesKey,
      retentionDays: r.retention_days,
    }));
  }

  /**
   * Rows before `cutoff`, per series: what the whole-chunk drop and the
   * boundary delete take (counted first, as a dropped chunk tells no rows).
   */
  countAllBefore(cutoff: Date): Promise<DeletedRows[]> {
    return this.countGrouped(`"timestamp" < $1`, [cutoff.toISOString()]);
  }

  /** The series' rows in [from, cutoff) (from null: all before cutoff): a dry run of deleteSeriesBefore. */
  countSeriesBetween(series: SeriesKey, from: Date | null, cutoff: Date): Promise<DeletedRows[]> {
    return this.countGrouped(
      `instrument_id = $1 AND timeframe = $2 AND "timestamp" < $3 AND ($4::timestamptz IS NULL OR "timestamp" >= $4)`,
      [series.instrumentId, series.timeframe, cutoff.toISOString(), from?.toISOString() ?? null],
    );
  }

  /** A dry run of deleteUnconfiguredBetween. */
  countUnconfiguredBetween(from: Date | null, cutoff: Date): Promise<DeletedRows[]> {
    return this.countGrouped(UNCONFIGURED_BETWEEN, [
      from?.toISOString() ?? null,
      cutoff.toISOString(),
    ]);
  }

  /** The chunks or partitions dropWholeChunksBefore(cutoff) would drop (a dry run). */
  async findWholeChunksBefore(cutoff: Date): Promise<string[]> {
    if (this.db.info.engine === 'postgresql') {
      return translatePgErrors(async () =>
        (await MarketDataPartitions.for(this.db.pool).listEndingBy(cutoff.getTime())).map(
          (p) => p.name,
        ),
      );
    }
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ chunk: string }>(
        `SELECT show_chunks('market_data_ts', older_than => $1::timestamptz)::text AS chunk`,
        [cutoff.toISOString()],
      ),
    );
    return rows.map((r) => r.chunk);
  }

  /**
   * Drops every chunk (TimescaleDB) or monthly partition (plain PostgreSQL)
   * whose time range ended at or before `cutoff`, compressed or not; returns
   * their names.
   */
  async dropWholeChunksBefore(cutoff: Date): Promise<string[]> {
    if (this.db.info.engine === 'postgresql') {
      return translatePgErrors(() =>
        MarketDataPartitions.for(this.db.pool).dropEndingBy(cutoff.getTime()),
      );
    }
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ chunk: string }>(
        `SELECT drop_chunks('market_data_ts', older_than => $1::timestamptz)::text AS chunk`,
        [cutoff.toISOString()],
      ),
    );
    return rows.map((r) => r.chunk);
  }

  /** Deletes every row before `cutoff` (what whole-chunk drops left in the boundary chunk). */
  deleteAllBefore(cutoff: Date): Promise<DeletedRows[]> {
    return this.deleteCounted(`"timestamp" < $1`, [cutoff.toISOString()]);
  }

  /** Deletes the series' rows before `cutoff`: an index range scan of that series alone. */
  deleteSeriesBefore(series: SeriesKey, cutoff: Date): Promise<DeletedRows[]> {
    return this.deleteCounted(`instrument_id = $1 AND timeframe = $2 AND "timestamp" < $3`, [
      series.instrumentId,
      series.timeframe,
      cutoff.toISOString(),
    ]);
  }

  /**
   * Deletes the rows in [from, cutoff) (from null: all before cutoff) of
   * every series without a configuration (they keep the default retention).
   * Scans that range: only needed while some series keeps longer than the
   * default.
   */
  deleteUnconfiguredBetween(from: Date | null, cutoff: Date): Promise<DeletedRows[]> {
    return this.deleteCounted(UNCONFIGURED_BETWEEN, [
      from?.toISOString() ?? null,
      cutoff.toISOString(),
    ]);
  }

  /** A count per series of the rows `where` selects (one of the fixed texts above). */
  private async countGrouped(where: string, params: unknown[]): Promise<DeletedRows[]> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ instrument_id: string; timeframe: string; count: string }>(
        `SELECT instrument_id, timeframe, count(*) AS count FROM market_data_ts d WHERE ${where}
          GROUP BY instrument_id, timeframe ORDER BY instrument_id, timeframe`,
        params,
      ),
    );
    return rows.map((r) => ({
      instrumentId: r.instrument_id,
      timeframe: r.timeframe,
      count: Number(r.count),
    }));
  }

  /** One DELETE (its `where` is one of the fixed texts above), counted per series. */
  private async deleteCounted(where: string, params: unknown[]): Promise<DeletedRows[]> {
    return translatePgErrors(() =>
      this.inTransaction(async (client) => {
        const { rows } = await client.query<{
          instrument_id: string;
          timeframe: string;
          count: string;
        }>(
          `WITH deleted AS (
             DELETE FROM market_data_ts d WHERE ${where} RETURNING instrument_id, timeframe)
           SELECT instrument_id, timeframe, count(*) AS count FROM deleted
            GROUP BY instrument_id, timeframe ORDER BY instrument_id, timeframe`,
          params,
        );
        return rows.map((r) => ({
          instrumentId: r.instrument_id,
          timeframe: r.timeframe,
          count: Number(r.count),
        }));
      }),
    );
  }

  private inTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return withTransaction(this.db.pool, async (client) => {
      // A retention delete may run longer than a request's statement timeout.
      if (!this.db.info.embedded) await client.query('SET LOCAL statement_timeout = 0');
      if (this.db.info.engine === 'timescaledb') {
        // Deleting from compressed chunks decompresses them; TimescaleDB caps that per transaction.
        await client.query('SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0');
      }
      return work(client);
    });
  }
}
