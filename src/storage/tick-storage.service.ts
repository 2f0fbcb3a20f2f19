import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { QueryCache } from '../cache/query-cache.service';
import { toRange } from '../common/instant-range';
import { DataType, StoredTickType, TickDataType } from '../common/market-data.types';
import { ConfigurationService } from '../configuration/configuration.service';
import { formatInstant } from '../common/time';
import { InstrumentQuotes, QuotesRepository } from '../repositories/quotes.repository';
import { InstrumentTrades, TradesRepository } from '../repositories/trades.repository';
import { MetricsService, Transport } from '../metrics/metrics.service';
import { DeletionResponseDto, StorageResponseDto } from './dto/storage-response.dto';
import { StoreRequest } from './dto/store-request.dto';
import { checkQuotes } from './quote-rules';
import type { EventRejection } from './market-data-event';
import { StoredAnnouncer, StoredTicks } from './stored-announcer';
import { parseTickEvent, TickEvent, tickEventPathOf } from './tick-event';
import { CheckedPoints } from './tick-point-rules';
import { checkTrades } from './trade-rules';

/** A trade or quote event of a batch, by its position in the batch. */
export interface IndexedTickEvent {
  readonly index: number;
  readonly value: unknown;
  readonly dataType: TickDataType;
}

export interface TickEventsResult {
  readonly storedCount: number;
  readonly supersededCount: number;
  readonly rejected: EventRejection[];
  /** What to announce (market_data_stored), one per instrument and data type; the caller does. */
  readonly stored: StoredTicks[];
}

interface TickGroup {
  readonly instrumentId: string;
  readonly dataType: TickEvent['dataType'];
  readonly points: unknown[];
  readonly indexes: number[];
}

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/**
 * The write path of trades (TRADE, and TICK as a trade print) and quotes:
 * validate, dedup, upsert, invalidate, report; the same answer as a bar store.
 */
@Injectable()
export class TickStorageService {
  constructor(
    private readonly trades: TradesRepository,
    private readonly quotes: QuotesRepository,
    private readonly cache: QueryCache,
    private readonly metrics: MetricsService,
    private readonly configurations: ConfigurationService,
    private readonly announcer: StoredAnnouncer,
  ) {}

  async store(
    request: StoreRequest & { readonly data_type: TickDataType },
    transport: Transport = 'rest',
  ): Promise<StorageResponseDto> {
    const started = performance.now();
    const instrumentId = request.instrument_id;
    const storedType: StoredTickType =
      request.data_type === DataType.QUOTE ? DataType.QUOTE : DataType.TRADE;
    let checked: CheckedPoints<{ readonly timestampUs: number }>;
    let compressionRatio = 0;
    if (request.data_type === DataType.QUOTE) {
      const quotes = checkQuotes(request.data_points);
      checked = quotes;
      if (quotes.rows.length > 0) {
        await this.quotes.upsertQuotes([{ instrumentId, quotes: quotes.rows }]);
        await this.cache.invalidateInstrument(instrumentId);
        compressionRatio = await this.quotes.maintenance.measureCompressionRatio(instrumentId);
      }
    } else {
      const trades = checkTrades(request.data_points);
      checked = trades;
      if (trades.rows.length > 0) {
        await this.trades.upsertTrades([{ instrumentId, trades: trades.rows }]);
        // After the commit, before answering: a read after this answer never sees the old data.
        await this.cache.invalidateInstrument(instrumentId);
        compressionRatio = await this.trades.maintenance.measureCompressionRatio(instrumentId);
      }
    }
    if (request.compression) {
      // The instrument's level for the tick lifecycle job (docs/trades-and-quotes.md).
      await this.configurations.recordCompressionLevel(
        { instrumentId, timeframe: storedType },
        request.compression,
      );
    }
    const storageTimeMs = elapsedMs(started);
    this.metrics.storeCompleted(
      transport,
      storedType,
      checked.rows.length,
      checked.failedCount,
      storageTimeMs / 1000,
    );
    if (checked.rows.length > 0) {
      // Not awaited: the answer does not wait for the announcement (it is tracked for shutdown).
      void this.announcer.announce([
        storedTicksOf(instrumentId, storedType, checked.rows, storageTimeMs, compressionRatio),
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
   * The trade and quote events of a batch: envelopes checked, points through
   * the REST rules, grouped by instrument (the last of a key wins), written in
   * one transaction per table. Invalid events are answered by index; a write
   * failure throws (nothing of these events is stored then).
   */
  async storeEvents(
    events: readonly IndexedTickEvent[],
    transport: Transport,
  ): Promise<TickEventsResult> {
    if (events.length === 0)
      return { storedCount: 0, supersededCount: 0, rejected: [], stored: [] };
    const started = performance.now();
    const rejected: EventRejection[] = [];
    const groups = new Map<string, TickGroup>();
    for (const { index, value, dataType } of events) {
      const parsed = parseTickEvent(value, dataType);
      if (!parsed.ok) {
        rejected.push({ index, reason: parsed.reason });
        continue;
      }
      const { instrumentId, point } = parsed.event;
      const key = `${parsed.event.dataType}\u0000${instrumentId}`;
      let group = groups.get(key);
      if (!group) {
        group = { instrumentId, dataType: parsed.event.dataType, points: [], indexes: [] };
        groups.set(key, group);
      }
      group.points.push(point);
      group.indexes.push(index);
    }
    const trades: InstrumentTrades[] = [];
    const quotes: InstrumentQuotes[] = [];
    let supersededCount = 0;
    const failed = { [DataType.TRADE]: 0, [DataType.QUOTE]: 0 };
    const report = (group: TickGroup, checked: CheckedPoints<unknown>) => {
      for (const error of checked.errors) {
        rejected.push({
          index: group.indexes[error.index],
          reason:
            tickEventPathOf(group.dataType, error.field) + error.message.slice(error.field.length),
        });
      }
      failed[group.dataType] += checked.failedCount;
      supersededCount += checked.supersededCount;
    };
    for (const group of groups.values()) {
      if (group.dataType === DataType.QUOTE) {
        const checked = checkQuotes(group.points, Infinity);
        report(group, checked);
        if (checked.rows.length)
          quotes.push({ instrumentId: group.instrumentId, quotes: checked.rows });
      } else {
        const checked = checkTrades(group.points, Infinity);
        report(group, checked);
        if (checked.rows.length)
          trades.push({ instrumentId: group.instrumentId, trades: checked.rows });
      }
    }
    await this.trades.upsertTrades(trades);
    await this.quotes.upsertQuotes(quotes);
    const instruments = new Set([...trades, ...quotes].map((b) => b.instrumentId));
    await Promise.all([...instruments].map((id) => this.cache.invalidateInstrument(id)));
    const storageTimeMs = elapsedMs(started);
    const seconds = storageTimeMs / 1000;
    const stored = [
      ...trades.map((b) => storedTicksOf(b.instrumentId, DataType.TRADE, b.trades, storageTimeMs)),
      ...quotes.map((b) => storedTicksOf(b.instrumentId, DataType.QUOTE, b.quotes, storageTimeMs)),
    ];
    const tradeCount = trades.reduce((n, b) => n + b.trades.length, 0);
    const quoteCount = quotes.reduce((n, b) => n + b.quotes.length, 0);
    this.metrics.storeCompleted(transport, DataType.TRADE, tradeCount, failed.TRADE, seconds);
    this.metrics.storeCompleted(transport, DataType.QUOTE, quoteCount, failed.QUOTE, seconds);
    return { storedCount: tradeCount + quoteCount, supersededCount, rejected, stored };
  }

  /** Deletes the trades (TRADE or TICK) or quotes of an instrument in [start_time, end_time). */
  async deleteRange(
    instrumentId: string,
    dataType: TickDataType,
    startTime: string,
    endTime: string,
  ): Promise<DeletionResponseDto> {
    const range = toRange(startTime, endTime);
    const deleted =
      dataType === DataType.QUOTE
        ? await this.quotes.deleteRange(instrumentId, range)
        : await this.trades.deleteRange(instrumentId, range);
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

function storedTicksOf(
  instrumentId: string,
  dataType: StoredTickType,
  rows: readonly { readonly timestampUs: number }[],
  storageTimeMs: number,
  compressionRatio?: number,
): StoredTicks {
  let oldestUs = Infinity;
  let newestUs = -Infinity;
  for (const { timestampUs } of rows) {
    if (timestampUs < oldestUs) oldestUs = timestampUs;
    if (timestampUs > newestUs) newestUs = timestampUs;
  }
  return {
    instrumentId,
    dataType,
    storedCount: rows.length,
    oldestUs,
    newestUs,
    storageTimeMs,
    compressionRatio,
  };
}
