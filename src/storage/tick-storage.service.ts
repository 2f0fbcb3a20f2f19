import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { QueryCache } from '../cache/query-cache.service';
import { InvalidRequestError } from '../common/errors';
import { toRange } from '../common/instant-range';
import { DataType, TickDataType } from '../common/market-data.types';
import { formatInstant } from '../common/time';
import { QuotesRepository } from '../database/quotes.repository';
import { TradesRepository } from '../database/trades.repository';
import { MetricsService, Transport } from '../metrics/metrics.service';
import { DeletionResponseDto, StorageResponseDto } from './dto/storage-response.dto';
import { StoreRequest } from './dto/store-request.dto';
import { checkQuotes } from './quote-rules';
import { CheckedPoints } from './tick-point-rules';
import { checkTrades } from './trade-rules';

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
  ) {}

  async store(
    request: StoreRequest & { readonly data_type: TickDataType },
    transport: Transport = 'rest',
  ): Promise<StorageResponseDto> {
    const started = performance.now();
    if (request.compression) {
      throw new InvalidRequestError(
        'compression',
        'applies to OHLCV series only (trades and quotes compress after 24 hours)',
      );
    }
    const instrumentId = request.instrument_id;
    let checked: CheckedPoints<unknown>;
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
    const storageTimeMs = elapsedMs(started);
    this.metrics.storeCompleted(
      transport,
      request.data_type === DataType.QUOTE ? DataType.QUOTE : DataType.TRADE,
      checked.rows.length,
      checked.failedCount,
      storageTimeMs / 1000,
    );
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
