import { Inject, Injectable, Logger } from '@nestjs/common';
import { connect, JetStreamClient, NatsConnection } from 'nats';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { EventSubjects, natsSubjects } from './event-subjects';
import { withTimeout } from '../common/with-timeout';

export type ConsumerState = 'not started' | 'starting' | 'consuming' | 'stopped';

const CONNECT_RETRY_MAX_MS = 5_000;
/** A JetStream publish (output, dead letter) waits this long for the server's ack. */
const PUBLISH_TIMEOUT_MS = 5_000;

/**
 * The one NATS connection of the process: the JetStream consumer and the
 * publishers of market_data_stored and dead letters share it. It is opened
 * in the background and retried until it succeeds, so the service starts
 * (and serves REST) while NATS is still coming up; health says so meanwhile.
 */
@Injectable()
export class NatsEventBus {
  private readonly logger = new Logger('NATS');
  private connection: NatsConnection | undefined;
  private connecting: Promise<NatsConnection> | undefined;
  private closed = false;
  /** Set by the JetStream transport. */
  consumerState: ConsumerState = 'not started';
  /** Messages not yet delivered to the consumer, as of the last batch. */
  consumerPending: number | undefined;
  readonly subjects: EventSubjects;

  constructor(@Inject(SETTINGS) private readonly settings: Settings) {
    this.subjects = natsSubjects(settings.events.natsSubjectPrefix);
  }

  get configured(): boolean {
    return this.settings.events.natsUrl !== undefined;
  }

  /** The open connection, or undefined while there is none. */
  get current(): NatsConnection | undefined {
    return this.connection && !this.connection.isClosed() ? this.connection : undefined;
  }

  /** Resolves once connected (retrying meanwhile); rejects only when closed first. */
  connect(): Promise<NatsConnection> {
    this.connecting ??= this.connectWithRetry();
    return this.connecting;
  }

  jetstream(): JetStreamClient | undefined {
    return this.current?.jetstream({ timeout: PUBLISH_TIMEOUT_MS });
  }

  /** Round trip to the server, bounded; never throws. */
  async ping(timeoutMs: number): Promise<{ up: boolean; latency_ms: number }> {
    const started = performance.now();
    const nc = this.current;
    let up = false;
    if (nc) {
      up = await withTimeout(nc.flush(), timeoutMs).then(
        () => true,
        () => false,
      );
    }
    return { up, latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  }

  /** Sends what is buffered (acks included) and closes. */
  async close(): Promise<void> {
    this.closed = true;
    const nc = this.connection;
    this.connection = undefined;
    if (nc && !nc.isClosed()) {
      await nc.drain().catch((error: unknown) => {
        this.logger.warn(`drain failed: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
  }

  private async connectWithRetry(): Promise<NatsConnection> {
    const url = this.settings.events.natsUrl;
    if (!url) throw new Error('NATS_URL is not set');
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new Error('closed before NATS was reached');
      try {
        const nc = await connect({
          servers: url,
          name: 'market-data-storage',
          // Once connected, reconnect forever: JetStream keeps the messages meanwhile.
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
          timeout: 5_000,
        });
        if (this.closed) {
          await nc.close();
          throw new Error('closed before NATS was reached');
        }
        this.connection = nc;
        this.logger.log(`connected to ${nc.getServer()}`);
        void this.watch(nc);
        return nc;
      } catch (error) {
        if (this.closed) throw error;
        this.logger.warn(
          `NATS unreachable (${error instanceof Error ? error.message : String(error)}); retry ${attempt}`,
        );
        await sleep(Math.min(500 * attempt, CONNECT_RETRY_MAX_MS));
      }
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      const type = String(status.type);
      if (type === 'disconnect' || type === 'reconnect') {
        this.logger.warn(`${type} ${JSON.stringify(status.data)}`);
      }
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
