import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { QueryCache } from '../cache/query-cache.service';
import { toRange } from '../common/instant-range';
import { SeriesKey } from '../common/market-data.types';
import { formatInstant } from '../common/time';
import { ConfigurationService } from '../configuration/configuration.service';
import { MarketDataRepository } from '../database/market-data.repository';
import { MetricsService, Transport } from '../metrics/metrics.service';
import { checkBars } from './bar-rules';
import { DeleteRequestDto } from './dto/delete-request.dto';
import { DeletionResponseDto, StorageResponseDto } from './dto/storage-response.dto';
import { StoreRequest } from './dto/store-request.dto';

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/** The write path, shared by every transport: validate, dedup, upsert, invalidate, report. */
@Injectable()
export class StorageService {
  constructor(
    private readonly marketData: MarketDataRepository,
    private readonly configurations: ConfigurationService,
    private readonly cache: QueryCache,
    private readonly metrics: MetricsService,
  ) {}

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
