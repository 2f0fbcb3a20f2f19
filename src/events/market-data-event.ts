import {
  INSTRUMENT_ID_PATTERN,
  INSTRUMENT_ID_RULE,
  SeriesKey,
  TimeFrame,
} from '../common/market-data.types';
import { carryStreamTime } from '../common/stream-time';
import { parseIsoInstant } from '../common/time';
import { isPrintableUpTo } from '../storage/bar-rules';

/**
 * The `normalized_market_data` event of the spec:
 * `{event_id, timestamp, market_data: {instrument_id, timeframe, timestamp,
 * ohlcv_data: {open, high, low, close, volume, dollar_volume?, trade_count?},
 * quality_score, source_attribution}}`.
 *
 * Only the envelope is checked here; the bar itself becomes a MarketDataPoint
 * and goes through the same bar rules as a REST point (bar-rules.ts).
 */
export interface MarketDataEvent {
  readonly eventId: string;
  readonly series: SeriesKey;
  /** A MarketDataPoint as a REST request carries it, for checkBars. */
  readonly point: Record<string, unknown>;
}

export type ParsedEvent =
  | { readonly ok: true; readonly event: MarketDataEvent }
  | { readonly ok: false; readonly reason: string };

/** The envelope of every event, bar, trade or quote. */
export const EVENT_KEYS = new Set(['event_id', 'timestamp', 'market_data']);
const MARKET_DATA_KEYS = new Set([
  'instrument_id',
  'timeframe',
  'timestamp',
  'ohlcv_data',
  'quality_score',
  'source_attribution',
]);
const OHLCV_KEYS = ['open', 'high', 'low', 'close', 'volume', 'dollar_volume', 'trade_count'];
const OHLCV_KEY_SET = new Set(OHLCV_KEYS);
export const TIMEFRAMES = new Set<string>(Object.values(TimeFrame));
export const MAX_EVENT_ID_LENGTH = 200;

/** Where a MarketDataPoint field came from in the event, to name it in a dead-letter reason. */
const EVENT_PATH_OF_POINT_FIELD: Readonly<Record<string, string>> = {
  timestamp: 'market_data.timestamp',
  quality_score: 'market_data.quality_score',
  source: 'market_data.source_attribution',
  data_point: 'market_data',
};

/** The event path of a point field every kind takes from market_data itself; undefined for a value field. */
export function envelopePathOf(pointField: string): string | undefined {
  return EVENT_PATH_OF_POINT_FIELD[pointField];
}

export function eventPathOf(pointField: string): string {
  return envelopePathOf(pointField) ?? `market_data.ohlcv_data.${pointField}`;
}

class EnvelopeRejected extends Error {}

function reject(path: string, reason: string): never {
  throw new EnvelopeRejected(`${path} ${reason}`);
}

function objectAt(
  value: unknown,
  path: string,
  keys: ReadonlySet<string>,
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    reject(path, 'must be a JSON object');
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (!keys.has(key))
      reject(path === 'event' ? key : `${path}.${key}`, 'is not an accepted field');
  }
  return record;
}

/** Checks the envelope of one decoded event and maps it to a series and a MarketDataPoint. */
export function parseMarketDataEvent(value: unknown): ParsedEvent {
  try {
    const event = objectAt(value, 'event', EVENT_KEYS);
    const eventId = event.event_id;
    if (
      typeof eventId !== 'string' ||
      eventId.length === 0 ||
      eventId.length > MAX_EVENT_ID_LENGTH ||
      !isPrintableUpTo(eventId, MAX_EVENT_ID_LENGTH)
    ) {
      reject('event_id', `must be a string of 1-${MAX_EVENT_ID_LENGTH} printable characters`);
    }
    if (!parseIsoInstant(event.timestamp)) {
      reject('timestamp', 'must be an ISO-8601 time with a zone, e.g. 2025-06-21T10:00:00Z');
    }
    const data = objectAt(event.market_data, 'market_data', MARKET_DATA_KEYS);
    const instrumentId = data.instrument_id;
    if (typeof instrumentId !== 'string' || !INSTRUMENT_ID_PATTERN.test(instrumentId)) {
      reject('market_data.instrument_id', `must be ${INSTRUMENT_ID_RULE}`);
    }
    const timeframe = data.timeframe;
    if (typeof timeframe !== 'string' || !TIMEFRAMES.has(timeframe)) {
      reject('market_data.timeframe', `must be one of ${[...TIMEFRAMES].join(', ')}`);
    }
    const ohlcv = objectAt(data.ohlcv_data, 'market_data.ohlcv_data', OHLCV_KEY_SET);

    // One shape for every point (an absent field is undefined, which the bar rules treat alike).
    const point: Record<string, unknown> = {
      timestamp: data.timestamp,
      open: ohlcv.open,
      high: ohlcv.high,
      low: ohlcv.low,
      close: ohlcv.close,
      volume: ohlcv.volume,
      dollar_volume: ohlcv.dollar_volume,
      trade_count: ohlcv.trade_count,
      quality_score: data.quality_score,
      source: data.source_attribution,
    };
    carryStreamTime(value, point);
    return {
      ok: true,
      event: {
        eventId: eventId,
        series: { instrumentId: instrumentId, timeframe: timeframe as TimeFrame },
        point,
      },
    };
  } catch (error) {
    if (error instanceof EnvelopeRejected) return { ok: false, reason: error.message };
    throw error;
  }
}

/** An event of a batch that can never be stored, and why (it goes to the dead-letter subject). */
export interface EventRejection {
  /** Its position in the batch. */
  readonly index: number;
  readonly reason: string;
}
