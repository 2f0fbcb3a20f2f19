/**
 * Every advisory lock key the service takes, in one place so that no two
 * jobs share a key by accident (the partitions lock and the compression job
 * once did). All are one-bigint keys (`pg_advisory_lock(key)`).
 */
export const ADVISORY_LOCKS = {
  /** Session lock of the migration runner: replicas starting together apply migrations once. */
  migrations: 7_340_112_211,
  /** Transaction lock of the plain-PostgreSQL partitions: serializes their creation and retention's drops. */
  partitions: 7_340_112_214,
  // Session locks of the lifecycle tasks (src/lifecycle), one per task: one
  // replica at a time runs a task, the others report it skipped. The
  // compression, statistics and rollup keys are the ones their jobs took
  // before the tasks moved under one scheduler.
  /** Task `compression`: chunks of bars and rollups. */
  compression: 7_340_112_212,
  /** Task `statistics`; a reader that finds no measurement today waits for it too. */
  statisticsMeasurement: 7_340_112_213,
  /** Task `retention`. */
  retention: 7_340_112_215,
  /** Task `partitions` (apart from `partitions`, which its statements take per transaction). */
  partitionsAhead: 7_340_112_216,
  /** Task `tick_lifecycle`: compression and retention of trades and quotes. */
  tickLifecycle: 7_340_112_217,
  /** Task `rollup_refresh`: the continuous aggregates. */
  rollupRefresh: 7_340_112_231,
} as const;

export type AdvisoryLockKey = (typeof ADVISORY_LOCKS)[keyof typeof ADVISORY_LOCKS];
