import type { LockedSession } from '../database/advisory-lock';
import type { AdvisoryLockKey } from '../database/advisory-locks';

/** How a task is being run. */
export interface TaskRun {
  /** The work due at this instant. */
  readonly now: Date;
  /** The session holding the task's lock (the pool on the embedded engine), for statements that need no timeout. */
  readonly session: LockedSession;
  /** Started by the task's timer, not asked for through POST /maintenance/run. */
  readonly scheduled: boolean;
  /** Say what would be done and change nothing (only tasks with canDryRun); absent: false. */
  readonly dryRun?: boolean;
}

/**
 * One unit of background upkeep the lifecycle scheduler runs (compression,
 * retention, partitions, rollup refresh, tick lifecycle, statistics).
 */
export interface LifecycleTask {
  /** Stable name, used in logs and the /maintenance/run report. */
  readonly name: string;
  /** The task's one lock (ADVISORY_LOCKS): one replica at a time runs it. */
  readonly lockKey: AdvisoryLockKey;
  /** It can answer a dry run (POST /maintenance/run?dry_run=true): what it would delete. */
  readonly canDryRun?: boolean;
  /** Does the work due at `run.now` and says what it did (counts, names). */
  run(run: TaskRun): Promise<Record<string, unknown>>;
  /** At shutdown: end a run in progress early (after its current step). */
  stop?(): void;
}
