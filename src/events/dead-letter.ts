import type { Transport } from '../metrics/metrics.service';

/**
 * What the dead-letter subject carries: the reason and the original payload
 * as it arrived (text, so that even a message that is not JSON can be read
 * and replayed as it was).
 */
export interface DeadLetterBody {
  readonly reason: string;
  readonly transport: Transport;
  /** Subject or channel the event arrived on. */
  readonly subject: string;
  readonly dead_lettered_at: string;
  readonly deliveries: number;
  /** JetStream stream sequence of the original message (NATS only). */
  readonly stream_sequence?: number;
  readonly payload: string;
}

export function deadLetterBody(body: Omit<DeadLetterBody, 'dead_lettered_at'>): string {
  const full: DeadLetterBody = {
    reason: body.reason,
    transport: body.transport,
    subject: body.subject,
    dead_lettered_at: new Date().toISOString(),
    deliveries: body.deliveries,
    ...(body.stream_sequence === undefined ? {} : { stream_sequence: body.stream_sequence }),
    payload: body.payload,
  };
  return JSON.stringify(full);
}
