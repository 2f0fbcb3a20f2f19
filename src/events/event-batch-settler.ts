import { Logger } from '@nestjs/common';
import { DatabaseUnavailableError } from '../common/errors';
import { DeadLetterReason, MetricsService, Transport } from '../metrics/metrics.service';
import type { EventBatchResult } from './event-ingest';
import type { EventRejection } from './market-data-event';
import { batchRejectionReason, expandEvent } from './bar-batch-event';

/** What a transport does with one message once its fate is known. */
export interface SettleTarget<M> {
  readonly transport: Transport;
  /** The decoded event; throws when the payload is not JSON. */
  decode(message: M): unknown;
  /** Deliveries so far, this one included (1 on a first delivery). */
  deliveries(message: M): number;
  /** Its rows are committed: acknowledge it. */
  ack(message: M): void;
  /** Hands it back for a redelivery after `delayMs`; false where the transport cannot. */
  retryLater(message: M, delayMs: number): boolean;
  /** Publishes it with `reason` to the dead-letter subject, then acknowledges it; false when that failed. */
  deadLetter(message: M, reason: string): Promise<boolean>;
}

export interface SettleOptions {
  /** Deliveries after which a message that could not be written is dead-lettered; 0: never. */
  readonly maxDeliver: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

export interface SettleSummary {
  stored: number;
  deadLettered: number;
  retried: number;
  /** Lost: neither stored, nor handed back, nor dead-lettered (at-most-once transports). */
  dropped: number;
  /** The database could not be reached: the caller should pause before the next batch. */
  databaseUnavailable: boolean;
}

interface Decoded<M> {
  readonly message: M;
  /** Its single-bar events: one, or the bars of a batch event (bar-batch-event.ts). */
  readonly events: unknown[];
  readonly batch: boolean;
}

export function isDatabaseUnavailable(error: unknown): boolean {
  return (
    error instanceof DatabaseUnavailableError ||
    (typeof error === 'object' &&
      error !== null &&
      (error as { code?: unknown }).code === 'DATABASE_UNAVAILABLE')
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The ack/retry/dead-letter decisions for one batch of event messages, the
 * same for every transport:
 * - not JSON, a bad envelope or a bar refused by the bar rules: dead letter
 *   with the reason, then ack; the rest of the batch is stored all the same;
 * - stored: ack, only after the commit (and after the market_data_stored
 *   events of the commit were published);
 * - the database unavailable: nothing stored; every message is handed back
 *   with a growing delay, or dead-lettered once it reached maxDeliver;
 * - any other write failure: the batch is split in halves until the message
 *   at fault is alone, and that one is dead-lettered (a poison message never
 *   blocks the others).
 */
export class EventBatchSettler<M> {
  private readonly logger = new Logger('Events');

  constructor(
    private readonly target: SettleTarget<M>,
    private readonly store: (events: unknown[]) => Promise<EventBatchResult>,
    private readonly options: SettleOptions,
    private readonly metrics: MetricsService,
  ) {}

  /** Delay before the next delivery of a message delivered `deliveries` times. */
  retryDelayMs(deliveries: number): number {
    const exponent = Math.min(Math.max(deliveries - 1, 0), 30);
    return Math.min(this.options.retryBaseMs * 2 ** exponent, this.options.retryMaxMs);
  }

  async settle(messages: readonly M[]): Promise<SettleSummary> {
    const summary: SettleSummary = {
      stored: 0,
      deadLettered: 0,
      retried: 0,
      dropped: 0,
      databaseUnavailable: false,
    };
    const redelivered = messages.filter((m) => this.target.deliveries(m) > 1).length;
    this.metrics.eventsReceived(this.target.transport, messages.length, redelivered);

    const decoded: Decoded<M>[] = [];
    const undecodable: { message: M; reason: string }[] = [];
    for (const message of messages) {
      let value: unknown;
      try {
        value = this.target.decode(message);
      } catch (error) {
        undecodable.push({ message, reason: `payload is not JSON: ${messageOf(error)}` });
        continue;
      }
      const expanded = expandEvent(value);
      if (expanded.ok) decoded.push({ message, events: expanded.events, batch: expanded.batch });
      else undecodable.push({ message, reason: expanded.reason });
    }
    await this.deadLetterAll(undecodable, 'invalid', summary);
    await this.storeAndSettle(decoded, summary);
    this.metrics.eventsSettled(this.target.transport, summary);
    return summary;
  }

  private async storeAndSettle(items: readonly Decoded<M>[], summary: SettleSummary) {
    const [first, ...others] = items;
    if (!first) return;
    let result: EventBatchResult;
    try {
      result = await this.store(
        others.length === 0 ? first.events : items.flatMap((i) => i.events),
      );
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        summary.databaseUnavailable = true;
        await this.retryAll(items, messageOf(error), summary);
        return;
      }
      if (others.length > 0) {
        const half = Math.ceil(items.length / 2);
        await this.storeAndSettle(items.slice(0, half), summary);
        await this.storeAndSettle(items.slice(half), summary);
        return;
      }
      this.logger.error(`an event could not be stored: ${messageOf(error)}`);
      await this.deadLetterAll(
        [{ message: first.message, reason: `could not be stored: ${messageOf(error)}` }],
        'storage_error',
        summary,
      );
      return;
    }

    // Rejections are ascending by index: walk them along the messages' ranges of events.
    const invalid: { message: M; reason: string }[] = [];
    let next = 0;
    let start = 0;
    for (const item of items) {
      const end = start + item.events.length;
      const refused: { bar: number; reason: string }[] = [];
      for (
        let rejection: EventRejection | undefined = result.rejected[next];
        rejection !== undefined && rejection.index < end;
        rejection = result.rejected[++next]
      ) {
        refused.push({ bar: rejection.index - start, reason: rejection.reason });
      }
      const [firstRefused] = refused;
      if (!firstRefused) {
        this.target.ack(item.message);
        summary.stored++;
      } else {
        // A batch event's valid bars are stored; the dead letter says which bars were not.
        const reason = item.batch
          ? batchRejectionReason(item.events.length, refused)
          : firstRefused.reason;
        invalid.push({ message: item.message, reason });
      }
      start = end;
    }
    await this.deadLetterAll(invalid, 'invalid', summary);
  }

  private async retryAll(items: readonly Decoded<M>[], cause: string, summary: SettleSummary) {
    const exhausted: { message: M; reason: string }[] = [];
    for (const { message } of items) {
      const deliveries = this.target.deliveries(message);
      if (this.options.maxDeliver > 0 && deliveries >= this.options.maxDeliver) {
        exhausted.push({
          message,
          reason: `not stored after ${deliveries} deliveries: ${cause}`,
        });
      } else if (this.target.retryLater(message, this.retryDelayMs(deliveries))) {
        summary.retried++;
      } else {
        summary.dropped++;
      }
    }
    await this.deadLetterAll(exhausted, 'undeliverable', summary);
  }

  private async deadLetterAll(
    entries: readonly { message: M; reason: string }[],
    kind: DeadLetterReason,
    summary: SettleSummary,
  ) {
    const published = await Promise.all(
      entries.map(({ message, reason }) => this.target.deadLetter(message, reason)),
    );
    entries.forEach(({ message }, i) => {
      if (published[i]) {
        summary.deadLettered++;
        this.metrics.eventDeadLettered(this.target.transport, kind);
      } else if (
        // Not lost: it comes back and is dead-lettered then.
        this.target.retryLater(message, this.retryDelayMs(this.target.deliveries(message)))
      ) {
        summary.retried++;
      } else {
        summary.dropped++;
      }
    });
  }
}
