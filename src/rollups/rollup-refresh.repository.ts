import { Inject, Injectable } from '@nestjs/common';
import { Pool, PoolClient } from 'pg';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import { RollupLevel } from '../database/rollups.repository';

/** Any constant shared by every instance (migrations hold 7_340_112_211, compression ..212). */
const ROLLUP_REFRESH_LOCK_KEY = 7_340_112_231;

/** The statements of one refresh run, on the connection that holds the task's lock. */
export class RollupRefreshSession {
  constructor(private readonly sql: Pool | PoolClient) {}

  /**
   * Materializes every bucket of `level` that ends by `untilMs` and is not
   * materialized yet or was invalidated by a write since (TimescaleDB
   * re-materializes only those); the window starts at the beginning of
   * time, so a late bar of any age is picked up.
   */
  async refresh(level: RollupLevel, untilMs: number): Promise<void> {
    await translatePgErrors(() =>
      this.sql.query(
        `CALL refresh_continuous_aggregate($1::regclass, NULL::timestamptz, $2::timestamptz)`,
        [level.view, new Date(untilMs).toISOString()],
      ),
    );
  }

  /** Invalidated ranges waiting for this level: written since its last refresh, or left by it. */
  async countPendingRanges(level: RollupLevel): Promise<number> {
    const { rows } = await translatePgErrors(() =>
      this.sql.query<{ pending: string }>(
        `SELECT (SELECT count(*) FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log
                  WHERE hypertable_id = c.raw_hypertable_id)
              + (SELECT count(*) FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log i
                  WHERE i.materialization_id = c.mat_hypertable_id
                    -- Below the watermark: what is past it is computed at query time anyway.
                    AND i.lowest_modified_value < _timescaledb_functions.cagg_watermark(c.mat_hypertable_id)
                    AND i.greatest_modified_value >= _timescaledb_functions.to_unix_microseconds(TIMESTAMPTZ '1900-01-01T00:00:00Z'))
                AS pending
           FROM _timescaledb_catalog.continuous_agg c
          WHERE c.user_view_schema = current_schema() AND c.user_view_name = $1`,
        [level.view],
      ),
    );
    return Number(rows[0]?.pending ?? 0);
  }
}

/** Refresh of the continuous aggregates for the rollup refresh task. */
@Injectable()
export class RollupRefreshRepository {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  /** Plain PostgreSQL has no continuous aggregates. */
  get rollupsAvailable(): boolean {
    return this.db.info.engine === 'timescaledb';
  }

  /**
   * Runs `work` while holding the task's advisory lock, so that one replica
   * at a time refreshes; undefined when another one holds it. The embedded
   * engine belongs to one process: there the statements go through its
   * single connection, between requests.
   */
  async withRefreshLock<T>(
    work: (session: RollupRefreshSession) => Promise<T>,
  ): Promise<T | undefined> {
    if (this.db.info.embedded) return work(new RollupRefreshSession(this.db.pool));
    const client = await translatePgErrors(() => this.db.pool.connect());
    let failed: Error | undefined;
    try {
      const { rows } = await translatePgErrors(() =>
        client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
          ROLLUP_REFRESH_LOCK_KEY,
        ]),
      );
      if (!rows[0].locked) return undefined;
      try {
        // Materializing months of history outlasts the per-request statement timeout.
        await translatePgErrors(() => client.query('SET statement_timeout = 0'));
        return await work(new RollupRefreshSession(client));
      } finally {
        await client
          .query('RESET statement_timeout')
          .then(() => client.query('SELECT pg_advisory_unlock($1)', [ROLLUP_REFRESH_LOCK_KEY]))
          // Closing the session frees the lock as well.
          .catch((error: Error) => (failed = error));
      }
    } catch (error) {
      failed = error as Error;
      throw error;
    } finally {
      client.release(failed);
    }
  }
}
