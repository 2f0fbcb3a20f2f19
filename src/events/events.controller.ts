import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, Payload, Transport } from '@nestjs/microservices';
import { EventBatchResult, StorageService } from '../storage/storage.service';
import { INPUT_PATTERN, NATS_JETSTREAM } from './event-subjects';
import { PassThroughRpcFilter } from './pass-through-rpc.filter';
import { RedisEventIngest } from './redis-event-ingest';

/** The event handlers: a few lines each, into the same write path as REST. */
@Controller()
@UseFilters(PassThroughRpcFilter)
export class EventsController {
  constructor(
    private readonly storage: StorageService,
    private readonly redisIngest: RedisEventIngest,
  ) {}

  /** A batch pulled from JetStream: one commit; the transport acks from the result. */
  @EventPattern(INPUT_PATTERN, NATS_JETSTREAM)
  storeBatch(@Payload() events: unknown[]): Promise<EventBatchResult> {
    return this.storage.storeEvents(events, 'nats');
  }

  /** One event from Redis pub/sub; gathered into batches before the same commit path. */
  @EventPattern(INPUT_PATTERN, Transport.REDIS)
  storeRedisEvent(@Payload() event: unknown): Promise<void> {
    return this.redisIngest.accept(event);
  }
}
