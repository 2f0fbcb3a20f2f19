import { Inject, Logger, Module, OnModuleInit } from '@nestjs/common';
import { CacheModule } from '../cache/cache.module';
import { DatabaseModule } from '../database/database.module';
import { RepositoriesModule } from '../repositories/repositories.module';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { StatisticsModule } from '../statistics/statistics.module';
import { CompressionTask } from './compression.task';
import { HypertableLayoutInitializer } from './hypertable-layout.initializer';
import { LifecycleScheduler } from './lifecycle.scheduler';
import { MaintenanceController } from './maintenance.controller';
import { PartitionsTask } from './partitions.task';
import { RetentionTask } from './retention.task';
import { RollupRefreshTask } from './rollup-refresh.task';
import { StatisticsTask } from './statistics.task';
import { TickLifecycleTask } from './tick-lifecycle.task';

const TASKS = [
  CompressionTask,
  RetentionTask,
  PartitionsTask,
  RollupRefreshTask,
  TickLifecycleTask,
  StatisticsTask,
];

/**
 * The service's background work in one place (docs/lifecycle.md): the one
 * scheduler, every task, the layout applied at start and
 * POST /api/v1/storage/maintenance/run.
 */
@Module({
  imports: [DatabaseModule, RepositoriesModule, CacheModule, StatisticsModule],
  controllers: [MaintenanceController],
  providers: [HypertableLayoutInitializer, LifecycleScheduler, ...TASKS],
  exports: [LifecycleScheduler],
})
export class LifecycleModule implements OnModuleInit {
  private readonly logger = new Logger('Lifecycle');

  constructor(
    private readonly scheduler: LifecycleScheduler,
    private readonly compression: CompressionTask,
    private readonly retention: RetentionTask,
    private readonly partitions: PartitionsTask,
    private readonly rollupRefresh: RollupRefreshTask,
    private readonly tickLifecycle: TickLifecycleTask,
    private readonly statistics: StatisticsTask,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /**
   * Registration order is the order of a full run: compression before the
   * rollup refresh (rollup chunks a refresh materializes are compressed by a
   * later run), the measurement last (it sees what the others did).
   */
  onModuleInit(): void {
    const s = this.settings;
    if (s.lifecycle.retentionMaxDaysIgnored) {
      this.logger.warn(
        'RETENTION_MAX_DAYS is ignored: retention is no longer capped; a series keeps its ' +
          'configured retention_days (1..36500 or null: forever) or RETENTION_DEFAULT_DAYS',
      );
    }
    this.scheduler.register(
      this.compression,
      this.compression.available ? s.compressionJobIntervalMs : 0,
    );
    if (!this.compression.available) this.logger.log('compression off: plain PostgreSQL');
    this.scheduler.register(this.retention, s.lifecycle.maintenanceIntervalMs);
    this.scheduler.register(this.partitions, s.lifecycle.maintenanceIntervalMs);
    this.scheduler.register(this.rollupRefresh, s.rollupRefreshIntervalMs);
    this.scheduler.register(this.tickLifecycle, s.compressionJobIntervalMs);
    this.scheduler.register(this.statistics, s.statsRefreshIntervalMs);
  }
}
