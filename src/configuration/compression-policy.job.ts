import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { DatabaseUnavailableError } from '../common/errors';
import { formatInstant } from '../common/time';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { COMPRESSION_LEVELS, levelsBlockingAt } from './compression-level';
import { CompressionRepository, CompressionSession, OpenChunk } from './compression.repository';

export interface CompressedChunk {
  readonly chunk: string;
  readonly range_start: string;
  readonly range_end: string;
}

/** What one run did. */
export interface CompressionReport {
  /** False when nothing was looked at; `reason` says why. */
  readonly ran: boolean;
  readonly reason?: string;
  readonly compressed_chunks: CompressedChunk[];
  /** Chunks left uncompressed: too young for a series in them, or the run was stopped. */
  readonly skipped: number;
  /** Chunks whose compression failed; the next run tries them again. */
  readonly failed_chunks: { chunk: string; message: string }[];
}

export const NO_COMPRESSION_REASON =
  'plain PostgreSQL has no compression (TimescaleDB is not installed)';
export const LOCKED_REASON = 'another instance is running the compression job';

function notRun(reason: string): CompressionReport {
  return { ran: false, reason, compressed_chunks: [], skipped: 0, failed_chunks: [] };
}

/**
 * The compression policy by configuration (it replaces TimescaleDB's single
 * add_compression_policy): a chunk of market_data_ts is compressed once its
 * range has ended longer ago than the compress_after of every series with
 * rows in it (see COMPRESS_AFTER_MS; a NONE series keeps its chunks
 * uncompressed). Runs every COMPRESSION_JOB_INTERVAL_MS and on demand
 * through run(). The embedded engine has no background workers: this job is
 * what compresses there.
 */
@Injectable()
export class CompressionPolicyJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('CompressionPolicy');
  private timer?: NodeJS.Timeout;
  private current?: Promise<CompressionReport>;
  private stopping = false;

  constructor(
    private readonly chunks: CompressionRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    const interval = this.settings.compressionJobIntervalMs;
    if (!this.chunks.compressionAvailable) {
      this.logger.log(`off: ${NO_COMPRESSION_REASON}`);
    } else if (interval === 0) {
      this.logger.log('timer off (COMPRESSION_JOB_INTERVAL_MS=0); chunks compress only on demand');
    } else {
      this.timer = setInterval(() => void this.runOnSchedule(), interval);
      this.timer.unref();
      this.logger.log(`compresses chunks by configuration every ${interval} ms`);
    }
  }

  /** Stops the timer and lets a run in progress end after its current chunk. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.stopping = true;
    await this.current?.catch(() => undefined);
  }

  /**
   * One run now, judging chunk ages against `nowMs`. A call while a run is
   * in progress gets that run's report.
   */
  run(nowMs: number = Date.now()): Promise<CompressionReport> {
    this.current ??= this.execute(nowMs).finally(() => (this.current = undefined));
    return this.current;
  }

  private async runOnSchedule(): Promise<void> {
    try {
      await this.run();
    } catch (error) {
      this.logger.warn(
        `run failed, retried in ${this.settings.compressionJobIntervalMs} ms: ${(error as Error).message}`,
      );
    }
  }

  private async execute(nowMs: number): Promise<CompressionReport> {
    if (!this.chunks.compressionAvailable) return notRun(NO_COMPRESSION_REASON);
    const report = await this.chunks.withJobLock((session) => this.compressDue(session, nowMs));
    if (!report) return notRun(LOCKED_REASON);
    if (report.compressed_chunks.length || report.failed_chunks.length) {
      this.logger.log(
        `compressed ${report.compressed_chunks.length} chunk(s), ${report.failed_chunks.length} failed, ${report.skipped} left uncompressed`,
      );
    }
    return report;
  }

  private async compressDue(
    session: CompressionSession,
    nowMs: number,
  ): Promise<CompressionReport> {
    const compressed: CompressedChunk[] = [];
    const failed: { chunk: string; message: string }[] = [];
    let skipped = 0;
    for (const chunk of await session.findOpenChunks()) {
      if (this.stopping || !(await this.isDue(session, chunk, nowMs))) {
        skipped++;
        continue;
      }
      try {
        await session.compress(chunk);
        compressed.push({
          chunk: chunk.name,
          range_start: formatInstant(chunk.rangeStartMs),
          range_end: formatInstant(chunk.rangeEndMs),
        });
      } catch (error) {
        // Without the database the run cannot go on; one chunk's failure must not block the rest.
        if (error instanceof DatabaseUnavailableError) throw error;
        this.logger.warn(`compressing ${chunk.name} failed: ${(error as Error).message}`);
        failed.push({ chunk: chunk.name, message: (error as Error).message });
      }
    }
    return { ran: true, compressed_chunks: compressed, skipped, failed_chunks: failed };
  }

  /** The strictest series wins: due only when no series in the chunk is at a blocking level. */
  private async isDue(
    session: CompressionSession,
    chunk: OpenChunk,
    nowMs: number,
  ): Promise<boolean> {
    const blocking = levelsBlockingAt(nowMs - chunk.rangeEndMs);
    if (blocking.length === COMPRESSION_LEVELS.length) return false;
    return !(await session.holdsSeriesAt(chunk, blocking));
  }
}
