import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../repositories/repositories.module';
import { STORED_PUBLISHER } from '../storage/stored-publisher';
import { EventsRedis } from './events-redis';
import { MarketDataStoredPublisher } from './market-data-stored.publisher';
import { NatsEventBus } from './nats-event-bus';

/**
 * The events' output side: the NATS and Redis connections and the
 * market_data_stored publisher, which is the write path's STORED_PUBLISHER
 * port. Apart from the input side (EventsModule), so that the storage
 * module can import it without importing the transports that call it.
 */
@Module({
  imports: [RepositoriesModule],
  providers: [
    NatsEventBus,
    EventsRedis,
    MarketDataStoredPublisher,
    { provide: STORED_PUBLISHER, useExisting: MarketDataStoredPublisher },
  ],
  exports: [NatsEventBus, EventsRedis, MarketDataStoredPublisher, STORED_PUBLISHER],
})
export class EventsOutputModule {}
