import { Module } from '@nestjs/common';
import { ConfigurationModule } from '../configuration/configuration.module';
import { CompressionTask } from './compression.task';
import { HypertableLayoutInitializer } from './hypertable-layout.initializer';
import { MaintenanceController } from './maintenance.controller';
import { MaintenanceLock } from './maintenance-lock';
import { MaintenanceScheduler } from './maintenance.scheduler';
import { PartitionsTask } from './partitions.task';
import { RetentionTask } from './retention.task';
import { RepositoriesModule } from '../repositories/repositories.module';
import { CacheModule } from '../cache/cache.module';
import { DatabaseModule } from '../database/database.module';

/**
 * Data lifecycle upkeep run by the service itself (docs/lifecycle.md): the
 * scheduler and its tasks. Another module plugs a task in by importing this
 * one and calling MaintenanceScheduler.register in its onModuleInit.
 */
@Module({
  imports: [ConfigurationModule, RepositoriesModule, DatabaseModule, CacheModule],
  controllers: [MaintenanceController],
  providers: [
    HypertableLayoutInitializer,
    MaintenanceLock,
    MaintenanceScheduler,
    CompressionTask,
    RetentionTask,
    PartitionsTask,
  ],
  exports: [MaintenanceScheduler],
})
export class MaintenanceModule {}
