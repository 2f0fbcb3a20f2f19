import { Injectable, Logger } from '@nestjs/common';
import { DatabaseUnavailableError } from '../common/errors';
import { formatInstant } from '../common/time';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { COMPRESSION_LEVELS, levelsBlockingAt } from '../configuration/compression-level';
import { LifecycleTask, TaskRun } from './lifecycle-task';
import { refreshUntil } from './rollup-refresh.task';
import {
  CompressionRepository,
  CompressionSession,
  OpenChunk,
  OpenRollupChunk,
} from '../repositories/compression.repository';

export interface CompressedChunk {
  readonly chunk: string;
  readonly range_start: string;
  readonly range_end: string;
}

/** A chunk of a rollup (continuous aggregate) the run compressed. */
export interface CompressedRollupChunk extends CompressedChunk {
  /** The rollup's timeframe, e.g. FIVE_MINUTES. */
  readonly timeframe: string;
  /** The continuous aggregate, e.g. market_data_5m. */
  readonly view: string;
}

export interface FailedChunk {
  readonly chunk: string;
  readonly message: string;
  /** Set for a chunk of a rollup: its timeframe. */
  readonly timeframe?: string;
}

/** What one run did. */
export interface CompressionReport {
  /** False when nothing was looked at; `reason` says why. */
  readonly ran: boolean;
  readonly reason?: string;
  /** Chunks of bars (market_data_ts). */
  readonly compressed_chunks: CompressedChunk[];
  /** Chunks of bars left uncompressed: too young for a series in them, or the run was stopped. */
  readonly skipped: number;
  /** Chunks of the rollups, finest level first. */
  readonly compressed_rollup_chunks: CompressedRollupChunk[];
  /** Chunks of the rollups left uncompressed: their range is too recent, or the run was stopped. */
  readonly skipped_rollup_chunks: number;
  /** Chunks whose compression failed (bars or rollups); the next run tries them again. */
  readonly failed_chunks: FailedChunk[];
}

/**
 * How long after a rollup chunk's range ended it is compressed: as the
 * bars' default (MEDIUM), and never before the refresh's window has moved
 * past the chunk (ROLLUP_COMPRESSION_DELAY_MS and refreshUntil, whichever is later).
 */
export const ROLLUP_COMPRESSION_DELAY_MS = 24 * 60 * 60 * 1000;

export const NO_COMPRESSION_REASON =
  'plain PostgreSQL has no compression (TimescaleDB is not installed)';

function notRun(reason: string): CompressionReport {
  return {
    ran: false,
    reason,
    compressed_chunks: [],
    skipped: 0,
    compressed_rollup_chunks: [],
    skipped_rollup_chunks: 0,
    failed_chunks: [],
  };
}

/**
 * The lifecycle task `compression`, the compression policy by configuration
 * (it replaces TimescaleDB's single add_compression_policy): a chunk of
 * market_data_ts is compressed once its range has ended longer ago than the
 * compress_after of every series with rows in it (see COMPRESS_AFTER_MS; a
 * NONE series keeps its chunks uncompressed). The rollups' chunks
 * (continuous aggregates) follow once their range is past the rollup
 * refresh's window and ended at least ROLLUP_COMPRESSION_DELAY_MS ago. The
 * scheduler runs it every COMPRESSION_JOB_INTERVAL_MS under its lock, and on
 * demand. The embedded engine has no background workers: this task is what
 * compresses there.
 */
@Injectable()
export class CompressionTask implements LifecycleTask {
  readonly name = 'compression';
  readonly lockKey = ADVISORY_LOCKS.compression;
  private readonly logger = new Logger('Compression');
  private stopping = false;

  constructor(private readonly chunks: CompressionRepository) {}

  /** Plain PostgreSQL has nothing to compress: the scheduler gives it no timer there. */
  get available(): boolean {
    return this.chunks.compressionAvailable;
  }

  /** At shutdown a run in progress ends after its current chunk. */
  stop(): void {
    this.stopping = true;
  }

  async run({ now, session }: TaskRun): Promise<Record<string, unknown>> {
    if (!this.chunks.compressionAvailable) return { ...notRun(NO_COMPRESSION_REASON) };
    const report = await this.compressDue(this.chunks.sessionOn(session), now.getTime());
    const compressed = report.compressed_chunks.length + report.compressed_rollup_chunks.length;
    if (compressed || report.failed_chunks.length) {
      this.logger.log(
        `compressed ${report.compressed_chunks.length} chunk(s) of bars and ${report.compressed_rollup_chunks.length} of rollups, ${report.failed_chunks.length} failed, ${report.skipped + report.skipped_rollup_chunks} left uncompressed`,
      );
    }
    return { ...report };
  }

  private async compressDue(
    session: CompressionSession,
    nowMs: number,
  ): Promise<CompressionReport> {
    const compressed: CompressedChunk[] = [];
    const failed: FailedChunk[] = [];
    let skipped = 0;
    for (const chunk of await session.findOpenChunks()) {
      if (this.stopping || !(await this.isDue(session, chunk, nowMs))) {
        skipped++;
        continue;
      }
      if (await this.tryCompress(session, chunk, failed)) compressed.push(rangeOf(chunk));
    }
    const rollups: CompressedRollupChunk[] = [];
    let skippedRollups = 0;
    for (const chunk of await session.findOpenRollupChunks()) {
      if (this.stopping || !isRollupChunkDue(chunk, nowMs)) {
        skippedRollups++;
        continue;
      }
      if (await this.tryCompress(session, chunk, failed)) {
        rollups.push({
          timeframe: chunk.level.timeframe,
          view: chunk.level.view,
          ...rangeOf(chunk),
        });
      }
    }
    return {
      ran: true,
      compressed_chunks: compressed,
      skipped,
      compressed_rollup_chunks: rollups,
      skipped_rollup_chunks: skippedRollups,
      failed_chunks: failed,
    };
  }

  /** Compresses one chunk; a failure is recorded in `failed` (false) unless the database is gone. */
  private async tryCompress(
    session: CompressionSession,
    chunk: OpenChunk | OpenRollupChunk,
    failed: FailedChunk[],
  ): Promise<boolean> {
    try {
      await session.compress(chunk);
      return true;
    } catch (error) {
      // Without the database the run cannot go on; one chunk's failure must not block the rest.
      if (error instanceof DatabaseUnavailableError) throw error;
      const message = (error as Error).message;
      this.logger.warn(`compressing ${chunk.name} failed: ${message}`);
      failed.push(
        'level' in chunk
          ? { chunk: chunk.name, message, timeframe: chunk.level.timeframe }
          : { chunk: chunk.name, message },
      );
      return false;
    }
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

function rangeOf(chunk: OpenChunk): CompressedChunk {
  return {
    chunk: chunk.name,
    range_start: formatInstant(chunk.rangeStartMs),
    range_end: formatInstant(chunk.rangeEndMs),
  };
}

/**
 * A rollup chunk is due once the refresh at `nowMs` no longer reaches into
 * it (its range ended by refreshUntil: no bucket of it is in progress or
 * the one before) and it ended at least ROLLUP_COMPRESSION_DELAY_MS ago.
 * Late bars are still exact afterwards: the read takes their buckets from
 * the raw minutes until the next refresh re-materializes them into the
 * compressed chunk (which leaves it partial, recompressed by a later run).
 */
export function isRollupChunkDue(chunk: OpenRollupChunk, nowMs: number): boolean {
  return (
    chunk.rangeEndMs <= refreshUntil(chunk.level, nowMs) &&
    nowMs - chunk.rangeEndMs >= ROLLUP_COMPRESSION_DELAY_MS
  );
}
