import { Module } from '@nestjs/common';
import { MaintenanceModule } from '../maintenance/maintenance.module';
import { RollupRefreshTask } from './rollup-refresh.task';
import { RollupsService } from './rollups.service';
import { RepositoriesModule } from '../repositories/repositories.module';

/**
 * Rollups: the continuous aggregates behind derived timeframes. Exports the
 * reads (for the query path) and the refresh task (for maintenance).
 */
@Module({
  imports: [MaintenanceModule, RepositoriesModule],
  providers: [RollupRefreshTask, RollupsService],
  exports: [RollupRefreshTask],
})
export class RollupsModule {}
