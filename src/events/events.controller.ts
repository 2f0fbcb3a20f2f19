import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, Payload, Transport } from '@nestjs/microservices';
import { EventBatchResult, EventIngest } from './event-ingest';
import { INPUT_PATTERN, NATS_JETSTREAM } from './event-subjects';
import { PassThroughRpcFilter } from './pass-through-rpc.filter';
import { RedisEventIngest } from './redis-event-ingest';

/** The event handlers: a few lines each, into the same ingest use case as REST. */
@Controller()
@UseFilters(PassThroughRpcFilter)
export class EventsController {
  constructor(
    private readonly events: EventIngest,
    private readonly redisIngest: RedisEventIngest,
  ) {}

  /** A batch pulled from JetStream: one commit; the transport acks from the result. */
  @EventPattern(INPUT_PATTERN, NATS_JETSTREAM)
  storeBatch(@Payload() events: unknown[]): Promise<EventBatchResult> {
    return this.events.storeEvents(events, 'nats');
  }

  /** One event from Redis pub/sub; gathered into batches before the same commit path. */
  @EventPattern(INPUT_PATTERN, Transport.REDIS)
  storeRedisEvent(@Payload() event: unknown): Promise<void> {
    return this.redisIngest.accept(event);
  }
}
