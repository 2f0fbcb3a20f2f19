import {
  DataType,
  INSTRUMENT_ID_PATTERN,
  INSTRUMENT_ID_RULE,
  isTickDataType,
  TickDataType,
} from '../common/market-data.types';
import { parseIsoInstant } from '../common/time';
import { envelopePathOf, EVENT_KEYS, MAX_EVENT_ID_LENGTH, TIMEFRAMES } from './market-data-event';

/**
 * A `normalized_market_data` event carrying a trade or a quote instead of a
 * bar: `market_data.data_type` says which, and the values sit in
 * `trade_data` ({price, size, trade_id?, conditions?}) or `quote_data`
 * ({bid, ask, bid_size, ask_size}) where a bar has `ohlcv_data`:
 *
 *   {event_id, timestamp, market_data: {instrument_id, data_type: "TRADE",
 *    timestamp, trade_data: {...}, quality_score?, source_attribution?}}
 *
 * The point then goes through the same rules as a REST point.
 */
export interface TickEvent {
  readonly instrumentId: string;
  readonly dataType: DataType.TRADE | DataType.QUOTE;
  /** A TradePoint or QuotePoint as a REST request carries it. */
  readonly point: Record<string, unknown>;
}

export type ParsedTickEvent =
  | { readonly ok: true; readonly event: TickEvent }
  | { readonly ok: false; readonly reason: string };

const MARKET_DATA_KEYS = new Set([
  'instrument_id',
  'data_type',
  'timeframe',
  'timestamp',
  'trade_data',
  'quote_data',
  'quality_score',
  'source_attribution',
]);

/** Where a point field came from in the event, to name it in a dead-letter reason. */
export function tickEventPathOf(dataType: TickEvent['dataType'], pointField: string): string {
  const envelope = envelopePathOf(pointField);
  if (envelope !== undefined) return envelope;
  return `market_data.${dataType === DataType.QUOTE ? 'quote_data' : 'trade_data'}.${pointField}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The event's data_type when it names a trade or a quote; undefined for a bar (or no object). */
export function tickDataTypeOf(value: unknown): TickDataType | undefined {
  if (!isObject(value) || !isObject(value.market_data)) return undefined;
  const dataType = value.market_data.data_type;
  return isTickDataType(dataType) ? dataType : undefined;
}

/** Checks the envelope of a trade or quote event and maps it to a point. */
export function parseTickEvent(value: unknown, dataType: TickDataType): ParsedTickEvent {
  const fail = (path: string, reason: string): ParsedTickEvent => ({
    ok: false,
    reason: `${path} ${reason}`,
  });
  const event = value as Record<string, unknown>;
  for (const key in event) if (!EVENT_KEYS.has(key)) return fail(key, 'is not an accepted field');
  const eventId = event.event_id;
  if (
    typeof eventId !== 'string' ||
    eventId.length === 0 ||
    eventId.length > MAX_EVENT_ID_LENGTH ||
    /[\p{Cc}]/u.test(eventId)
  ) {
    return fail('event_id', `must be a string of 1-${MAX_EVENT_ID_LENGTH} printable characters`);
  }
  if (!parseIsoInstant(event.timestamp)) {
    return fail('timestamp', 'must be an ISO-8601 time with a zone, e.g. 2025-06-21T10:00:00Z');
  }
  const data = event.market_data as Record<string, unknown>;
  for (const key in data) {
    if (!MARKET_DATA_KEYS.has(key)) return fail(`market_data.${key}`, 'is not an accepted field');
  }
  const instrumentId = data.instrument_id;
  if (typeof instrumentId !== 'string' || !INSTRUMENT_ID_PATTERN.test(instrumentId)) {
    return fail('market_data.instrument_id', `must be ${INSTRUMENT_ID_RULE}`);
  }
  // Not needed; one sent is checked, then ignored (as over REST).
  if (data.timeframe !== undefined && !TIMEFRAMES.has(data.timeframe as string)) {
    return fail('market_data.timeframe', `must be one of ${[...TIMEFRAMES].join(', ')}`);
  }
  const quote = dataType === DataType.QUOTE;
  const valuesKey = quote ? 'quote_data' : 'trade_data';
  const otherKey = quote ? 'trade_data' : 'quote_data';
  if (data[otherKey] !== undefined) {
    return fail(`market_data.${otherKey}`, `does not go with data_type ${dataType}`);
  }
  const values = data[valuesKey];
  if (!isObject(values)) return fail(`market_data.${valuesKey}`, 'must be a JSON object');
  if ('timestamp' in values || 'source' in values || 'quality_score' in values) {
    return fail(`market_data.${valuesKey}`, 'takes timestamp and source from market_data');
  }
  const point: Record<string, unknown> = { ...values, timestamp: data.timestamp };
  if (data.source_attribution !== undefined) point.source = data.source_attribution;
  if (!quote && data.quality_score !== undefined) point.quality_score = data.quality_score;
  if (quote && data.quality_score !== undefined) {
    return fail('market_data.quality_score', 'is not kept for quotes');
  }
  return {
    ok: true,
    event: { instrumentId, dataType: quote ? DataType.QUOTE : DataType.TRADE, point },
  };
}
