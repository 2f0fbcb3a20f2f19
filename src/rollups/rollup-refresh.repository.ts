import { Inject, Injectable } from '@nestjs/common';
import { Pool, PoolClient } from 'pg';
import { DatabaseConnection } from '../database/database-connection';
import { withLockedSession } from '../database/locked-session';
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
   * at a time refreshes; undefined when another one holds it (withLockedSession).
   */
  withRefreshLock<T>(work: (session: RollupRefreshSession) => Promise<T>): Promise<T | undefined> {
    return withLockedSession(this.db, ROLLUP_REFRESH_LOCK_KEY, (sql) =>
      work(new RollupRefreshSession(sql)),
    );
  }
}
