import { QuoteRow } from '../repositories/quotes.repository';
import {
  checkPoints,
  CheckedPoints,
  finite,
  nonNegative,
  source,
  timestampMicros,
} from './tick-point-rules';
import { MAX_REPORTED_ERRORS, pointObject, reject, required, RetentionFloor } from './point-check';

const KNOWN = new Set(['timestamp', 'bid', 'ask', 'bid_size', 'ask_size', 'source']);
const REQUIRED = ['timestamp', 'bid', 'ask', 'bid_size', 'ask_size'];

function toQuote(raw: unknown): QuoteRow {
  const point = pointObject(raw, KNOWN);
  required(point, REQUIRED);
  const timestampUs = timestampMicros(point);
  const bid = finite(point, 'bid');
  const ask = finite(point, 'ask');
  if (bid > ask) reject('bid', 'must not exceed ask');
  return {
    timestampUs,
    bid,
    ask,
    bidSize: nonNegative(point, 'bid_size'),
    askSize: nonNegative(point, 'ask_size'),
    source: source(point) ?? '',
  };
}

/**
 * Checks the points of a QUOTE request: bid <= ask (a locked market, bid =
 * ask, is allowed), sizes >= 0. One quote per timestamp and source: a later
 * point with the same ones replaces an earlier one.
 */
export function checkQuotes(
  points: readonly unknown[],
  maxErrors = MAX_REPORTED_ERRORS,
  floor?: RetentionFloor,
): CheckedPoints<QuoteRow> {
  return checkPoints(points, toQuote, (row) => row.source, maxErrors, floor);
}
