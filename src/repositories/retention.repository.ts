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
  readonly retentionDays: number;
}

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
      this.db.pool.query<{ instrument_id: string; timeframe: string; retention_days: number }>(
        `SELECT instrument_id, timeframe, retention_days FROM storage_configurations
          ORDER BY instrument_id, timeframe`,
      ),
    );
    return rows.map((r) => ({
      series: { instrumentId: r.instrument_id, timeframe: r.timeframe } as SeriesKey,
      retentionDays: r.retention_days,
    }));
  }

  /** Instruments with rows before `cutoff`: their cached answers go stale when those rows go. */
  async findInstrumentsBefore(cutoff: Date): Promise<string[]> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ instrument_id: string }>(
        `SELECT DISTINCT instrument_id FROM market_data_ts WHERE "timestamp" < $1`,
        [cutoff.toISOString()],
      ),
    );
    return rows.map((r) => r.instrument_id);
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
   * Deletes the rows in [from, cutoff) of every series without a
   * configuration (they keep the default retention). Scans that range: only
   * needed while some configured series keeps longer than the default.
   */
  deleteUnconfiguredBetween(from: Date, cutoff: Date): Promise<DeletedRows[]> {
    return this.deleteCounted(
      `"timestamp" >= $1 AND "timestamp" < $2
       AND NOT EXISTS (SELECT 1 FROM storage_configurations c
                        WHERE c.instrument_id = d.instrument_id AND c.timeframe = d.timeframe)`,
      [from.toISOString(), cutoff.toISOString()],
    );
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
