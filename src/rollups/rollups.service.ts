import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { RollupRefreshRepository } from './rollup-refresh.repository';
import { RollupRefreshTask } from './rollup-refresh.task';

/**
 * Runs the rollup refresh every ROLLUP_REFRESH_INTERVAL_MS (0: never on a
 * timer). Stands in for the maintenance scheduler, which will run the same
 * RollupRefreshTask among its tasks.
 */
@Injectable()
export class RollupsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Rollups');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly task: RollupRefreshTask,
    private readonly rollups: RollupRefreshRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    const interval = this.settings.rollupRefreshIntervalMs;
    if (!this.rollups.rollupsAvailable) {
      this.logger.log('off: plain PostgreSQL; derived timeframes are computed from raw bars');
    } else if (interval === 0) {
      this.logger.log('timer off (ROLLUP_REFRESH_INTERVAL_MS=0); rollups refresh on demand only');
    } else {
      this.timer = setInterval(() => void this.runOnSchedule(), interval);
      this.timer.unref();
      this.logger.log(`refreshes the rollups every ${interval} ms`);
    }
  }

  /** Stops the timer and waits for a run in progress. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async runOnSchedule(): Promise<void> {
    try {
      this.running = this.task.run(new Date());
      await this.running;
    } catch (error) {
      this.logger.warn(
        `refresh failed, retried in ${this.settings.rollupRefreshIntervalMs} ms: ${(error as Error).message}`,
      );
    } finally {
      this.running = undefined;
    }
  }
}
