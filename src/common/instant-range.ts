import { InvalidRequestError } from './errors';
import { epochMicros, ParsedTime, parseIsoInstant } from './time';

const DAY_MS = 86_400_000;

function parseBounds(startTime: string, endTime: string): { from: ParsedTime; to: ParsedTime } {
  const from = parseIsoInstant(startTime);
  const to = parseIsoInstant(endTime);
  if (!from) throw new InvalidRequestError('start_time', 'must be an ISO-8601 time with a zone');
  if (!to) throw new InvalidRequestError('end_time', 'must be an ISO-8601 time with a zone');
  return { from, to };
}

/**
 * The one rule for every read range, bars and ticks alike: end after start
 * and, when `maxDays` is given, at most that many days long (bounds the work
 * one request can ask of the database). `from`/`to` are in `unitsPerMs`
 * units per millisecond (1: ms, 1000: µs).
 */
function checkSpan(from: number, to: number, unitsPerMs: number, maxDays?: number): void {
  if (to <= from) throw new InvalidRequestError('end_time', 'must be after start_time');
  if (maxDays !== undefined && to - from > maxDays * DAY_MS * unitsPerMs) {
    throw new InvalidRequestError(
      'end_time',
      `must be at most ${maxDays} days after start_time (MAX_QUERY_RANGE_DAYS)`,
    );
  }
}

/** [start_time, end_time) of a request in epoch milliseconds (bars); at most `maxDays` long when given. */
export function toRange(
  startTime: string,
  endTime: string,
  maxDays?: number,
): { fromMs: number; toMs: number } {
  const { from, to } = parseBounds(startTime, endTime);
  checkSpan(from.ms, to.ms, 1, maxDays);
  return { fromMs: from.ms, toMs: to.ms };
}

/** [start_time, end_time) in epoch microseconds (trades and quotes); the same rule as `toRange`. */
export function toMicroRange(
  startTime: string,
  endTime: string,
  maxDays?: number,
): { fromUs: number; toUs: number } {
  const { from, to } = parseBounds(startTime, endTime);
  const fromUs = epochMicros(from);
  const toUs = epochMicros(to);
  checkSpan(fromUs, toUs, 1000, maxDays);
  return { fromUs, toUs };
}
