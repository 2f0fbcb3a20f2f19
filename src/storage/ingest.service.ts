import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { QueryCache } from '../cache/query-cache.service';
import { toRange } from '../common/instant-range';
import {
  CompressionLevel,
  ConfiguredSeries,
  DataType,
  isTickDataType,
  TimeFrame,
} from '../common/market-data.types';
import { dueForDeletionMs } from '../common/retention';
import { formatInstant } from '../common/time';
import { ConfigurationService } from '../configuration/configuration.service';
import { MetricsService, Transport } from '../metrics/metrics.service';
import { MarketDataRepository } from '../repositories/market-data.repository';
import { QuotesRepository } from '../repositories/quotes.repository';
import { TradesRepository } from '../repositories/trades.repository';
import { InstrumentSessionsRepository } from '../repositories/instrument-sessions.repository';
import { sessionOfDeclared, TradingSession } from '../common/trading-session';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { PointError } from './point-check';
import { DeleteRequestDto } from './dto/delete-request.dto';
import { DeletionResponseDto, StorageResponseDto } from './dto/storage-response.dto';
import { IngestKind, IngestKinds, ingestKinds, kindOf, SeriesRows } from './ingest-kinds';
import { retentionFloor } from './retention-floor';
import { STORED_PUBLISHER } from './stored-publisher';
import type { StoredPublisher, StoredRecord } from './stored-publisher';

/**
 * One series' points as a transport received them: bars of a timeframe, or
 * an instrument's trades or quotes (timeframe TRADE or QUOTE; a TICK is a
 * TRADE).
 */
export interface SeriesBatch {
  readonly series: ConfiguredSeries;
  readonly points: readonly unknown[];
}

/** What became of one SeriesBatch of a batch. */
export interface CheckedBatch {
  /** Rows written (after dedup). */
  readonly storedCount: number;
  readonly failedCount: number;
  /** Valid points replaced by a later point of the same key. */
  readonly supersededCount: number;
  /** Every refused point, by its index in the SeriesBatch. */
  readonly errors: readonly PointError[];
}

export interface IngestBatchResult {
  /** One per SeriesBatch, in order. */
  readonly batches: readonly CheckedBatch[];
  /** What was announced as market_data_stored, one per written series. */
  readonly stored: readonly StoredRecord[];
  readonly storageTimeMs: number;
}

interface Written {
  readonly kind: IngestKind<unknown>;
  readonly rows: SeriesRows<unknown>;
}

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

function addTo(counts: Map<string, number>, label: string, n: number): void {
  if (n > 0) counts.set(label, (counts.get(label) ?? 0) + n);
}

/**
 * The write use case of every data type and transport: check the points by
 * the rules of their kind, dedup, write, invalidate the cache, count,
 * announce (market_data_stored). Transports map their input to
 * SeriesBatches; the envelope of an event is theirs (src/events).
 */
@Injectable()
export class IngestService {
  private readonly kinds: IngestKinds;

  constructor(
    marketData: MarketDataRepository,
    trades: TradesRepository,
    quotes: QuotesRepository,
    private readonly configurations: ConfigurationService,
    private readonly cache: QueryCache,
    private readonly metrics: MetricsService,
    @Inject(STORED_PUBLISHER) private readonly publisher: StoredPublisher,
    private readonly sessions: InstrumentSessionsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {
    this.kinds = ingestKinds(marketData, trades, quotes);
  }

  /** ONE_DAY bars: the session the instrument declares, whose opening they may start at. */
  private async dailySessionOf(series: ConfiguredSeries): Promise<TradingSession | undefined> {
    if (series.timeframe !== TimeFrame.ONE_DAY) return undefined;
    const declared = await this.sessions.findDeclaredSession(series.instrumentId);
    return declared && sessionOfDeclared(declared, this.settings.sessionCalendars);
  }

  /**
   * One series of one request: its valid points written in one commit, the
   * others answered by index; `compression` recorded as the series'
   * configuration.
   */
  async store(
    batch: SeriesBatch,
    compression: CompressionLevel | undefined,
    transport: Transport = 'rest',
  ): Promise<StorageResponseDto> {
    const started = performance.now();
    const { series } = batch;
    const kind = kindOf(this.kinds, series);
    const retention = await this.configurations.retentionOf(series);
    const checked = kind.check(
      series,
      batch.points,
      undefined,
      retentionFloor(series, retention, Date.now()),
      await this.dailySessionOf(series),
    );
    const rows = { series, rows: checked.rows };
    if (checked.rows.length > 0) {
      await kind.write([rows]);
      // After the commit, before answering: a read after this answer never sees the old data.
      await this.cache.invalidateInstrument(series.instrumentId);
    }
    if (compression) await this.configurations.recordCompressionLevel(series, compression);
    const compressionRatio = checked.rows.length ? await kind.measureCompressionRatio(series) : 0;
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
      void this.publisher.publish([kind.stored(rows, storageTimeMs, compressionRatio)]);
    }
    return {
      request_id: randomUUID(),
      stored_count: checked.rows.length,
      failed_count: checked.failedCount,
      superseded_count: checked.supersededCount,
      storage_time_ms: storageTimeMs,
      compression_ratio: compressionRatio,
      retention_days: retention.days,
      kept_until:
        retention.days === null || checked.rows.length === 0
          ? null
          : formatInstant(dueForDeletionMs(retention.days, kind.oldestMs(checked.rows)) ?? 0),
      errors: checked.errors,
    };
  }

  /**
   * Several series at once (an event batch): every refused point listed, the
   * valid rows written in one commit per table, then the cache invalidated
   * and the commits announced (awaited: a transport acknowledges after it).
   * `received`: the messages the batch came from, for the batch metrics.
   * Throws when a write fails (DatabaseUnavailableError when the database
   * cannot be reached).
   */
  async storeBatches(
    batches: readonly SeriesBatch[],
    transport: Transport,
    received: number,
  ): Promise<IngestBatchResult> {
    const started = performance.now();
    const checkedBatches: CheckedBatch[] = [];
    const byKind = new Map<IngestKind<unknown>, Written[]>();
    const storedByLabel = new Map<string, number>();
    const failedByLabel = new Map<string, number>();
    const nowMs = Date.now();
    for (const { series, points } of batches) {
      const kind = kindOf(this.kinds, series);
      // A refused point is answered like any invalid one (dead-lettered, never retried).
      const floor = retentionFloor(series, await this.configurations.retentionOf(series), nowMs);
      const checked = kind.check(
        series,
        points,
        Infinity,
        floor,
        await this.dailySessionOf(series),
      );
      checkedBatches.push({
        storedCount: checked.rows.length,
        failedCount: checked.failedCount,
        supersededCount: checked.supersededCount,
        errors: checked.errors,
      });
      addTo(failedByLabel, series.timeframe, checked.failedCount);
      if (checked.rows.length === 0) continue;
      addTo(storedByLabel, series.timeframe, checked.rows.length);
      const written = byKind.get(kind) ?? [];
      written.push({ kind, rows: { series, rows: checked.rows } });
      byKind.set(kind, written);
    }
    // Bars, then trades, then quotes: one commit per table.
    const all: Written[] = [];
    for (const kind of [this.kinds.bars, this.kinds[DataType.TRADE], this.kinds[DataType.QUOTE]]) {
      const written = byKind.get(kind);
      if (!written) continue;
      await kind.write(written.map((w) => w.rows));
      all.push(...written);
    }
    const instruments = new Set(all.map((w) => w.rows.series.instrumentId));
    await Promise.all([...instruments].map((id) => this.cache.invalidateInstrument(id)));
    const storageTimeMs = elapsedMs(started);
    this.metrics.eventBatchStored(
      transport,
      received,
      storedByLabel,
      failedByLabel,
      storageTimeMs / 1000,
    );
    const stored = all.map((w) => w.kind.stored(w.rows, storageTimeMs));
    if (stored.length > 0) await this.publisher.publish(stored);
    return { batches: checkedBatches, stored, storageTimeMs };
  }

  /** Deletes the points of an instrument in [start_time, end_time): one timeframe or all, or its trades or quotes. */
  async deleteRange(instrumentId: string, request: DeleteRequestDto): Promise<DeletionResponseDto> {
    const range = toRange(request.start_time, request.end_time);
    const { data_type: dataType } = request;
    const kind = isTickDataType(dataType)
      ? this.kinds[dataType === DataType.QUOTE ? DataType.QUOTE : DataType.TRADE]
      : this.kinds.bars;
    const timeframe = isTickDataType(dataType) ? undefined : request.timeframe;
    const deleted = await kind.deleteRange(instrumentId, timeframe, range);
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
