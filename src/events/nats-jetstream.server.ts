import { Logger } from '@nestjs/common';
import { BaseRpcContext, CustomTransportStrategy, Server } from '@nestjs/microservices';
import type { ConsumerMessages, JsMsg } from 'nats';
import { lastValueFrom } from 'rxjs';
import { setStreamTime, streamTimeUsOfNanos } from '../common/stream-time';
import { MetricsService } from '../metrics/metrics.service';
import type { EventSettings } from '../settings/settings';
import type { EventBatchResult } from './event-ingest';
import { deadLetterBody } from './dead-letter';
import { EventBatchSettler, SettleTarget } from './event-batch-settler';
import { INPUT_PATTERN, NATS_JETSTREAM } from './event-subjects';
import { ensureConsumer, ensureStream } from './jetstream-setup';
import { MessageBatcher } from './message-batcher';
import { withTimeout } from '../common/with-timeout';
import { NatsEventBus, sleep } from './nats-event-bus';
import { barsIn } from './bar-batch-event';
import { laneOfEvent } from './series-lanes';

/** The context a JetStream batch handler receives: the subject the batch came from. */
export class JetStreamContext extends BaseRpcContext<[string]> {
  getSubject(): string {
    return this.args[0];
  }
}

/** A message as it arrived, decoded at once (while earlier batches are being written). */
interface Arrived {
  readonly message: JsMsg;
  readonly value?: unknown;
  /** Its bars: a batch event weighs as much as the events it holds (EVENT_BATCH_MAX counts bars). */
  readonly weight: number;
  /** Set when the payload is not JSON. */
  readonly error?: Error;
}

const SETUP_RETRY_MAX_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * NATS JetStream as a Nest microservice transport: a durable pull consumer
 * of `normalized_market_data`, read in batches (EVENT_BATCH_MAX events or
 * EVENT_BATCH_WAIT_MS after the first), each batch handed as one array to
 * the `@EventPattern(INPUT_PATTERN, NATS_JETSTREAM)` handler, which stores
 * it in one commit. EventBatchSettler then acks, retries or dead-letters
 * each message. Messages are decoded as they arrive and routed to one of
 * EVENT_WRITE_CONCURRENCY lanes by a hash of their series: the lanes write
 * their batches at once (each on its own connection), while within a lane
 * batches run one after the other, so the rows of a series are written in
 * the order the stream delivered them.
 */
export class NatsJetStreamServer extends Server implements CustomTransportStrategy {
  override readonly transportId = NATS_JETSTREAM;
  private readonly lanes: MessageBatcher<Arrived>[];
  private readonly settler: EventBatchSettler<Arrived>;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private readonly log = new Logger('JetStream');
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  /** Messages not yet delivered, as told by the latest delivery. */
  private latestPending = 0;

  constructor(
    private readonly bus: NatsEventBus,
    private readonly metrics: MetricsService,
    private readonly settings: EventSettings,
  ) {
    super();
    this.lanes = Array.from(
      { length: Math.max(settings.writeConcurrency, 1) },
      () => new MessageBatcher<Arrived>((a) => a.weight),
    );
    this.settler = new EventBatchSettler(
      this.settleTarget(),
      (events) => this.invokeHandler(events),
      {
        maxDeliver: settings.natsMaxDeliver,
        retryBaseMs: settings.retryBaseMs,
        retryMaxMs: settings.retryMaxMs,
      },
      metrics,
    );
  }

  /** Starts in the background: NATS may come up after the service. */
  listen(callback: (error?: unknown) => void): void {
    if (!this.getHandlerByPattern(INPUT_PATTERN)) {
      callback(new Error(`no @EventPattern('${INPUT_PATTERN}', NATS_JETSTREAM) handler`));
      return;
    }
    this.running = this.run();
    callback();
  }

  /**
   * Stops pulling, hands back the messages not yet started, finishes the
   * batch in flight (commit, outputs, acks) and flushes the acks.
   */
  async close(): Promise<void> {
    this.stopping = true;
    if (this.messages) {
      await withTimeout(this.messages.close(), CLOSE_TIMEOUT_MS).catch(() => undefined);
    }
    const notStarted = this.lanes.flatMap((lane) => lane.close());
    for (const { message } of notStarted) message.nak();
    await this.running;
    await this.bus.current?.flush().catch(() => undefined);
    this.bus.consumerState = 'stopped';
    if (notStarted.length > 0) {
      this.log.log(`handed back ${notStarted.length} messages not started`);
    }
  }

  on(): never {
    throw new Error('NatsJetStreamServer has no events to listen to');
  }

  unwrap<T>(): T {
    return this.bus.current as T;
  }

  private async run(): Promise<void> {
    if (!(await this.startConsuming())) return;
    await Promise.all(this.lanes.map((lane) => this.runLane(lane)));
  }

  private async runLane(lane: MessageBatcher<Arrived>): Promise<void> {
    for (;;) {
      const batch = await lane.take(this.settings.batchMax, this.settings.batchWaitMs);
      if (batch.length === 0) return;
      await this.process(batch);
    }
  }

  /** Decodes a message on arrival and queues it in the lane of its series. */
  private arrive(message: JsMsg): void {
    this.latestPending = message.info.pending;
    let arrived: Arrived;
    try {
      const value = JSON.parse(this.decoder.decode(message.data)) as unknown;
      setStreamTime(value, streamTimeUsOfNanos(message.info.timestampNanos));
      arrived = { message, value, weight: barsIn(value) };
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      arrived = { message, error: failure, weight: 1 };
    }
    const lane = this.lanes[laneOfEvent(arrived.value, this.lanes.length)];
    if (!lane) throw new Error('laneOfEvent answered a lane out of range');
    lane.push(arrived);
  }

  /** Connects, ensures the stream and the durable consumer, starts pulling; retried until it works. */
  private async startConsuming(): Promise<boolean> {
    const { natsStream: stream, natsConsumer: durable, batchMax } = this.settings;
    const lanes = this.lanes.length;
    this.bus.consumerState = 'starting';
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        const nc = await this.bus.connect();
        const jsm = await nc.jetstreamManager();
        await ensureStream(jsm, stream, this.bus.subjects);
        await ensureConsumer(jsm, stream, this.bus.subjects, {
          durable,
          ackWaitMs: this.settings.natsAckWaitMs,
          maxDeliver: this.settings.natsMaxDeliver,
          // Room for the batches in flight (one per lane) and the next ones pulled meanwhile.
          maxAckPending: Math.max(batchMax * (lanes + 3), 1_000),
        });
        const consumer = await nc.jetstream().consumers.get(stream, durable);
        if (this.stopping) return false;
        this.messages = await consumer.consume({
          // In messages: nats.js pulls at most 100 messages per request when bounded in bytes,
          // which cost one-bar events about a third of their rate. Batch events: NATS_PULL_AHEAD.
          max_messages: this.settings.natsPullAhead || Math.max(batchMax * (lanes + 1), 100),
          callback: (message) => this.arrive(message),
        });
        this.bus.consumerState = 'consuming';
        this.log.log(
          `consuming ${this.bus.subjects.input} (stream ${stream}, consumer ${durable})`,
        );
        return true;
      } catch (error) {
        if (this.stopping) return false;
        this.log.warn(
          `could not start consuming (${error instanceof Error ? error.message : String(error)}); retry ${attempt}`,
        );
        await sleep(Math.min(1_000 * attempt, SETUP_RETRY_MAX_MS));
      }
    }
    return false;
  }

  private async process(arrived: Arrived[]): Promise<void> {
    const batch = arrived.map((a) => a.message);
    // From the latest delivery of any lane: a lane's own last message may be older.
    const pending = this.latestPending;
    this.bus.consumerPending = pending;
    this.metrics.eventConsumerPending(pending);
    // A slow write must not let JetStream redeliver the batch meanwhile.
    const heartbeat = setInterval(
      () => batch.forEach((m) => m.working()),
      Math.max(this.settings.natsAckWaitMs / 2, 500),
    );
    try {
      const summary = await this.settler.settle(arrived);
      // The database is down: the next batch would fail alike; give it a moment.
      if (summary.databaseUnavailable && !this.stopping) await sleep(this.settings.retryBaseMs);
    } catch (error) {
      // Not expected (the settler answers every message); never lose the batch over it.
      this.log.error(
        `batch failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      batch.forEach((m) => m.nak(this.settings.retryBaseMs));
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async invokeHandler(events: unknown[]): Promise<EventBatchResult> {
    const handler = this.getHandlerByPattern(INPUT_PATTERN)!;
    const context = new JetStreamContext([this.bus.subjects.input]);
    return (await lastValueFrom(
      this.transformToObservable(await handler(events, context)),
    )) as EventBatchResult;
  }

  private settleTarget(): SettleTarget<Arrived> {
    return {
      transport: 'nats',
      decode: (a) => {
        if (a.error !== undefined) throw a.error;
        return a.value;
      },
      deliveries: (a) => a.message.info.deliveryCount,
      ack: (a) => a.message.ack(),
      retryLater: (a, delayMs) => {
        a.message.nak(delayMs);
        return true;
      },
      deadLetter: async ({ message: m }, reason) => {
        const js = this.bus.jetstream();
        if (!js) return false;
        try {
          const body = deadLetterBody({
            reason,
            transport: 'nats',
            subject: m.subject,
            deliveries: m.info.deliveryCount,
            stream_sequence: m.info.streamSequence,
            payload: this.decoder.decode(m.data),
          });
          // The id makes a second dead-lettering of the same message (a lost term) a no-op.
          await js.publish(this.bus.subjects.deadLetter, this.encoder.encode(body), {
            msgID: `dead-letter:${m.info.stream}:${m.info.streamSequence}`,
          });
          m.term();
          return true;
        } catch (error) {
          this.log.warn(
            `could not dead-letter message ${m.info.streamSequence}: ${error instanceof Error ? error.message : String(error)}`,
          );
          return false;
        }
      },
    };
  }
}
