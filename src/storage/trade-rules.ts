import { DERIVED_KEY_PREFIX, TradeRow } from '../repositories/trades.repository';
import {
  checkPoints,
  CheckedPoints,
  finite,
  nonNegative,
  qualityScore,
  source,
  timestampMicros,
} from './tick-point-rules';
import { MAX_REPORTED_ERRORS, pointObject, reject, required, RetentionFloor } from './point-check';

const KNOWN = new Set([
  'timestamp',
  'price',
  'size',
  'trade_id',
  'conditions',
  'quality_score',
  'source',
]);
const REQUIRED = ['timestamp', 'price', 'size'];
const MAX_TRADE_ID_LENGTH = 64;
const MAX_CONDITIONS = 16;
/** A condition code: 1-16 characters, none of them space, quote, backslash, comma, brace or control. */
const CONDITION_PATTERN = /^[^\s"\\,{}\p{Cc}]{1,16}$/u;

function tradeId(point: Record<string, unknown>): string | null {
  const v = point.trade_id;
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      reject('trade_id', 'as a number must be a whole number from 0 to 9007199254740991');
    }
    return String(v);
  }
  if (
    typeof v !== 'string' ||
    v.length === 0 ||
    v.length > MAX_TRADE_ID_LENGTH ||
    /[\p{Cc}]/u.test(v) ||
    v.startsWith(DERIVED_KEY_PREFIX)
  ) {
    reject(
      'trade_id',
      `must be a string of 1-${MAX_TRADE_ID_LENGTH} printable characters not starting with "${DERIVED_KEY_PREFIX}", or a whole number`,
    );
  }
  return v;
}

function conditions(point: Record<string, unknown>): string[] | null {
  const v = point.conditions;
  if (v === undefined || v === null) return null;
  if (
    !Array.isArray(v) ||
    v.length > MAX_CONDITIONS ||
    !v.every((c) => typeof c === 'string' && CONDITION_PATTERN.test(c))
  ) {
    reject(
      'conditions',
      `must be an array of at most ${MAX_CONDITIONS} codes of 1-16 characters (no space, quote, backslash, comma or brace)`,
    );
  }
  return v as string[];
}

/** A trade, its key settled by `keyOf` from its trade_id (null when it has none). */
function toTrade(raw: unknown, keyOf: (id: string | null, row: TradeRow) => string): TradeRow {
  const point = pointObject(raw, KNOWN);
  required(point, REQUIRED);
  const row = {
    timestampUs: timestampMicros(point),
    key: '',
    price: finite(point, 'price'),
    size: nonNegative(point, 'size'),
    conditions: conditions(point),
    qualityScore: qualityScore(point),
    source: source(point),
  };
  row.key = keyOf(tradeId(point), row);
  return row;
}

/**
 * Checks the points of a TRADE (or TICK) request and settles each trade's
 * key. With a trade_id the key is the trade_id, and a later point with the
 * same timestamp and trade_id replaces an earlier one. Without one the key
 * is derived from the print: "~{price}:{size}:{n}", n counting the identical
 * prints (same timestamp, price and size, no trade_id) before it in the
 * request. So identical prints of one request stay distinct trades, and a
 * replayed request writes the same keys again (idempotent).
 */
export function checkTrades(
  points: readonly unknown[],
  maxErrors = MAX_REPORTED_ERRORS,
  floor?: RetentionFloor,
): CheckedPoints<TradeRow> {
  const occurrences = new Map<string, number>();
  const keyOf = (id: string | null, trade: TradeRow): string => {
    if (id !== null) return id;
    const print = `${DERIVED_KEY_PREFIX}${trade.price}:${trade.size}:`;
    const seen = `${trade.timestampUs}|${print}`;
    const n = occurrences.get(seen) ?? 0;
    occurrences.set(seen, n + 1);
    return `${print}${n}`;
  };
  return checkPoints(
    points,
    (raw) => toTrade(raw, keyOf),
    (row) => row.key,
    maxErrors,
    floor,
  );
}
