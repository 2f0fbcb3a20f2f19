/** One unit of periodic upkeep the maintenance scheduler runs (compression, retention, rollup refresh). */
export interface MaintenanceTask {
  /** Stable name, used in logs, metrics and the /maintenance/run report. */
  readonly name: string;
  /** Does the work due at `now` and says what it did (counts, names). */
  run(now: Date): Promise<Record<string, unknown>>;
}
