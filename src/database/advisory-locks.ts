/**
 * Every advisory lock key the service takes, in one place so that no two
 * jobs share a key by accident (the partitions lock and the compression job
 * once did). PostgreSQL keeps the one-bigint keys (`pg_advisory_lock(key)`)
 * and the two-int4 keys (`pg_advisory_lock(class, id)`) in separate spaces:
 * a one-key lock never excludes a two-key lock whatever the numbers.
 */
export const ADVISORY_LOCKS = {
  /** Session lock of the migration runner: replicas starting together apply migrations once. */
  migrations: 7_340_112_211,
  /** Session lock of the compression job: one replica at a time compresses chunks. */
  compressionJob: 7_340_112_212,
  /** Session lock of the statistics measurement: one instance measures, the others only flush. */
  statisticsMeasurement: 7_340_112_213,
  /** Transaction lock of the plain-PostgreSQL partitions: serializes their creation and retention's drops. */
  partitions: 7_340_112_214,
  /** Session lock of the rollup refresh: one replica at a time refreshes the continuous aggregates. */
  rollupRefresh: 7_340_112_231,
} as const;

/**
 * First key (class) of the two-key session locks of maintenance tasks, one
 * per task: `pg_try_advisory_lock(MAINTENANCE_TASK_LOCK_CLASS, hashtext(name))`.
 */
export const MAINTENANCE_TASK_LOCK_CLASS = 734_011;

export type AdvisoryLockKey = (typeof ADVISORY_LOCKS)[keyof typeof ADVISORY_LOCKS];
