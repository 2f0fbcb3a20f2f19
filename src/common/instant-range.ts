import { InvalidRequestError } from './errors';
import { parseIsoInstant } from './time';

const DAY_MS = 86_400_000;

/**
 * [start_time, end_time) of a request, already validated as instants by the
 * DTO; at most `maxDays` long when given (reads: bounds the work one request
 * can ask of the database).
 */
export function toRange(
  startTime: string,
  endTime: string,
  maxDays?: number,
): { fromMs: number; toMs: number } {
  const from = parseIsoInstant(startTime);
  const to = parseIsoInstant(endTime);
  if (!from) throw new InvalidRequestError('start_time', 'must be an ISO-8601 time with a zone');
  if (!to) throw new InvalidRequestError('end_time', 'must be an ISO-8601 time with a zone');
  if (to.ms <= from.ms) throw new InvalidRequestError('end_time', 'must be after start_time');
  if (maxDays !== undefined && to.ms - from.ms > maxDays * DAY_MS) {
    throw new InvalidRequestError(
      'end_time',
      `must be at most ${maxDays} days after start_time (MAX_QUERY_RANGE_DAYS)`,
    );
  }
  return { fromMs: from.ms, toMs: to.ms };
}
