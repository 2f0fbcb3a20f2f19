import { Module } from '@nestjs/common';
import { RollupsRepository } from '../database/rollups.repository';
import { MaintenanceModule } from '../maintenance/maintenance.module';
import { RollupRefreshRepository } from './rollup-refresh.repository';
import { RollupRefreshTask } from './rollup-refresh.task';
import { RollupsService } from './rollups.service';

/**
 * Rollups: the continuous aggregates behind derived timeframes. Exports the
 * reads (for the query path) and the refresh task (for maintenance).
 */
@Module({
  imports: [MaintenanceModule],
  providers: [RollupsRepository, RollupRefreshRepository, RollupRefreshTask, RollupsService],
  exports: [RollupsRepository, RollupRefreshTask],
})
export class RollupsModule {}
