import { Inject, Injectable, Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { withTimeout } from '../common/with-timeout';

/**
 * The Redis connection the events module publishes on (market_data_stored,
 * dead letters) and pings for health. Nest's Redis transport keeps its own
 * two connections for the input channel.
 */
@Injectable()
export class EventsRedis {
  private readonly logger = new Logger('EventsRedis');
  private readonly client: Redis | undefined;

  constructor(@Inject(SETTINGS) settings: Settings) {
    const url = settings.events.redisUrl;
    if (url) {
      this.client = new Redis(url, {
        // Fail at once while disconnected instead of queueing without bound.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(times * 200, 2_000),
      });
      this.client.on('error', (error: Error) => this.logger.debug(error.message));
    }
  }

  get configured(): boolean {
    return this.client !== undefined;
  }

  /** Publishes each message on `channel` in one round trip; throws when Redis cannot take them. */
  async publish(channel: string, messages: readonly string[]): Promise<void> {
    if (!this.client) throw new Error('EVENTS_REDIS_URL is not set');
    const pipeline = this.client.pipeline();
    for (const message of messages) pipeline.publish(channel, message);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0] instanceof Error ? failed[0] : new Error(String(failed[0]));
  }

  /** Bounded PING; never throws. */
  async ping(timeoutMs: number): Promise<{ up: boolean; latency_ms: number }> {
    const started = performance.now();
    const up = this.client
      ? await withTimeout(this.client.ping(), timeoutMs).then(
          (answer) => answer === 'PONG',
          () => false,
        )
      : false;
    return { up, latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  }

  async close(): Promise<void> {
    await this.client?.quit().catch(() => this.client?.disconnect());
  }
}
