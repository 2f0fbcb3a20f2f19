import { Inject, Injectable } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { eventWorkers } from '../workers/event-workers';
import { EventsRedis } from './events-redis';
import { NatsEventBus } from './nats-event-bus';
import type { ConsumerState } from './nats-event-bus';

const PING_TIMEOUT_MS = 1_000;

export class EventWorkersStatus {
  @ApiProperty({ example: 3, description: 'EVENT_WORKERS - 1: the service consumes as well' })
  configured: number;

  @ApiProperty({ example: 3, description: 'Running now; a worker that died is started again' })
  running: number;
}

export class NatsTransportStatus {
  @ApiProperty({ enum: ['up', 'down'] })
  status: 'up' | 'down';

  @ApiProperty({ example: 0.4 })
  latency_ms: number;

  @ApiProperty({ example: 'MARKET_DATA' })
  stream: string;

  @ApiProperty({ example: 'market-data-storage' })
  consumer: string;

  @ApiProperty({ enum: ['not started', 'starting', 'consuming', 'stopped'] })
  consumer_state: ConsumerState;

  @ApiPropertyOptional({
    example: 0,
    description: 'Messages not yet delivered to the consumer, as of the last batch',
  })
  pending?: number;

  /** With EVENT_WORKERS > 1: the event worker processes this service runs. */
  @ApiPropertyOptional({ type: EventWorkersStatus })
  workers?: EventWorkersStatus;
}

export class RedisTransportStatus {
  @ApiProperty({ enum: ['up', 'down'] })
  status: 'up' | 'down';

  @ApiProperty({ example: 0.3 })
  latency_ms: number;
}

export class EventsStatus {
  @ApiProperty({
    enum: ['up', 'down', 'not configured'],
    description: 'down when a configured transport is down',
  })
  status: 'up' | 'down' | 'not configured';

  @ApiPropertyOptional({ type: NatsTransportStatus })
  nats?: NatsTransportStatus;

  @ApiPropertyOptional({ type: RedisTransportStatus })
  redis?: RedisTransportStatus;
}

/** Health of the event transports, owned by the module that owns them. */
@Injectable()
export class EventsHealthIndicator {
  constructor(
    private readonly nats: NatsEventBus,
    private readonly redis: EventsRedis,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** Pings each configured transport with a timeout; never throws. */
  async status(): Promise<EventsStatus> {
    if (!this.nats.configured && !this.redis.configured) return { status: 'not configured' };
    const [nats, redis] = await Promise.all([
      this.nats.configured ? this.natsStatus() : undefined,
      this.redis.configured ? this.redis.ping(PING_TIMEOUT_MS) : undefined,
    ]);
    const redisStatus: RedisTransportStatus | undefined = redis && {
      status: redis.up ? 'up' : 'down',
      latency_ms: redis.latency_ms,
    };
    const down = nats?.status === 'down' || redisStatus?.status === 'down';
    return {
      status: down ? 'down' : 'up',
      ...(nats ? { nats } : {}),
      ...(redisStatus ? { redis: redisStatus } : {}),
    };
  }

  private async natsStatus(): Promise<NatsTransportStatus> {
    const ping = await this.nats.ping(PING_TIMEOUT_MS);
    const state = this.nats.consumerState;
    const workers = eventWorkers();
    // Connected but not consuming (stream or consumer could not be set up) is down as well.
    const up = ping.up && (state === 'consuming' || state === 'not started');
    return {
      status: up ? 'up' : 'down',
      latency_ms: ping.latency_ms,
      stream: this.settings.events.natsStream,
      consumer: this.settings.events.natsConsumer,
      consumer_state: state,
      ...(this.nats.consumerPending === undefined ? {} : { pending: this.nats.consumerPending }),
      ...(workers
        ? { workers: { configured: this.settings.events.workers - 1, running: workers.running } }
        : {}),
    };
  }
}
