import { Injectable } from '@nestjs/common';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { StatisticsService } from '../statistics/statistics.service';
import { LifecycleTask, TaskRun } from './lifecycle-task';

/**
 * The lifecycle task `statistics`: the storage measurement behind
 * GET /statistics (sizes, counts, compression), every
 * STATS_REFRESH_INTERVAL_MS under the measurement lock. The statistics
 * service keeps the measuring and the per-instance flush of query counters.
 */
@Injectable()
export class StatisticsTask implements LifecycleTask {
  readonly name = 'statistics';
  readonly lockKey = ADVISORY_LOCKS.statisticsMeasurement;

  constructor(private readonly statistics: StatisticsService) {}

  run({ session, scheduled }: TaskRun): Promise<Record<string, unknown>> {
    return this.statistics.measureOn(session, scheduled);
  }
}
