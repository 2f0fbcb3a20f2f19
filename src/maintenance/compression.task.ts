import { Injectable, OnModuleInit } from '@nestjs/common';
import { CompressionPolicyJob } from '../configuration/compression-policy.job';
import { MaintenanceScheduler } from './maintenance.scheduler';
import { MaintenanceTask } from './maintenance-task';

/**
 * The compression policy by configuration as a maintenance task. Its timer
 * stays the job's own (COMPRESSION_JOB_INTERVAL_MS), so the scheduler runs
 * it only on demand; the job serializes the two callers itself.
 */
@Injectable()
export class CompressionTask implements MaintenanceTask, OnModuleInit {
  readonly name = 'compression';

  constructor(
    private readonly job: CompressionPolicyJob,
    private readonly scheduler: MaintenanceScheduler,
  ) {}

  onModuleInit(): void {
    this.scheduler.register(this, 0);
  }

  async run(now: Date): Promise<Record<string, unknown>> {
    return { ...(await this.job.run(now.getTime())) };
  }
}
