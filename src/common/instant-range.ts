import { InvalidRequestError } from './errors';
import { parseIsoInstant } from './time';

/** [start_time, end_time) of a request, already validated as instants by the DTO. */
export function toRange(startTime: string, endTime: string): { fromMs: number; toMs: number } {
  const from = parseIsoInstant(startTime);
  const to = parseIsoInstant(endTime);
  if (!from) throw new InvalidRequestError('start_time', 'must be an ISO-8601 time with a zone');
  if (!to) throw new InvalidRequestError('end_time', 'must be an ISO-8601 time with a zone');
  if (to.ms <= from.ms) throw new InvalidRequestError('end_time', 'must be after start_time');
  return { fromMs: from.ms, toMs: to.ms };
}
