import { Inject, Injectable } from '@nestjs/common';
import { QueryCache } from '../cache/query-cache.service';
import { formatInstant } from '../common/time';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { LifecycleTask, TaskRun } from './lifecycle-task';
import { DeletedRows, RetentionRepository } from '../repositories/retention.repository';

const DAY_MS = 86_400_000;

/**
 * Retention (docs/lifecycle.md): a series keeps its bars for its configured
 * retention_days, or RETENTION_DEFAULT_DAYS without a configuration ("raw
 * data 2 years"), never longer than RETENTION_MAX_DAYS ("compressed data 10
 * years": past the compression delay every kept bar is in a compressed
 * chunk). Whole chunks or partitions past the longest retention in force are
 * dropped; rows of series that keep less are deleted row by row.
 */
@Injectable()
export class RetentionTask implements LifecycleTask {
  readonly name = 'retention';
  readonly lockKey = ADVISORY_LOCKS.retention;

  constructor(
    private readonly retention: RetentionRepository,
    private readonly cache: QueryCache,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async run({ now }: TaskRun): Promise<Record<string, unknown>> {
    const { retentionDefaultDays, retentionMaxDays } = this.settings.lifecycle;
    const cutoffOf = (days: number) => new Date(now.getTime() - days * DAY_MS);
    const configured = (await this.retention.findConfiguredRetentions()).map((c) => ({
      ...c,
      retentionDays: Math.min(c.retentionDays, retentionMaxDays),
    }));
    const longest = Math.max(retentionDefaultDays, ...configured.map((c) => c.retentionDays));
    const globalCutoff = cutoffOf(longest);

    const touched = new Set(await this.retention.findInstrumentsBefore(globalCutoff));
    const droppedChunks = await this.retention.dropWholeChunksBefore(globalCutoff);
    const deleted: DeletedRows[] = [...(await this.retention.deleteAllBefore(globalCutoff))];
    for (const { series, retentionDays } of configured) {
      if (retentionDays < longest) {
        deleted.push(...(await this.retention.deleteSeriesBefore(series, cutoffOf(retentionDays))));
      }
    }
    if (retentionDefaultDays < longest) {
      deleted.push(
        ...(await this.retention.deleteUnconfiguredBetween(
          globalCutoff,
          cutoffOf(retentionDefaultDays),
        )),
      );
    }
    deleted.forEach((d) => touched.add(d.instrumentId));
    // Cached answers may hold the removed bars.
    for (const instrumentId of touched) await this.cache.invalidateInstrument(instrumentId);

    const bySeries = new Map<string, DeletedRows>();
    for (const d of deleted) {
      const key = `${d.instrumentId}\u0000${d.timeframe}`;
      const count = (bySeries.get(key)?.count ?? 0) + d.count;
      bySeries.set(key, { ...d, count });
    }
    return {
      default_retention_days: retentionDefaultDays,
      max_retention_days: retentionMaxDays,
      longest_retention_days: longest,
      dropped_before: formatInstant(globalCutoff.getTime()),
      dropped_chunks: droppedChunks,
      deleted_rows: deleted.reduce((n, d) => n + d.count, 0),
      deleted_by_series: [...bySeries.values()].map((d) => ({
        instrument_id: d.instrumentId,
        timeframe: d.timeframe,
        deleted_rows: d.count,
      })),
    };
  }
}
