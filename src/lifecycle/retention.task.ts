import { Inject, Injectable } from '@nestjs/common';
import { QueryCache } from '../cache/query-cache.service';
import { retentionCutoffMs } from '../common/retention';
import { formatInstant } from '../common/time';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { LifecycleTask, TaskRun } from './lifecycle-task';
import { DeletedRows, RetentionRepository } from '../repositories/retention.repository';

const seriesKey = (instrumentId: string, timeframe: string) => `${instrumentId}\u0000${timeframe}`;

/**
 * Retention (docs/lifecycle.md): a series keeps its bars for its configured
 * retention_days (null: forever), or RETENTION_DEFAULT_DAYS (it may be
 * forever) without a configuration. No cap: the value a user configured is
 * the value kept. Whole chunks or partitions past the longest retention in
 * force are dropped (none while some series keeps forever); rows of series
 * that keep less are deleted row by row. A dry run counts the same rows and
 * lists the same chunks, and deletes nothing.
 */
@Injectable()
export class RetentionTask implements LifecycleTask {
  readonly name = 'retention';
  readonly lockKey = ADVISORY_LOCKS.retention;
  readonly canDryRun = true;

  constructor(
    private readonly retention: RetentionRepository,
    private readonly cache: QueryCache,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async run({ now, dryRun = false }: TaskRun): Promise<Record<string, unknown>> {
    const defaultDays = this.settings.lifecycle.retentionDefaultDays;
    const cutoffOf = (days: number) => new Date(retentionCutoffMs(days, now.getTime()));
    const configured = await this.retention.findConfiguredRetentions();
    const all = [defaultDays, ...configured.map((c) => c.retentionDays)];
    const longest = all.includes(null) ? null : Math.max(...(all as number[]));
    const globalCutoff = longest === null ? null : cutoffOf(longest);
    const keeps = (days: number | null): days is number =>
      days !== null && (longest === null || days < longest);

    const removed: DeletedRows[] = [];
    let chunks: string[] = [];
    if (globalCutoff) {
      // Counted before the drop: a dropped chunk does not tell its rows.
      removed.push(...(await this.retention.countAllBefore(globalCutoff)));
      if (dryRun) {
        chunks = await this.retention.findWholeChunksBefore(globalCutoff);
      } else {
        chunks = await this.retention.dropWholeChunksBefore(globalCutoff);
        await this.retention.deleteAllBefore(globalCutoff);
      }
    }
    for (const { series, retentionDays } of configured) {
      if (!keeps(retentionDays)) continue;
      const cutoff = cutoffOf(retentionDays);
      removed.push(
        ...(dryRun
          ? await this.retention.countSeriesBetween(series, globalCutoff, cutoff)
          : await this.retention.deleteSeriesBefore(series, cutoff)),
      );
    }
    if (keeps(defaultDays)) {
      const cutoff = cutoffOf(defaultDays);
      removed.push(
        ...(dryRun
          ? await this.retention.countUnconfiguredBetween(globalCutoff, cutoff)
          : await this.retention.deleteUnconfiguredBetween(globalCutoff, cutoff)),
      );
    }
    if (!dryRun) {
      // Cached answers may hold the removed bars.
      for (const instrumentId of new Set(removed.map((d) => d.instrumentId))) {
        await this.cache.invalidateInstrument(instrumentId);
      }
    }

    const retentionOf = new Map(
      configured.map((c) => [
        seriesKey(c.series.instrumentId, c.series.timeframe),
        c.retentionDays,
      ]),
    );
    const bySeries = new Map<string, DeletedRows>();
    for (const d of removed) {
      const key = seriesKey(d.instrumentId, d.timeframe);
      const count = (bySeries.get(key)?.count ?? 0) + d.count;
      bySeries.set(key, { ...d, count });
    }
    return {
      dry_run: dryRun,
      default_retention_days: defaultDays,
      longest_retention_days: longest,
      dropped_before: globalCutoff && formatInstant(globalCutoff.getTime()),
      dropped_chunks: chunks,
      deleted_rows: removed.reduce((n, d) => n + d.count, 0),
      deleted_by_series: [...bySeries.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, d]) => {
          const days = retentionOf.has(key) ? (retentionOf.get(key) ?? null) : defaultDays;
          return {
            instrument_id: d.instrumentId,
            timeframe: d.timeframe,
            retention_days: days,
            deleted_before: days === null ? null : formatInstant(cutoffOf(days).getTime()),
            deleted_rows: d.count,
          };
        }),
    };
  }
}
