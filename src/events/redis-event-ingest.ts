import { Inject, Injectable, Logger } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { deadLetterBody } from './dead-letter';
import { EventBatchSettler, SettleTarget } from './event-batch-settler';
import { EventIngest } from './event-ingest';
import { REDIS_CHANNELS } from './event-subjects';
import { EventsRedis } from './events-redis';
import { barsIn } from './bar-batch-event';
import { MessageBatcher } from './message-batcher';

interface Accepted {
  readonly value: unknown;
  readonly done: () => void;
}

/**
 * Events from Nest's Redis transport (pub/sub: at most once). Nest hands
 * them over one by one without waiting; they are gathered into batches like
 * the JetStream ones and stored by the same service in one commit per
 * batch. Invalid ones go to the Redis dead-letter channel; when the write
 * fails there is nobody to redeliver them: they are counted as dropped.
 */
@Injectable()
export class RedisEventIngest {
  private readonly logger = new Logger('RedisEvents');
  // By bars, as the JetStream lanes: a batch event counts its bars toward EVENT_BATCH_MAX.
  private readonly queue = new MessageBatcher<Accepted>((a) => barsIn(a.value));
  private readonly settler: EventBatchSettler<Accepted>;
  private running: Promise<void> | undefined;

  constructor(
    events: EventIngest,
    private readonly redis: EventsRedis,
    private readonly metrics: MetricsService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {
    this.settler = new EventBatchSettler(
      this.settleTarget(),
      (batch) => events.storeEvents(batch, 'redis'),
      {
        maxDeliver: 0,
        retryBaseMs: settings.events.retryBaseMs,
        retryMaxMs: settings.events.retryMaxMs,
      },
      metrics,
    );
  }

  /** Resolves once the event's batch is settled; never rejects. */
  accept(value: unknown): Promise<void> {
    if (this.queue.isClosed) {
      this.metrics.eventsSettled('redis', { dropped: 1 });
      return Promise.resolve();
    }
    this.running ??= this.run();
    return new Promise<void>((done) => this.queue.push({ value, done }));
  }

  /** Stores what was received before the transport closed, then stops. */
  async drain(): Promise<void> {
    const left = this.queue.close();
    await this.running;
    if (left.length > 0) await this.process(left);
  }

  private async run(): Promise<void> {
    const { batchMax, batchWaitMs } = this.settings.events;
    for (;;) {
      const batch = await this.queue.take(batchMax, batchWaitMs);
      if (batch.length === 0) return;
      await this.process(batch);
    }
  }

  private async process(batch: Accepted[]): Promise<void> {
    try {
      const summary = await this.settler.settle(batch);
      if (summary.dropped > 0) {
        this.logger.warn(`${summary.dropped} events lost: the database could not be reached`);
      }
    } catch (error) {
      this.metrics.eventsSettled('redis', { dropped: batch.length });
      this.logger.error(
        `batch lost: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    } finally {
      batch.forEach((b) => b.done());
    }
  }

  private settleTarget(): SettleTarget<Accepted> {
    return {
      transport: 'redis',
      // Nest's Redis transport parsed it already (a payload that is not JSON arrives as a string).
      decode: (m) => m.value,
      deliveries: () => 1,
      ack: () => undefined,
      retryLater: () => false,
      deadLetter: async (m, reason) => {
        try {
          await this.redis.publish(REDIS_CHANNELS.deadLetter, [
            deadLetterBody({
              reason,
              transport: 'redis',
              subject: REDIS_CHANNELS.input,
              deliveries: 1,
              payload: typeof m.value === 'string' ? m.value : JSON.stringify(m.value),
            }),
          ]);
          return true;
        } catch (error) {
          this.logger.warn(
            `could not dead-letter an event: ${error instanceof Error ? error.message : String(error)}`,
          );
          return false;
        }
      },
    };
  }
}
