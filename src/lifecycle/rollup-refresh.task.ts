import { Injectable, Logger } from '@nestjs/common';
import { TIMEFRAME_MS } from '../common/market-data.types';
import { formatInstant } from '../common/time';
import { ROLLUP_LEVELS, RollupLevel } from '../repositories/rollups.repository';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { LifecycleTask, TaskRun } from './lifecycle-task';
import { NATIVE_ROLLUPS_TABLE } from '../repositories/native-rollups.sql';
import {
  RollupRefreshRepository,
  RollupRefreshSession,
} from '../repositories/rollup-refresh.repository';

/** What a refresh did to one level. */
export interface RefreshedLevel {
  readonly timeframe: string;
  readonly view: string;
  /** Invalidated ranges waiting before the refresh (0: it only moved the window on). */
  readonly pending_ranges: number;
  /** Start of the window refreshed (null: the beginning of time; absent: already up to date). */
  readonly refreshed_from?: string | null;
  /** Every bucket ending by then is materialized. */
  readonly refreshed_until: string;
  readonly took_ms: number;
}

/**
 * End of the refresh window of a level at `nowMs`: one whole bucket
 * before the bucket in progress, as the migration's policies' end_offset,
 * so the newest buckets stay real-time and a bar a little late does not
 * invalidate a bucket just materialized.
 */
export function refreshUntil(level: RollupLevel, nowMs: number): number {
  const step = TIMEFRAME_MS[level.timeframe];
  return Math.floor((nowMs - step) / step) * step;
}

/**
 * The lifecycle task `rollup_refresh`: refreshes the rollups. On TimescaleDB
 * the continuous aggregates, finest level first, since each is built from
 * the one below; TimescaleDB's own policies would do this on a server with
 * background workers (the embedded engine has none). On plain PostgreSQL
 * the service's own table (NativeRollupRefreshSession), every level up to
 * the daily level's refreshUntil. It runs on every engine,
 * every ROLLUP_REFRESH_INTERVAL_MS under its lock, so one replica runs it
 * at a time. Answers stay exact between refreshes (RollupsRepository reads
 * raw minutes where a refresh is pending): a refresh only makes reads after
 * late or corrected bars fast again.
 */
@Injectable()
export class RollupRefreshTask implements LifecycleTask {
  readonly name = 'rollup_refresh';
  readonly lockKey = ADVISORY_LOCKS.rollupRefresh;
  private readonly logger = new Logger('RollupRefresh');

  constructor(private readonly rollups: RollupRefreshRepository) {}

  async run({ now, session }: TaskRun): Promise<Record<string, unknown>> {
    if (this.rollups.native) return this.refreshNative(session, now.getTime());
    const refreshed = await this.refreshAll(this.rollups.sessionOn(session), now.getTime());
    const pending = refreshed.reduce((n, l) => n + l.pending_ranges, 0);
    if (pending > 0) {
      this.logger.log(`refreshed ${refreshed.length} rollups over ${pending} invalidated range(s)`);
    }
    return { ran: true, levels: refreshed };
  }

  /** Plain PostgreSQL: one watermark for every level, whole UTC days (the daily level's window). */
  private async refreshNative(
    session: TaskRun['session'],
    nowMs: number,
  ): Promise<Record<string, unknown>> {
    const started = performance.now();
    // The coarsest level, ONE_DAY: its window ends on a UTC day, a boundary of every level.
    const daily = ROLLUP_LEVELS[ROLLUP_LEVELS.length - 1]!;
    const done = await this.rollups.nativeSessionOn(session).refresh(refreshUntil(daily, nowMs));
    if (done.changedSpans > 0) {
      this.logger.log(`rebuilt the rollups of ${done.changedSpans} changed span(s)`);
    }
    return {
      ran: true,
      table: NATIVE_ROLLUPS_TABLE,
      changed_spans: done.changedSpans,
      ...(done.windowFromMs === undefined
        ? {}
        : { materialized_from: formatInstant(done.windowFromMs) }),
      materialized_until: formatInstant(done.materializedUntilMs),
      took_ms: Math.round(performance.now() - started),
    };
  }

  private async refreshAll(
    session: RollupRefreshSession,
    nowMs: number,
  ): Promise<RefreshedLevel[]> {
    const done: RefreshedLevel[] = [];
    for (const level of ROLLUP_LEVELS) {
      const started = performance.now();
      const until = refreshUntil(level, nowMs);
      const pending = await session.pending(level, until);
      // Only the changed window; nothing at all when the level is up to date.
      // A failure stops the run: the levels above are built from this one.
      if (pending.fromMs !== undefined) await session.refresh(level, pending.fromMs, until);
      done.push({
        timeframe: level.timeframe,
        view: level.view,
        pending_ranges: pending.ranges,
        ...(pending.fromMs === undefined
          ? {}
          : { refreshed_from: pending.fromMs === null ? null : formatInstant(pending.fromMs) }),
        refreshed_until: formatInstant(until),
        took_ms: Math.round(performance.now() - started),
      });
    }
    return done;
  }
}
