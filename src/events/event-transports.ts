import { INestApplication } from '@nestjs/common';
import { RedisOptions, Transport } from '@nestjs/microservices';
import { MetricsService } from '../metrics/metrics.service';
import { Settings } from '../settings/settings';
import { NatsEventBus } from './nats-event-bus';
import { NatsJetStreamServer } from './nats-jetstream.server';

/** Nest's Redis transport options from EVENTS_REDIS_URL (it takes no URL itself). */
export function redisTransportOptions(url: string): RedisOptions['options'] {
  const parsed = new URL(url);
  const db = Number(parsed.pathname.replace(/^\//, '') || 0);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    // Nest reconnects only this many times; a service should keep trying.
    retryAttempts: Number.MAX_SAFE_INTEGER,
    retryDelay: 1_000,
  };
}

/**
 * Connects the configured event transports to the app as Nest
 * microservices sharing its pipes and filters; `app.startAllMicroservices()`
 * starts them.
 */
export function connectEventTransports(app: INestApplication, settings: Settings): void {
  const { natsUrl, redisUrl } = settings.events;
  if (natsUrl) {
    app.connectMicroservice(
      {
        strategy: new NatsJetStreamServer(
          app.get(NatsEventBus),
          app.get(MetricsService),
          settings.events,
        ),
      },
      { inheritAppConfig: true },
    );
  }
  if (redisUrl) {
    app.connectMicroservice<RedisOptions>(
      { transport: Transport.REDIS, options: redisTransportOptions(redisUrl) },
      { inheritAppConfig: true },
    );
  }
}
