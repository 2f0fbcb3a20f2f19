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
 * Some rows of an answer, read a column at a time: from JSON points, or
 * from a page read as columns (timestamps then as µs since the epoch).
 */
export interface RowValues {
  readonly length: number;
  valuesOf(name: string): readonly unknown[];
}

/** Rows of `points`; `constant` columns (instrument_id) are taken from it instead. */
export function pointRows(points: readonly Point[], constant: Point = {}): RowValues {
  return {
    length: points.length,
    valuesOf: (name) =>
      name in constant
        ? new Array<unknown>(points.length).fill(constant[name])
        : points.map((p) => p[name]),
  };
}

/** Rows [from, to) of columns; `constant` columns are taken from it instead. */
export function columnRows(
  columns: Readonly<Record<string, readonly unknown[]>>,
  from: number,
  to: number,
  constant: Point = {},
): RowValues {
  return {
    length: to - from,
    valuesOf: (name) =>
      name in constant
        ? new Array<unknown>(to - from).fill(constant[name])
        : (columns[name] ?? []).slice(from, to),
  };
}

/** DESIGN 3's text of µs since the epoch: milliseconds, or microseconds where they are not 0. */
export function isoOfMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const rest = micros - ms * 1000;
  const iso = new Date(ms).toISOString();
  return rest === 0 ? iso : `${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z`;
}

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

/** The number of the `count` ASCII digits of `text` from `at`; NaN where one is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Microseconds since the epoch of an ISO-8601 instant of DESIGN 3
 * (`2025-06-21T14:30:00.123456Z` or with milliseconds), exact as a number
 * (safe to 2^53 us, past the year 2200). Read digit by digit: an Arrow
 * answer converts every row's timestamp, and slicing and Date.parse of each
 * cost a third of its encoding.
 */
export function isoToMicrosNumber(text: string): number {
  const ms = Date.UTC(
    digitsAt(text, 0, 4),
    digitsAt(text, 5, 2) - 1,
    digitsAt(text, 8, 2),
    digitsAt(text, 11, 2),
    digitsAt(text, 14, 2),
    digitsAt(text, 17, 2),
  );
  let micros = 0;
  let scale = 100_000;
  for (let i = 20; i < text.length - 1 && scale >= 1; i++, scale /= 10) {
    micros += digitsAt(text, i, 1) * scale;
  }
  const value = ms * 1000 + micros;
  const shaped = text.length >= 20 && text[text.length - 1] === 'Z';
  if (!shaped || !Number.isSafeInteger(value)) {
    throw new Error(`not an ISO-8601 instant of DESIGN 3: ${text}`);
  }
  return value;
}

/** isoToMicrosNumber as a bigint. */
export function isoToMicros(text: string): bigint {
  return BigInt(isoToMicrosNumber(text));
}
