import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { QuotesRepository } from '../database/quotes.repository';
import { TradesRepository } from '../database/trades.repository';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';

const DAY_MS = 86_400_000;
/** The spec's compress_after for raw data: a chunk is compressed a day after its range ended. */
export const TICK_COMPRESS_AFTER_MS = DAY_MS;
/** The spec's raw retention: two years. */
export const TICK_RETENTION_MS = 730 * DAY_MS;

export interface TickLifecycleReport {
  readonly compressedChunks: string[];
  /** Chunks (TimescaleDB) or monthly partitions (plain PostgreSQL) dropped by retention. */
  readonly droppedParts: number;
}

/**
 * Compression and retention of trades and quotes, on the period of the bar
 * compression job (COMPRESSION_JOB_INTERVAL_MS; 0: on demand only). The
 * embedded engine has no background workers, so TimescaleDB's own policies
 * would never run there: this job does the work on every engine.
 */
@Injectable()
export class TickLifecycleJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('TickLifecycle');
  private timer?: NodeJS.Timeout;
  private current?: Promise<TickLifecycleReport>;

  constructor(
    private readonly trades: TradesRepository,
    private readonly quotes: QuotesRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    const interval = this.settings.compressionJobIntervalMs;
    if (interval === 0) return;
    this.timer = setInterval(() => void this.runOnSchedule(), interval);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.current?.catch(() => undefined);
  }

  /** One run judged against `nowMs`; a call during a run gets that run's report. */
  run(nowMs: number = Date.now()): Promise<TickLifecycleReport> {
    this.current ??= this.execute(nowMs).finally(() => (this.current = undefined));
    return this.current;
  }

  private async execute(nowMs: number): Promise<TickLifecycleReport> {
    const retentionCutoff = nowMs - TICK_RETENTION_MS;
    const droppedParts =
      (await this.trades.maintenance.dropDataBefore(retentionCutoff)) +
      (await this.quotes.maintenance.dropDataBefore(retentionCutoff));
    const compressCutoff = nowMs - TICK_COMPRESS_AFTER_MS;
    const compressedChunks = [
      ...(await this.trades.maintenance.compressChunksEndedBefore(compressCutoff)),
      ...(await this.quotes.maintenance.compressChunksEndedBefore(compressCutoff)),
    ];
    if (compressedChunks.length || droppedParts) {
      this.logger.log(
        `compressed ${compressedChunks.length} chunk(s), dropped ${droppedParts} by retention`,
      );
    }
    return { compressedChunks, droppedParts };
  }

  private async runOnSchedule(): Promise<void> {
    try {
      await this.run();
    } catch (error) {
      this.logger.warn(`run failed, retried next period: ${(error as Error).message}`);
    }
  }
}
