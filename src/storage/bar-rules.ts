import { TimeFrame, TIMEFRAME_MS } from '../common/market-data.types';
import { isSessionOpening, sessionHeader, TradingSession } from '../common/trading-session';
import { streamTimeOf } from '../common/stream-time';
import {
  isWithinAcceptedRange,
  MAX_TIMESTAMP_MS,
  MIN_TIMESTAMP_MS,
  parseIsoInstant,
} from '../common/time';
import { BarRow } from '../repositories/market-data.repository';
import {
  checkRetention,
  collectPoints,
  MAX_REPORTED_ERRORS,
  PointError,
  pointObject,
  reject,
  required,
  RetentionFloor,
} from './point-check';

const MAX_VOLUME = '9223372036854775807'; // 2^63-1
const MAX_INT32 = 2_147_483_647;

const REQUIRED = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;
const KNOWN = new Set<string>([
  ...REQUIRED,
  'dollar_volume',
  'trade_count',
  'quality_score',
  'source',
]);

/**
 * A string of at most `maxCodePoints` characters, none a control character
 * (Unicode Cc: U+0000-U+001F, U+007F-U+009F). A loop, not a spread and a
 * regex: it runs once per stored point.
 */
export function isPrintableUpTo(value: string, maxCodePoints: number): boolean {
  // UTF-16 length bounds the code points from above: count only when it could matter.
  if (value.length > maxCodePoints && [...value].length > maxCodePoints) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return false;
    // A lone surrogate is not text: the database would store U+FFFD instead.
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = value.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** -0 is stored and answered as 0. */
function noNegativeZero(v: number): number {
  return v === 0 ? 0 : v;
}

/** Integer digits of the largest volume: 2^63-1, bigint's maximum, so every stored bigint volume fits. */
const MAX_VOLUME_INTEGER_DIGITS = 19;
/** Fraction digits kept at most: enough for crypto (satoshis: 8, wei-scaled tokens: 18). */
export const MAX_VOLUME_FRACTION_DIGITS = 18;
const VOLUME_RULE =
  'must be a number >= 0 (a JSON number, or a plain decimal string such as "0.00012345" or "12345678901234567890")';

/**
 * A decimal text ('1.5e-7', '0012.50') as its canonical plain form ('0.00000015', '12.5'):
 * no exponent, no leading zeros, no trailing fraction zeros. Exact: only digits move.
 */
function plainDecimal(text: string): string {
  let mantissa = text;
  let exponent = 0;
  const e = text.search(/e/i);
  if (e >= 0) {
    mantissa = text.slice(0, e);
    exponent = Number(text.slice(e + 1));
  }
  const dot = mantissa.indexOf('.');
  let digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  let point = (dot < 0 ? mantissa.length : dot) + exponent;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  const integer = digits.slice(0, point).replace(/^0+/, '') || '0';
  const fraction = digits.slice(point).replace(/0+$/, '');
  return fraction ? `${integer}.${fraction}` : integer;
}

/**
 * Volume is kept exact (DESIGN 3): a JSON number (a fraction is taken by its
 * shortest round-trip decimal, String(x), as prices are) or a plain decimal
 * string, up to 2^63-1 with at most 18 fraction digits; refused, never
 * rounded, beyond. Returned in canonical decimal form.
 */
export function parseVolume(v: unknown): string {
  let text: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) reject('volume', VOLUME_RULE);
    if (Number.isSafeInteger(v)) return String(v); // the usual case; String(-0) is "0"
    // JSON.parse already rounded an integer above 2^53-1: its digits are not the ones sent.
    if (Number.isInteger(v)) {
      reject('volume', 'above 9007199254740991 must be sent as a decimal string to stay exact');
    }
    text = plainDecimal(String(v));
  } else if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)) {
    text = plainDecimal(v);
  } else {
    return reject('volume', VOLUME_RULE);
  }
  const dot = text.indexOf('.');
  const integer = dot < 0 ? text : text.slice(0, dot);
  // Canonical digits of equal length compare as text.
  if (
    integer.length > MAX_VOLUME_INTEGER_DIGITS ||
    (integer.length === MAX_VOLUME_INTEGER_DIGITS &&
      (integer > MAX_VOLUME || (integer === MAX_VOLUME && dot >= 0)))
  ) {
    reject('volume', 'must not exceed 9223372036854775807');
  }
  if (dot >= 0 && text.length - dot - 1 > MAX_VOLUME_FRACTION_DIGITS) {
    reject(
      'volume',
      `must have at most ${MAX_VOLUME_FRACTION_DIGITS} digits after the decimal point`,
    );
  }
  return text;
}

function price(point: Record<string, unknown>, field: string): number {
  const v = point[field];
  if (!isFiniteNumber(v)) reject(field, 'must be a finite number');
  return noNegativeZero(v);
}

function optionalNumber(point: Record<string, unknown>, field: string): number | null {
  const v = point[field];
  if (v === undefined || v === null) return null;
  if (!isFiniteNumber(v)) reject(field, 'must be a finite number');
  return noNegativeZero(v);
}

/**
 * Checks one OHLCV point against the rules of DESIGN 3 and converts it to a
 * row; throws PointRejected naming the first field at fault.
 */
function toBarRow(raw: unknown, timeframe: TimeFrame, session?: TradingSession): BarRow {
  const point = pointObject(raw, KNOWN, 'is not a MarketDataPoint field');
  required(point, REQUIRED);

  const time = parseIsoInstant(point.timestamp);
  if (!time) reject('timestamp', 'must be an ISO-8601 time with a zone, e.g. 2025-06-21T10:00:00Z');
  if (!isWithinAcceptedRange(time.ms)) {
    reject(
      'timestamp',
      `must be from ${new Date(MIN_TIMESTAMP_MS).toISOString()} to before ${new Date(MAX_TIMESTAMP_MS).toISOString()}`,
    );
  }
  if (time.subMillisecond || time.ms % TIMEFRAME_MS[timeframe] !== 0) {
    // A daily bar of an instrument that declares a session may open with it (docs/research-reads.md).
    if (session === undefined) {
      reject('timestamp', `must start a ${timeframe} bar (aligned to its length in UTC)`);
    }
    if (time.subMillisecond || !isSessionOpening(time.ms, session)) {
      reject(
        'timestamp',
        `must start a ${timeframe} bar: 00:00 UTC, or the opening of the instrument's session (${sessionHeader(session)})`,
      );
    }
  }

  const open = price(point, 'open');
  const high = price(point, 'high');
  const low = price(point, 'low');
  const close = price(point, 'close');
  if (low > high) reject('low', 'must not exceed high');
  if (low > Math.min(open, close)) reject('low', 'must not exceed open or close');
  if (high < Math.max(open, close)) reject('high', 'must not be below open or close');

  const volume = parseVolume(point.volume);
  // Negative like the prices it comes from (spreads, some futures), so only finiteness is checked.
  const dollarVolume = optionalNumber(point, 'dollar_volume');

  const tradeCount = point.trade_count ?? null;
  if (
    tradeCount !== null &&
    (!Number.isInteger(tradeCount) ||
      (tradeCount as number) < 0 ||
      (tradeCount as number) > MAX_INT32)
  ) {
    reject('trade_count', `must be a whole number from 0 to ${MAX_INT32}`);
  }

  const quality = optionalNumber(point, 'quality_score') ?? 1;
  if (quality < 0 || quality > 1) reject('quality_score', 'must be between 0 and 1');

  const source = point.source ?? null;
  if (source !== null && (typeof source !== 'string' || !isPrintableUpTo(source, 50))) {
    reject('source', 'must be a string of at most 50 printable characters');
  }

  return {
    timestampMs: time.ms,
    open,
    high,
    low,
    close,
    volume,
    dollarVolume,
    tradeCount: tradeCount === null ? null : noNegativeZero(tradeCount as number),
    qualityScore: quality,
    source: source,
    streamTimeUs: streamTimeOf(raw),
  };
}

export interface CheckedBars {
  /** One row per timestamp: the last valid occurrence in the request wins. */
  readonly rows: BarRow[];
  readonly failedCount: number;
  /** Valid points replaced by a later point with the same timestamp. */
  readonly supersededCount: number;
  readonly errors: PointError[];
}

/** `maxErrors`: how many errors to list (event batches list them all, to answer each event). */
export function checkBars(
  points: readonly unknown[],
  timeframe: TimeFrame,
  maxErrors = MAX_REPORTED_ERRORS,
  floor?: RetentionFloor,
  session?: TradingSession,
): CheckedBars {
  const { valid, errors, failedCount, ascending } = collectPoints(
    points,
    (point) => toBarRow(point, timeframe, session),
    (row) => row.timestampMs,
    maxErrors,
    floor && ((row) => checkRetention(floor, row.timestampMs)),
  );
  // Strictly ascending input (the usual case) holds no duplicate to resolve.
  const rows = ascending ? valid : lastOccurrences(valid);
  return { rows, failedCount, supersededCount: valid.length - rows.length, errors };
}

function lastOccurrences(rows: BarRow[]): BarRow[] {
  const byTimestamp = new Map<number, BarRow>();
  for (const row of rows) {
    const kept = byTimestamp.get(row.timestampMs);
    if (!kept || replaces(row, kept)) byTimestamp.set(row.timestampMs, row);
  }
  return [...byTimestamp.values()];
}

/**
 * The rule the upsert applies to a stored bar (BAR_TABLE.replaceOnlyIf),
 * applied within a batch: an event the stream stored earlier (a redelivery
 * queued behind a newer event) does not replace a later one; otherwise the
 * last occurrence wins.
 */
function replaces(row: BarRow, kept: BarRow): boolean {
  return (
    row.streamTimeUs === null || kept.streamTimeUs === null || row.streamTimeUs >= kept.streamTimeUs
  );
}
