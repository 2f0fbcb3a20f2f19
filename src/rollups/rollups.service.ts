import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { MaintenanceScheduler } from '../maintenance/maintenance.scheduler';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { RollupRefreshRepository } from '../repositories/rollup-refresh.repository';
import { RollupRefreshTask } from './rollup-refresh.task';

/**
 * Puts the rollup refresh among the maintenance tasks: every
 * ROLLUP_REFRESH_INTERVAL_MS on TimescaleDB (0: only on
 * POST /api/v1/storage/maintenance/run), never on a timer on plain PostgreSQL.
 * The scheduler owns the timer, the per-task lock and the drain at shutdown.
 */
@Injectable()
export class RollupsService implements OnModuleInit {
  private readonly logger = new Logger('Rollups');

  constructor(
    private readonly task: RollupRefreshTask,
    private readonly rollups: RollupRefreshRepository,
    private readonly scheduler: MaintenanceScheduler,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    const interval = this.settings.rollupRefreshIntervalMs;
    if (!this.rollups.rollupsAvailable) {
      this.logger.log('off: plain PostgreSQL; derived timeframes are computed from raw bars');
      this.scheduler.register(this.task, 0);
    } else if (interval === 0) {
      this.logger.log('timer off (ROLLUP_REFRESH_INTERVAL_MS=0); rollups refresh on demand only');
      this.scheduler.register(this.task, 0);
    } else {
      this.scheduler.register(this.task, interval);
      this.logger.log(`refreshes the rollups every ${interval} ms`);
    }
  }
}
