import { Inject, Injectable } from '@nestjs/common';
import type { LockedSession } from '../database/advisory-lock';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import { RollupLevel } from './rollups.repository';
import { TIMEFRAME_MS } from '../common/market-data.types';
import { inSessionTransaction } from '../database/sessions';
import {
  CHANGED_SPANS_SQL,
  REBUILD_SPANS_SQL,
  REBUILD_WINDOW_SQL,
  TAKE_IN_CHANGES_SQL,
} from './native-rollups.sql';

/** What a level needs before `until`: the changed ranges and where its refresh must start. */
export interface PendingRefresh {
  /** Invalidated ranges before `until`: written since the last refresh, or left by it. */
  readonly ranges: number;
  /**
   * Start of the refresh window, on a bucket boundary: the oldest changed
   * bucket, or the invalidation threshold when new data lies past it; null
   * for the beginning of time (nothing materialized yet, or the change is
   * older than the source's first chunk). Undefined: up to date.
   */
  readonly fromMs: number | null | undefined;
}

/**
 * Time covered by one transaction of a refresh. TimescaleDB 2.28 batches a
 * manual refresh by 10 buckets (50 minutes of the 5-minute level): a month
 * took 864 transactions and logged 2 lines each.
 */
const REFRESH_BATCH_SPAN_MS = 7 * 86_400_000;

/** The lowest timestamptz, in TimescaleDB's internal microseconds (4714-11-24 BC). */
const MIN_TIME_MICROS = '-210866803200000000';

/** The statements of one refresh run, on the connection that holds the task's lock. */
export class RollupRefreshSession {
  constructor(private readonly sql: LockedSession) {}

  /**
   * Materializes the buckets of `level` from `fromMs` (null: the beginning
   * of time) to `untilMs`; TimescaleDB re-materializes only the invalidated
   * ones in that window, in batches of REFRESH_BATCH_SPAN_MS.
   */
  async refresh(level: RollupLevel, fromMs: number | null, untilMs: number): Promise<void> {
    const bucketsPerBatch = Math.max(
      1,
      Math.round(REFRESH_BATCH_SPAN_MS / TIMEFRAME_MS[level.timeframe]),
    );
    await translatePgErrors(() =>
      this.sql.query(
        `CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz,
                                           options => jsonb_build_object('buckets_per_batch', $4::int))`,
        [
          level.view,
          fromMs === null ? null : new Date(fromMs).toISOString(),
          new Date(untilMs).toISOString(),
          bucketsPerBatch,
        ],
      ),
    );
  }

  /**
   * What `level` needs before `untilMs`, from TimescaleDB's catalog: the
   * ranges invalidated by writes below its invalidation threshold (in the
   * invalidation logs), and whether the table it is built from has rows
   * between that threshold and `untilMs` (new data, never logged). A
   * refresh then covers only that window; none is due when both are empty.
   */
  async pending(level: RollupLevel, untilMs: number): Promise<PendingRefresh> {
    const until = new Date(untilMs).toISOString();
    const { rows } = await translatePgErrors(() =>
      this.sql.query<{
        ranges: string;
        lowest: string | null;
        threshold: string | null;
        source: string;
        time_column: string;
        first_chunk: string | null;
      }>(
        `WITH agg AS (
           SELECT c.raw_hypertable_id, c.mat_hypertable_id,
                  -- Absent until the first refresh: nothing is materialized yet.
                  coalesce(t.watermark, ${MIN_TIME_MICROS}) AS threshold
             FROM _timescaledb_catalog.continuous_agg c
             LEFT JOIN _timescaledb_catalog.continuous_aggs_invalidation_threshold t
               ON t.hypertable_id = c.raw_hypertable_id
            WHERE c.user_view_schema = current_schema() AND c.user_view_name = $1),
         changed AS (
           SELECT h.lowest_modified_value AS lowest
             FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log h, agg
            WHERE h.hypertable_id = agg.raw_hypertable_id
              AND h.lowest_modified_value < _timescaledb_functions.to_unix_microseconds($2)
           UNION ALL
           SELECT m.lowest_modified_value
             FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log m, agg
            WHERE m.materialization_id = agg.mat_hypertable_id
              AND m.lowest_modified_value < _timescaledb_functions.to_unix_microseconds($2)
              -- From the threshold on, the range is new data (checked below), not a change.
              AND (m.lowest_modified_value < agg.threshold OR agg.threshold = ${MIN_TIME_MICROS})
              -- What a refresh leaves below the first timestamp is no range of data.
              AND m.greatest_modified_value >= ${MIN_TIME_MICROS})
         SELECT (SELECT count(*) FROM changed) AS ranges,
                (SELECT min(lowest) FROM changed)::text AS lowest,
                nullif(agg.threshold, ${MIN_TIME_MICROS})::text AS threshold,
                format('%I.%I', h.schema_name, h.table_name) AS source,
                d.column_name AS time_column,
                (SELECT min(s.range_start) FROM _timescaledb_catalog.dimension_slice s
                  WHERE s.dimension_id = d.id)::text AS first_chunk
           FROM agg
           JOIN _timescaledb_catalog.hypertable h ON h.id = agg.raw_hypertable_id
           JOIN _timescaledb_catalog.dimension d
             ON d.hypertable_id = h.id AND d.interval_length IS NOT NULL`,
        [level.view, until],
      ),
    );
    const row = rows[0];
    if (!row) throw new Error(`${level.view} is not a continuous aggregate`);
    const ranges = Number(row.ranges);
    const starts: bigint[] = row.lowest === null ? [] : [BigInt(row.lowest)];
    if (row.threshold === null) {
      starts.push(BigInt(MIN_TIME_MICROS));
    } else if (await this.hasRowsBetween(row, BigInt(row.threshold), until)) {
      starts.push(BigInt(row.threshold));
    }
    if (starts.length === 0) return { ranges, fromMs: undefined };
    const lowest = starts.reduce((a, b) => (a < b ? a : b));
    if (lowest <= BigInt(MIN_TIME_MICROS)) return { ranges, fromMs: null };
    // Before the source's first chunk (dropped by retention): TimescaleDB's batched refresh
    // skips a window part without chunks unless the window is open at its start.
    if (row.first_chunk === null || lowest < BigInt(row.first_chunk)) {
      return { ranges, fromMs: null };
    }
    // Down to the level's bucket: TimescaleDB refreshes only whole buckets inside the window.
    const step = TIMEFRAME_MS[level.timeframe];
    return { ranges, fromMs: Math.floor(Number(lowest / 1000n) / step) * step };
  }

  /** Rows of the level's source from `fromMicros` to `until`: only chunks of that range are read. */
  private async hasRowsBetween(
    source: { source: string; time_column: string },
    fromMicros: bigint,
    until: string,
  ): Promise<boolean> {
    // Identifiers from TimescaleDB's catalog, quoted by format() above and here.
    const { rows } = await translatePgErrors(() =>
      this.sql.query<{ found: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM ${source.source}
                         WHERE ${quoteIdent(source.time_column)} >= _timescaledb_functions.to_timestamp($1::bigint)
                           AND ${quoteIdent(source.time_column)} < $2::timestamptz) AS found`,
        [fromMicros.toString(), until],
      ),
    );
    return rows[0]?.found === true;
  }
}

/** A catalog name as an SQL identifier. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** What one refresh of plain PostgreSQL's rollups did. */
export interface NativeRefresh {
  /** Logged changes below the watermark rebuilt, as merged day-long spans of one instrument. */
  readonly changedSpans: number;
  /** Start of the window newly materialized; undefined when the watermark stayed. */
  readonly windowFromMs: number | undefined;
  /** The watermark after it: every bucket before is materialized (save changes logged since). */
  readonly materializedUntilMs: number;
}

/** One transaction of a native refresh: its changes, its window, its new watermark. */
interface NativeBatch {
  readonly changedSpans: number;
  readonly windowFromMs: number | undefined;
  readonly untilMs: number;
  readonly done: boolean;
}

/**
 * The statements of one refresh of plain PostgreSQL's rollups
 * (market_data_rollups), on the connection that holds the task's lock. A
 * refresh runs in transactions of REFRESH_BATCH_SPAN_MS of new window each,
 * REPEATABLE READ: each rebuilds the changes logged before the watermark
 * and the window after it from one snapshot of the minutes, then forgets
 * the changes it saw, so a write committing meanwhile keeps its log row
 * (and its buckets stay computed from the minutes) until the next refresh.
 */
export class NativeRollupRefreshSession {
  constructor(private readonly sql: LockedSession) {}

  /** Materializes every bucket before `untilMs` (a UTC day boundary) and every change before it. */
  async refresh(untilMs: number): Promise<NativeRefresh> {
    let changedSpans = 0;
    let windowFromMs: number | undefined;
    for (;;) {
      const batch = await translatePgErrors(() =>
        inSessionTransaction(
          this.sql,
          (client) => this.refreshBatch(client, untilMs),
          'BEGIN ISOLATION LEVEL REPEATABLE READ',
        ),
      );
      changedSpans += batch.changedSpans;
      windowFromMs ??= batch.windowFromMs;
      if (batch.done) return { changedSpans, windowFromMs, materializedUntilMs: batch.untilMs };
    }
  }

  private async refreshBatch(client: LockedSession, untilMs: number): Promise<NativeBatch> {
    const { rows } = await client.query<{ until: Date | null; first_day: Date | null }>(
      `SELECT w.materialized_until AS until,
              CASE WHEN w.materialized_until IS NULL THEN
                (SELECT date_bin(INTERVAL '1 day', min("timestamp"), TIMESTAMPTZ '1970-01-01T00:00:00Z')
                   FROM market_data_ts WHERE timeframe = 'ONE_MINUTE') END AS first_day
         FROM market_data_rollup_watermark w`,
    );
    const row = rows[0];
    if (!row) throw new Error('market_data_rollup_watermark has no row');
    // Nothing materialized yet: from the first minute's day (none at all: nothing to build).
    const fromMs = (row.until ?? row.first_day)?.getTime() ?? untilMs;
    const toMs = Math.max(fromMs, Math.min(fromMs + REFRESH_BATCH_SPAN_MS, untilMs));
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();

    const { rows: spans } = await client.query<{ instrument_id: string; lo: Date; hi: Date }>(
      CHANGED_SPANS_SQL,
      [from],
    );
    if (spans.length > 0) {
      const arrays = [
        spans.map((s) => s.instrument_id),
        spans.map((s) => s.lo.toISOString()),
        spans.map((s) => s.hi.toISOString()),
      ];
      for (const statement of REBUILD_SPANS_SQL) await client.query(statement, arrays);
    }
    if (toMs > fromMs) {
      for (const statement of REBUILD_WINDOW_SQL) await client.query(statement, [from, to]);
    }
    for (const statement of TAKE_IN_CHANGES_SQL) await client.query(statement, [to]);
    await client.query(`UPDATE market_data_rollup_watermark SET materialized_until = $1`, [to]);
    return {
      changedSpans: spans.length,
      windowFromMs: toMs > fromMs ? fromMs : undefined,
      untilMs: toMs,
      done: toMs >= untilMs,
    };
  }
}

/** Refresh of the rollups for the rollup refresh task. */
@Injectable()
export class RollupRefreshRepository {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  /** Plain PostgreSQL keeps its rollups in a table of the service's (NativeRollupRefreshSession). */
  get native(): boolean {
    return this.db.info.engine !== 'timescaledb';
  }

  /** The refresh task's statements on the session holding its lock (AdvisoryLock). */
  sessionOn(sql: LockedSession): RollupRefreshSession {
    return new RollupRefreshSession(sql);
  }

  /** The same for plain PostgreSQL's rollups. */
  nativeSessionOn(sql: LockedSession): NativeRollupRefreshSession {
    return new NativeRollupRefreshSession(sql);
  }
}
