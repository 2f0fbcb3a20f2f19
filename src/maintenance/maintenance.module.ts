import { Module } from '@nestjs/common';
import { ConfigurationModule } from '../configuration/configuration.module';
import { CompressionTask } from './compression.task';
import { HypertableLayoutInitializer } from './hypertable-layout.initializer';
import { MaintenanceController } from './maintenance.controller';
import { MaintenanceLock } from './maintenance-lock';
import { MaintenanceScheduler } from './maintenance.scheduler';
import { PartitionsTask } from './partitions.task';
import { RetentionRepository } from './retention.repository';
import { RetentionTask } from './retention.task';

/**
 * Data lifecycle upkeep run by the service itself (docs/lifecycle.md): the
 * scheduler and its tasks. Another module plugs a task in by importing this
 * one and calling MaintenanceScheduler.register in its onModuleInit.
 */
@Module({
  imports: [ConfigurationModule],
  controllers: [MaintenanceController],
  providers: [
    HypertableLayoutInitializer,
    MaintenanceLock,
    MaintenanceScheduler,
    RetentionRepository,
    CompressionTask,
    RetentionTask,
    PartitionsTask,
  ],
  exports: [MaintenanceScheduler],
})
export class MaintenanceModule {}
