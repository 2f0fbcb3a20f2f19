/**
 * The instant JetStream stored an event (µs since the epoch), carried on
 * the decoded event from the transport to the bar row under a Symbol key:
 * the event format refuses unknown fields, and a Symbol is not a field
 * (`for...in` and JSON skip it, object spread copies it). A bar written
 * from an event keeps it in `market_data_ts.stream_time`, and an event
 * older than the one that last wrote the bar does not replace it
 * (docs/decisions.md, "The later event wins").
 */
const STREAM_TIME_US = Symbol('streamTimeUs');

type Carrier = { [STREAM_TIME_US]?: number };

function isObject(value: unknown): value is Carrier {
  return typeof value === 'object' && value !== null;
}

/** Marks a decoded event (or a point) with the instant its stream stored it. */
export function setStreamTime(value: unknown, us: number): void {
  if (isObject(value)) value[STREAM_TIME_US] = us;
}

/** The stream time `value` carries; null for a REST point or a Redis event. */
export function streamTimeOf(value: unknown): number | null {
  return isObject(value) ? (value[STREAM_TIME_US] ?? null) : null;
}

/** Copies the stream time from an event to the point made from it. */
export function carryStreamTime(from: unknown, to: object): void {
  const us = streamTimeOf(from);
  if (us !== null) setStreamTime(to, us);
}

/** JetStream's nanoseconds as whole microseconds (timestamptz's precision); the order is kept. */
export function streamTimeUsOfNanos(nanos: number): number {
  return Math.floor(nanos / 1000);
}
