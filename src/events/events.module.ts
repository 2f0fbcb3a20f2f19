import { Module, OnApplicationShutdown } from '@nestjs/common';
import { StorageModule } from '../storage/storage.module';
import { EventsController } from './events.controller';
import { EventsHealthIndicator } from './events.health';
import { EventIngest } from './event-ingest';
import { EventsOutputModule } from './events-output.module';
import { EventsRedis } from './events-redis';
import { MarketDataStoredPublisher } from './market-data-stored.publisher';
import { NatsEventBus } from './nats-event-bus';
import { RedisEventIngest } from './redis-event-ingest';

/**
 * Event input and output (DESIGN 5). The transports themselves are Nest
 * microservices connected by connectEventTransports (event-transports.ts)
 * when NATS_URL and/or EVENTS_REDIS_URL are set.
 */
@Module({
  imports: [StorageModule, EventsOutputModule],
  controllers: [EventsController],
  providers: [EventIngest, RedisEventIngest, EventsHealthIndicator],
  exports: [EventsOutputModule, EventsHealthIndicator],
})
export class EventsModule implements OnApplicationShutdown {
  constructor(
    private readonly nats: NatsEventBus,
    private readonly redis: EventsRedis,
    private readonly publisher: MarketDataStoredPublisher,
    private readonly redisIngest: RedisEventIngest,
  ) {}

  /**
   * After the transports closed (Nest closes microservices before this
   * hook): store what Redis delivered, publish what is being announced,
   * then close the connections.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.redisIngest.drain();
    await this.publisher.drain();
    await this.nats.close();
    await this.redis.close();
  }
}
