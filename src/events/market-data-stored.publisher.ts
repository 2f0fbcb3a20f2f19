import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataType, StoredTickType } from '../common/market-data.types';
import { formatInstantMicros } from '../common/time';
import { MarketDataRepository, StoredRowPlace } from '../repositories/market-data.repository';
import { QuotesRepository } from '../repositories/quotes.repository';
import { TradesRepository } from '../repositories/trades.repository';
import { MetricsService } from '../metrics/metrics.service';
import {
  isStoredTicks,
  StoredPublisher,
  StoredRecord,
  StoredSeries,
  StoredTicks,
} from '../storage/stored-publisher';
import { REDIS_CHANNELS } from './event-subjects';
import { EventsRedis } from './events-redis';
import { NatsEventBus } from './nats-event-bus';

/** The spec's StorageEventData of a bar series. */
export interface BarStorageEventData {
  readonly instrument_id: string;
  readonly timeframe: string;
  readonly stored_count: number;
  readonly storage_time_ms: number;
  readonly compression_ratio: number;
  readonly storage_location: string;
}

/**
 * StorageEventData of an instrument's trades or quotes: the spec's fields
 * (trades and quotes have no timeframe: null), what was stored (data_type)
 * and the time range written (oldest and newest timestamp, microseconds).
 */
export interface TickStorageEventData extends Omit<BarStorageEventData, 'timeframe'> {
  readonly timeframe: null;
  readonly data_type: StoredTickType;
  readonly oldest_timestamp: string;
  readonly newest_timestamp: string;
}

/** The `market_data_stored` event of the spec. */
export interface MarketDataStoredEvent {
  readonly event_id: string;
  readonly timestamp: string;
  readonly storage_data: BarStorageEventData | TickStorageEventData;
}

/** Where an unknown location is reported (the database could not be asked after the commit). */
const UNKNOWN_PLACE: StoredRowPlace = { location: 'market_data_ts', compressionRatio: 0 };

/**
 * Announces every commit, from REST and events alike, with one
 * market_data_stored per (instrument, timeframe) of bars and per (instrument,
 * TRADE or QUOTE) of ticks: a JetStream publish on NATS
 * and/or a Redis PUBLISH, as configured. storage_location is the chunk
 * (TimescaleDB) or partition (plain PostgreSQL) holding the newest row
 * written. A failed publish is logged and counted, never thrown: the rows
 * are committed whatever happens to their announcement.
 */
@Injectable()
export class MarketDataStoredPublisher implements StoredPublisher {
  private readonly logger = new Logger('Events');
  private readonly encoder = new TextEncoder();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly marketData: MarketDataRepository,
    private readonly trades: TradesRepository,
    private readonly quotes: QuotesRepository,
    private readonly nats: NatsEventBus,
    private readonly redis: EventsRedis,
    private readonly metrics: MetricsService,
  ) {}

  /** Resolves once published (or given up); never rejects. Without NATS and Redis: nothing to do. */
  publish(stored: readonly StoredRecord[]): Promise<void> {
    if (stored.length === 0 || !(this.nats.configured || this.redis.configured)) {
      return Promise.resolve();
    }
    const done = this.announce(stored).catch((error: unknown) => {
      this.logger.warn(
        `market_data_stored not published: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
    return done;
  }

  /** Waits for the announcements under way (shutdown). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async announce(stored: readonly StoredRecord[]): Promise<void> {
    const bars = stored.filter((s): s is StoredSeries => !isStoredTicks(s));
    const ticks = stored.filter(isStoredTicks);
    const timestamp = new Date().toISOString();
    const events: MarketDataStoredEvent[] = [
      ...(await this.barEvents(bars)),
      ...(await Promise.all(ticks.map((t) => this.tickData(t)))),
    ].map((storage_data) => ({ event_id: randomUUID(), timestamp, storage_data }));
    await Promise.all([this.toNats(events), this.toRedis(events)]);
  }

  private async barEvents(stored: readonly StoredSeries[]): Promise<BarStorageEventData[]> {
    if (stored.length === 0) return [];
    const places = await this.marketData
      .findStoredRowPlaces(stored.map((s) => ({ series: s.series, timestampMs: s.newestMs })))
      .catch((error: unknown) => {
        this.logger.warn(
          `storage location unknown: ${error instanceof Error ? error.message : String(error)}`,
        );
        return stored.map(() => UNKNOWN_PLACE);
      });
    return stored.map((s, i) => {
      // One place per row asked for; a short answer reads as unknown.
      const place = places[i] ?? UNKNOWN_PLACE;
      return {
        instrument_id: s.series.instrumentId,
        timeframe: s.series.timeframe,
        stored_count: s.storedCount,
        storage_time_ms: s.storageTimeMs,
        compression_ratio: s.compressionRatio ?? place.compressionRatio,
        storage_location: place.location,
      };
    });
  }

  /** The chunk or partition of the newest tick written; the table when it cannot be asked. */
  private async tickData(stored: StoredTicks): Promise<TickStorageEventData> {
    const table = (stored.dataType === DataType.QUOTE ? this.quotes : this.trades).maintenance;
    const [location, ratio] = await Promise.all([
      table
        .findRowPlace(stored.instrumentId, stored.newestUs)
        .catch((error: unknown) => this.unknown('storage location', error, table.tableName)),
      stored.compressionRatio ??
        table
          .measureCompressionRatio(stored.instrumentId)
          .catch((error: unknown) => this.unknown('compression ratio', error, 0)),
    ]);
    return {
      instrument_id: stored.instrumentId,
      timeframe: null,
      data_type: stored.dataType,
      stored_count: stored.storedCount,
      storage_time_ms: stored.storageTimeMs,
      compression_ratio: ratio,
      storage_location: location,
      oldest_timestamp: formatInstantMicros(stored.oldestUs),
      newest_timestamp: formatInstantMicros(stored.newestUs),
    };
  }

  private unknown<T>(what: string, error: unknown, fallback: T): T {
    this.logger.warn(`${what} unknown: ${error instanceof Error ? error.message : String(error)}`);
    return fallback;
  }

  private async toNats(events: readonly MarketDataStoredEvent[]): Promise<void> {
    if (!this.nats.configured) return;
    const js = this.nats.jetstream();
    try {
      if (!js) throw new Error('NATS is not connected');
      await Promise.all(
        events.map((e) =>
          js.publish(this.nats.subjects.output, this.encoder.encode(JSON.stringify(e)), {
            msgID: e.event_id,
          }),
        ),
      );
      this.metrics.eventOutputsPublished('nats', true, events.length);
    } catch (error) {
      this.metrics.eventOutputsPublished('nats', false, events.length);
      throw error;
    }
  }

  private async toRedis(events: readonly MarketDataStoredEvent[]): Promise<void> {
    if (!this.redis.configured) return;
    try {
      await this.redis.publish(
        REDIS_CHANNELS.output,
        events.map((e) => JSON.stringify(e)),
      );
      this.metrics.eventOutputsPublished('redis', true, events.length);
    } catch (error) {
      this.metrics.eventOutputsPublished('redis', false, events.length);
      throw error;
    }
  }
}
