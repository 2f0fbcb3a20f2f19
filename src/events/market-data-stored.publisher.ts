import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { MarketDataRepository, StoredRowPlace } from '../database/market-data.repository';
import { MetricsService } from '../metrics/metrics.service';
import { StorageService, StoredSeries } from '../storage/storage.service';
import { REDIS_CHANNELS } from './event-subjects';
import { EventsRedis } from './events-redis';
import { NatsEventBus } from './nats-event-bus';

/** The `market_data_stored` event of the spec. */
export interface MarketDataStoredEvent {
  readonly event_id: string;
  readonly timestamp: string;
  readonly storage_data: {
    readonly instrument_id: string;
    readonly timeframe: string;
    readonly stored_count: number;
    readonly storage_time_ms: number;
    readonly compression_ratio: number;
    readonly storage_location: string;
  };
}

/** Where an unknown location is reported (the database could not be asked after the commit). */
const UNKNOWN_PLACE: StoredRowPlace = { location: 'market_data_ts', compressionRatio: 0 };

/**
 * Announces every commit, from REST and events alike, with one
 * market_data_stored per (instrument, timeframe): a JetStream publish on NATS
 * and/or a Redis PUBLISH, as configured. storage_location is the chunk
 * (TimescaleDB) or partition (plain PostgreSQL) holding the newest row
 * written. A failed publish is logged and counted, never thrown: the rows
 * are committed whatever happens to their announcement.
 */
@Injectable()
export class MarketDataStoredPublisher implements OnModuleInit {
  private readonly logger = new Logger('Events');
  private readonly encoder = new TextEncoder();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly storage: StorageService,
    private readonly marketData: MarketDataRepository,
    private readonly nats: NatsEventBus,
    private readonly redis: EventsRedis,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    if (this.nats.configured || this.redis.configured) {
      this.storage.onStored((stored) => this.publish(stored));
    }
  }

  /** Resolves once published (or given up); never rejects. */
  publish(stored: readonly StoredSeries[]): Promise<void> {
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

  private async announce(stored: readonly StoredSeries[]): Promise<void> {
    const places = await this.marketData
      .findStoredRowPlaces(stored.map((s) => ({ series: s.series, timestampMs: s.newestMs })))
      .catch((error: unknown) => {
        this.logger.warn(
          `storage location unknown: ${error instanceof Error ? error.message : String(error)}`,
        );
        return stored.map(() => UNKNOWN_PLACE);
      });
    const timestamp = new Date().toISOString();
    const events: MarketDataStoredEvent[] = stored.map((s, i) => ({
      event_id: randomUUID(),
      timestamp,
      storage_data: {
        instrument_id: s.series.instrumentId,
        timeframe: s.series.timeframe,
        stored_count: s.storedCount,
        storage_time_ms: s.storageTimeMs,
        compression_ratio: s.compressionRatio ?? places[i].compressionRatio,
        storage_location: places[i].location,
      },
    }));
    await Promise.all([this.toNats(events), this.toRedis(events)]);
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
