/**
 * The columns of a CSV or Arrow answer: one per field of the JSON points,
 * in the same order, with the kind of value that field holds. Values come
 * from the JSON points as the service builds them (DESIGN 3), which are
 * exact: a volume is a number only when JSON.parse reads it exactly, else
 * a decimal string.
 */
export type ColumnKind =
  /** ISO-8601 text in JSON (ms for bars, µs for trades and quotes); Arrow timestamp[us, UTC]. */
  | 'timestamp'
  | 'float'
  /** A bar's volume: exact decimal; Arrow decimal128(38, 18). */
  | 'decimal'
  | 'int'
  | 'bool'
  | 'text'
  /** A trade's conditions: Arrow list<utf8>; CSV the JSON array text. */
  | 'textList';

export interface Column {
  readonly name: string;
  readonly kind: ColumnKind;
}

const KINDS: Readonly<Record<string, ColumnKind>> = {
  instrument_id: 'text',
  timestamp: 'timestamp',
  open: 'float',
  high: 'float',
  low: 'float',
  close: 'float',
  volume: 'decimal',
  dollar_volume: 'float',
  trade_count: 'int',
  filled: 'bool',
  price: 'float',
  size: 'float',
  trade_id: 'text',
  conditions: 'textList',
  source: 'text',
  prevailing_bid: 'float',
  prevailing_ask: 'float',
  bid: 'float',
  ask: 'float',
  bid_size: 'float',
  ask_size: 'float',
};

/** The columns of `fields` (the answer's fields, in order). */
export function columnsOf(fields: readonly string[]): Column[] {
  return fields.map((name) => {
    const kind = KINDS[name];
    if (kind === undefined) throw new Error(`No column kind for field ${name}`);
    return { name, kind };
  });
}

/** A point of an answer as JSON.parse reads it. */
export type Point = Readonly<Record<string, unknown>>;

/**
 * A volume's decimal text: a decimal string as it is; a number (exact by
 * DESIGN 3: an integer up to 2^53-1 or at most 15 significant digits) in
 * positional notation, where JavaScript would write 1e-7.
 */
export function decimalText(value: number | string): string {
  if (typeof value === 'string') return value;
  const text = String(value);
  const e = text.indexOf('e');
  if (e < 0) return text;
  const negative = text.startsWith('-');
  const mantissa = text.slice(negative ? 1 : 0, e);
  const exponent = Number(text.slice(e + 1));
  const point = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const intDigits = (point < 0 ? mantissa.length : point) + exponent;
  let out: string;
  if (intDigits <= 0) out = `0.${'0'.repeat(-intDigits)}${digits}`;
  else if (intDigits >= digits.length) out = digits + '0'.repeat(intDigits - digits.length);
  else out = `${digits.slice(0, intDigits)}.${digits.slice(intDigits)}`;
  return (negative ? '-' : '') + out;
}

/**
 * Microseconds since the epoch of an ISO-8601 instant of DESIGN 3
 * (`2025-06-21T14:30:00.123456Z` or with milliseconds), exact as a bigint.
 */
export function isoToMicros(text: string): bigint {
  const dot = text.indexOf('.', 19);
  const seconds = Date.parse(`${text.slice(0, 19)}Z`);
  const fraction = dot < 0 ? '' : text.slice(dot + 1, text.length - 1);
  return BigInt(seconds) * 1000n + BigInt(fraction.padEnd(6, '0').slice(0, 6));
}
