import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { QueryCache } from '../cache/query-cache.service';
import { toRange } from '../common/instant-range';
import { SeriesKey } from '../common/market-data.types';
import { formatInstant } from '../common/time';
import { ConfigurationService } from '../configuration/configuration.service';
import { MarketDataRepository } from '../repositories/market-data.repository';
import { MetricsService, Transport } from '../metrics/metrics.service';
import { SeriesBars } from '../repositories/market-data.repository';
import { checkBars } from './bar-rules';
import { EventRejection, eventPathOf, parseMarketDataEvent } from './market-data-event';
import { tickDataTypeOf } from './tick-event';
import { IndexedTickEvent, TickStorageService } from './tick-storage.service';
import { StoredAnnouncer, StoredListener, StoredSeries } from './stored-announcer';
import { DeleteRequestDto } from './dto/delete-request.dto';
import { DeletionResponseDto, StorageResponseDto } from './dto/storage-response.dto';
import { StoreRequest } from './dto/store-request.dto';

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/** An event of a batch that can never be stored, and why. */
export interface EventBatchResult {
  /** Rows written (after in-batch dedup). */
  readonly storedCount: number;
  /** Valid events replaced by a later event of the same series and timestamp in the batch. */
  readonly supersededCount: number;
  /** Ascending by index. */
  readonly rejected: readonly EventRejection[];
  readonly series: readonly StoredSeries[];
  readonly storageTimeMs: number;
}

interface SeriesGroup {
  readonly series: SeriesKey;
  readonly points: unknown[];
  /** Batch index of each point. */
  readonly indexes: number[];
}

/** The write path, shared by every transport: validate, dedup, upsert, invalidate, report. */
@Injectable()
export class StorageService {
  constructor(
    private readonly marketData: MarketDataRepository,
    private readonly configurations: ConfigurationService,
    private readonly cache: QueryCache,
    private readonly metrics: MetricsService,
    private readonly ticks: TickStorageService,
    private readonly announcer: StoredAnnouncer,
  ) {}

  /** `listener` is told of every commit from now on (the events module publishes market_data_stored). */
  onStored(listener: StoredListener): void {
    this.announcer.onStored(listener);
  }

  async store(request: StoreRequest, transport: Transport = 'rest'): Promise<StorageResponseDto> {
    const started = performance.now();
    const series: SeriesKey = { instrumentId: request.instrument_id, timeframe: request.timeframe };
    const checked = checkBars(request.data_points, request.timeframe);
    if (checked.rows.length > 0) {
      await this.marketData.upsertBars(series, checked.rows);
      // After the commit, before answering: a read after this answer never sees the old data.
      await this.cache.invalidateInstrument(series.instrumentId);
    }
    if (request.compression) {
      await this.configurations.recordCompressionLevel(series, request.compression);
    }
    const compressionRatio = checked.rows.length
      ? await this.marketData.measureCompressionRatio(series)
      : 0;
    const storageTimeMs = elapsedMs(started);
    this.metrics.storeCompleted(
      transport,
      series.timeframe,
      checked.rows.length,
      checked.failedCount,
      storageTimeMs / 1000,
    );
    if (checked.rows.length > 0) {
      // Not awaited: the answer does not wait for the announcement (it is tracked for shutdown).
      void this.announcer.announce([
        {
          series,
          storedCount: checked.rows.length,
          newestMs: newestOf(checked.rows),
          storageTimeMs,
          compressionRatio,
        },
      ]);
    }
    return {
      request_id: randomUUID(),
      stored_count: checked.rows.length,
      failed_count: checked.failedCount,
      superseded_count: checked.supersededCount,
      storage_time_ms: storageTimeMs,
      compression_ratio: compressionRatio,
      errors: checked.errors,
    };
  }

  /**
   * Stores a batch of `normalized_market_data` events in ONE transaction:
   * each event's envelope is checked, its bar goes through the same rules as a
   * REST point, the valid bars are grouped by series (the last event of a
   * series and timestamp wins) and written together. Invalid events are
   * answered by index; they never fail the batch. Throws when the write fails
   * (DatabaseUnavailableError when the database cannot be reached): then
   * nothing of the batch is stored.
   */
  async storeEvents(events: readonly unknown[], transport: Transport): Promise<EventBatchResult> {
    const started = performance.now();
    const rejected: EventRejection[] = [];
    // By instrument, then timeframe: no key string built per event.
    const groups = new Map<string, Map<string, SeriesGroup>>();
    const groupList: SeriesGroup[] = [];
    const tickEvents: IndexedTickEvent[] = [];
    for (let index = 0; index < events.length; index++) {
      // Trades and quotes (market_data.data_type) take their own path: docs/trades-and-quotes.md.
      const tickType = tickDataTypeOf(events[index]);
      if (tickType) {
        tickEvents.push({ index, value: events[index], dataType: tickType });
        continue;
      }
      const parsed = parseMarketDataEvent(events[index]);
      if (!parsed.ok) {
        rejected.push({ index, reason: parsed.reason });
        continue;
      }
      const { series, point } = parsed.event;
      let byTimeframe = groups.get(series.instrumentId);
      if (!byTimeframe) {
        byTimeframe = new Map();
        groups.set(series.instrumentId, byTimeframe);
      }
      let group = byTimeframe.get(series.timeframe);
      if (!group) {
        group = { series, points: [], indexes: [] };
        byTimeframe.set(series.timeframe, group);
        groupList.push(group);
      }
      group.points.push(point);
      group.indexes.push(index);
    }

    const batches: SeriesBars[] = [];
    let supersededCount = 0;
    const failedByTimeframe = new Map<string, number>();
    for (const group of groupList) {
      const checked = checkBars(group.points, group.series.timeframe, Infinity);
      for (const error of checked.errors) {
        rejected.push({
          index: group.indexes[error.index],
          reason: eventPathOf(error.field) + error.message.slice(error.field.length),
        });
      }
      if (checked.failedCount > 0) {
        const timeframe = group.series.timeframe;
        failedByTimeframe.set(
          timeframe,
          (failedByTimeframe.get(timeframe) ?? 0) + checked.failedCount,
        );
      }
      supersededCount += checked.supersededCount;
      if (checked.rows.length > 0) batches.push({ series: group.series, bars: checked.rows });
    }

    await this.marketData.upsertSeriesBars(batches);
    const ticks = await this.ticks.storeEvents(tickEvents, transport);
    rejected.push(...ticks.rejected);
    const instruments = new Set(batches.map((b) => b.series.instrumentId));
    await Promise.all([...instruments].map((id) => this.cache.invalidateInstrument(id)));
    const storageTimeMs = elapsedMs(started);

    const storedByTimeframe = new Map<string, number>();
    for (const { series, bars } of batches) {
      storedByTimeframe.set(
        series.timeframe,
        (storedByTimeframe.get(series.timeframe) ?? 0) + bars.length,
      );
    }
    this.metrics.eventBatchStored(
      transport,
      events.length,
      storedByTimeframe,
      failedByTimeframe,
      storageTimeMs / 1000,
    );

    const stored = batches.map(({ series, bars }) => ({
      series,
      storedCount: bars.length,
      newestMs: newestOf(bars),
      storageTimeMs,
    }));
    await this.announcer.announce([...stored, ...ticks.stored]);
    rejected.sort((a, b) => a.index - b.index);
    return {
      storedCount: stored.reduce((n, s) => n + s.storedCount, 0) + ticks.storedCount,
      supersededCount: supersededCount + ticks.supersededCount,
      rejected,
      series: stored,
      storageTimeMs,
    };
  }

  async deleteRange(instrumentId: string, request: DeleteRequestDto): Promise<DeletionResponseDto> {
    const range = toRange(request.start_time, request.end_time);
    const deleted = await this.marketData.deleteRange(instrumentId, request.timeframe, range);
    if (deleted > 0) await this.cache.invalidateInstrument(instrumentId);
    return {
      request_id: randomUUID(),
      instrument_id: instrumentId,
      deleted_count: deleted,
      start_time: formatInstant(range.fromMs),
      end_time: formatInstant(range.toMs),
    };
  }
}

function newestOf(rows: readonly { timestampMs: number }[]): number {
  let newest = -Infinity;
  for (const row of rows) if (row.timestampMs > newest) newest = row.timestampMs;
  return newest;
}
