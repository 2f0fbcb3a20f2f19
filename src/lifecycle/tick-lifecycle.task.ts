import { Inject, Injectable, Logger } from '@nestjs/common';
import { retentionCutoffMs } from '../common/retention';
import { formatInstant } from '../common/time';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import {
  COMPRESS_AFTER_MS,
  COMPRESSION_LEVELS,
  DEFAULT_COMPRESSION_LEVEL,
  levelsBlockingAt,
  toStoredLevel,
} from '../configuration/compression-level';
import { QuotesRepository } from '../repositories/quotes.repository';
import { TickTableMaintenance } from '../repositories/tick-tables';
import { TradesRepository } from '../repositories/trades.repository';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { LifecycleTask, TaskRun } from './lifecycle-task';

/**
 * The spec's compress_after for raw data: a chunk of an instrument without a
 * configuration (MEDIUM) is compressed a day after its range ended.
 */
export const TICK_COMPRESS_AFTER_MS = COMPRESS_AFTER_MS[DEFAULT_COMPRESSION_LEVEL]!;
/** The most eager level's delay: no chunk younger than this is looked at. */
const EARLIEST_COMPRESS_AFTER_MS = Math.min(
  ...COMPRESSION_LEVELS.map((l) => COMPRESS_AFTER_MS[l] ?? Infinity),
);

export interface TickLifecycleReport {
  readonly compressedChunks: string[];
  /** Chunks old enough for some level but kept uncompressed by an instrument in them (its level). */
  readonly skippedChunks: number;
  /** Chunks (TimescaleDB) or monthly partitions (plain PostgreSQL) dropped by retention. */
  readonly droppedParts: number;
}

/**
 * Compression and retention of trades and quotes: the lifecycle task
 * `tick_lifecycle`, run by the scheduler on the period of the bar
 * compression (COMPRESSION_JOB_INTERVAL_MS; 0: on demand only) under its
 * lock (one replica at a time), and by POST /maintenance/run. The embedded
 * engine has no background workers, so TimescaleDB's own policies would
 * never run there: this task does the work on every engine. Trades and
 * quotes keep RETENTION_DEFAULT_DAYS (null: forever), as bars without a
 * configuration do; a dry run lists what its retention would drop and
 * compresses nothing.
 */
@Injectable()
export class TickLifecycleTask implements LifecycleTask {
  readonly name = 'tick_lifecycle';
  readonly lockKey = ADVISORY_LOCKS.tickLifecycle;
  readonly canDryRun = true;
  private readonly logger = new Logger('TickLifecycle');

  constructor(
    private readonly trades: TradesRepository,
    private readonly quotes: QuotesRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async run({ now, dryRun = false }: TaskRun): Promise<Record<string, unknown>> {
    const days = this.settings.lifecycle.retentionDefaultDays;
    const cutoff = retentionCutoffMs(days, now.getTime());
    const retention = {
      dry_run: dryRun,
      retention_days: days,
      dropped_before: days === null ? null : formatInstant(cutoff),
    };
    if (dryRun) {
      const trades = days === null ? [] : await this.trades.maintenance.findDataBefore(cutoff);
      const quotes = days === null ? [] : await this.quotes.maintenance.findDataBefore(cutoff);
      return {
        ...retention,
        dropped_parts: trades.length + quotes.length,
        dropped_trade_parts: trades,
        dropped_quote_parts: quotes,
      };
    }
    const report = await this.execute(now.getTime(), cutoff);
    return {
      ...retention,
      compressed_chunks: report.compressedChunks,
      skipped_chunks: report.skippedChunks,
      dropped_parts: report.droppedParts,
    };
  }

  /** `retentionCutoff`: -Infinity when ticks are kept forever. */
  private async execute(nowMs: number, retentionCutoff: number): Promise<TickLifecycleReport> {
    const droppedParts =
      retentionCutoff === -Infinity
        ? 0
        : (await this.trades.maintenance.dropDataBefore(retentionCutoff)) +
          (await this.quotes.maintenance.dropDataBefore(retentionCutoff));
    const trades = await this.compressDue(this.trades.maintenance, nowMs);
    const quotes = await this.compressDue(this.quotes.maintenance, nowMs);
    const compressedChunks = [...trades.compressed, ...quotes.compressed];
    const skippedChunks = trades.skipped + quotes.skipped;
    if (compressedChunks.length || droppedParts) {
      this.logger.log(
        `compressed ${compressedChunks.length} chunk(s), dropped ${droppedParts} by retention`,
      );
    }
    return { compressedChunks, skippedChunks, droppedParts };
  }

  /**
   * Per-instrument levels as for bars (COMPRESS_AFTER_MS): chunks are shared
   * by every instrument, so a chunk is compressed only once no instrument
   * with rows in it is at a level that still blocks it (the strictest wins;
   * a NONE instrument keeps the chunks holding its ticks uncompressed).
   */
  private async compressDue(
    table: TickTableMaintenance,
    nowMs: number,
  ): Promise<{ compressed: string[]; skipped: number }> {
    const compressed: string[] = [];
    let skipped = 0;
    for (const chunk of await table.findOpenChunksEndedBy(nowMs - EARLIEST_COMPRESS_AFTER_MS)) {
      const blocking = levelsBlockingAt(nowMs - chunk.rangeEndMs);
      const blocked =
        blocking.length === COMPRESSION_LEVELS.length ||
        (await table.holdsInstrumentsAt(
          chunk,
          blocking.map(toStoredLevel),
          blocking.includes(DEFAULT_COMPRESSION_LEVEL),
        ));
      if (blocked) {
        skipped++;
        continue;
      }
      await table.compressChunk(chunk);
      compressed.push(chunk.name);
    }
    return { compressed, skipped };
  }
}
