import { Injectable, Logger } from '@nestjs/common';
import { TIMEFRAME_MS } from '../common/market-data.types';
import { formatInstant } from '../common/time';
import { ROLLUP_LEVELS, RollupLevel } from '../repositories/rollups.repository';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { LifecycleTask, TaskRun } from './lifecycle-task';
import {
  RollupRefreshRepository,
  RollupRefreshSession,
} from '../repositories/rollup-refresh.repository';

export const NO_ROLLUPS_REASON =
  'plain PostgreSQL has no continuous aggregates (TimescaleDB is not installed); derived timeframes are computed from raw bars';

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
 * The lifecycle task `rollup_refresh`: refreshes the rollups (continuous
 * aggregates), finest level first, since each is built from the one below.
 * TimescaleDB's own policies do this on a server with background workers;
 * this task does it on every engine (the embedded one has no workers),
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

  /** Plain PostgreSQL has no continuous aggregates: the scheduler gives it no timer there. */
  get available(): boolean {
    return this.rollups.rollupsAvailable;
  }

  async run({ now, session }: TaskRun): Promise<Record<string, unknown>> {
    if (!this.rollups.rollupsAvailable) return { ran: false, reason: NO_ROLLUPS_REASON };
    const refreshed = await this.refreshAll(this.rollups.sessionOn(session), now.getTime());
    const pending = refreshed.reduce((n, l) => n + l.pending_ranges, 0);
    if (pending > 0) {
      this.logger.log(`refreshed ${refreshed.length} rollups over ${pending} invalidated range(s)`);
    }
    return { ran: true, levels: refreshed };
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
