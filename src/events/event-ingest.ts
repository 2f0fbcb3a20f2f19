import { Injectable } from '@nestjs/common';
import { ConfiguredSeries, DataType } from '../common/market-data.types';
import { Transport } from '../metrics/metrics.service';
import { IngestService, SeriesBatch } from '../storage/ingest.service';
import { StoredRecord } from '../storage/stored-publisher';
import { EventRejection, eventPathOf, parseMarketDataEvent } from './market-data-event';
import { parseTickEvent, tickDataTypeOf, tickEventPathOf } from './tick-event';

/** What became of a batch of events. */
export interface EventBatchResult {
  /** Rows written (after in-batch dedup). */
  readonly storedCount: number;
  /** Valid events replaced by a later event of the same series and key in the batch. */
  readonly supersededCount: number;
  /** Ascending by index. */
  readonly rejected: readonly EventRejection[];
  /** What was announced as market_data_stored. */
  readonly series: readonly StoredRecord[];
  readonly storageTimeMs: number;
}

interface SeriesGroup {
  readonly series: ConfiguredSeries;
  readonly points: unknown[];
  /** Batch index of each point. */
  readonly indexes: number[];
}

/** Where a point field came from in the event of the series' kind, for a dead-letter reason. */
function eventPathOfField(series: ConfiguredSeries, field: string): string {
  const { timeframe } = series;
  return timeframe === DataType.TRADE || timeframe === DataType.QUOTE
    ? tickEventPathOf(timeframe, field)
    : eventPathOf(field);
}

/**
 * The events' side of the write path: `normalized_market_data` envelopes
 * (bars, trades, quotes) checked and mapped to series batches for the
 * ingest use case, its refused points answered by event index.
 */
@Injectable()
export class EventIngest {
  constructor(private readonly ingest: IngestService) {}

  /**
   * Stores a batch of events: each event's envelope is checked, its point
   * goes through the same rules as a REST point, the valid points are
   * grouped by series (the last event of a key wins) and written together.
   * Invalid events are answered by index; they never fail the batch. Throws
   * when the write fails (DatabaseUnavailableError when the database cannot
   * be reached): then nothing of the batch is stored.
   */
  async storeEvents(events: readonly unknown[], transport: Transport): Promise<EventBatchResult> {
    const rejected: EventRejection[] = [];
    // By instrument, then timeframe (TRADE and QUOTE for ticks): no key string built per event.
    const groups = new Map<string, Map<string, SeriesGroup>>();
    const groupList: SeriesGroup[] = [];
    events.forEach((value, index) => {
      const parsed = parseEvent(value);
      if (!parsed.ok) {
        rejected.push({ index, reason: parsed.reason });
        return;
      }
      const { series, point } = parsed;
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
    });

    const batches: SeriesBatch[] = groupList.map((g) => ({ series: g.series, points: g.points }));
    const result = await this.ingest.storeBatches(batches, transport, events.length);
    let storedCount = 0;
    let supersededCount = 0;
    result.batches.forEach((checked, i) => {
      const group = groupList[i];
      if (!group) return;
      storedCount += checked.storedCount;
      supersededCount += checked.supersededCount;
      for (const error of checked.errors) {
        // Typed as possibly absent: the rules index the group's points, pushed with their indexes.
        const index: number | undefined = group.indexes[error.index];
        if (index === undefined) throw new Error(`no event at point ${error.index} of its series`);
        rejected.push({
          index,
          reason:
            eventPathOfField(group.series, error.field) + error.message.slice(error.field.length),
        });
      }
    });
    rejected.sort((a, b) => a.index - b.index);
    return {
      storedCount,
      supersededCount,
      rejected,
      series: result.stored,
      storageTimeMs: result.storageTimeMs,
    };
  }
}

type ParsedEvent =
  | { readonly ok: true; readonly series: ConfiguredSeries; readonly point: unknown }
  | { readonly ok: false; readonly reason: string };

/** A bar event, or a trade or quote one (market_data.data_type says: docs/trades-and-quotes.md). */
function parseEvent(value: unknown): ParsedEvent {
  const tickType = tickDataTypeOf(value);
  if (tickType) {
    const parsed = parseTickEvent(value, tickType);
    if (!parsed.ok) return parsed;
    const { instrumentId, dataType, point } = parsed.event;
    return { ok: true, series: { instrumentId, timeframe: dataType }, point };
  }
  const parsed = parseMarketDataEvent(value);
  if (!parsed.ok) return parsed;
  return { ok: true, series: parsed.event.series, point: parsed.event.point };
}
