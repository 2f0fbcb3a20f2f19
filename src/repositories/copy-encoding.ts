/**
 * Encoding of rows for `COPY ... FROM STDIN`, once per batch into buffers
 * that a retry (the staging merge after a collision) sends again unchanged.
 * The buffers are made as the COPY reads them (CopyData), so PostgreSQL
 * stores the first rows while the last are still being encoded.
 *
 * Binary format where every column has a type encoded here: no number or
 * date turned into text on the client and none parsed back on the server
 * (float and timestamp parsing is a large share of a text COPY's server
 * time; numeric is sent as the digits of String(x), as text would be).
 * Text format otherwise (e.g. a decimal string for a numeric column), which
 * any column type accepts.
 */
import { isoUs } from './instants';

/**
 * What a column's value is taken from: a JS number, a decimal string, text,
 * epoch ms or µs, or a list of strings (a text[] column).
 */
export type CopyValueKind =
  'number' | 'integer' | 'decimal' | 'text' | 'epochMs' | 'epochUs' | 'textArray';

export type CopyValue = number | string | readonly string[];

/** A column written by COPY: its value from a row and the group the row belongs to (its series). */
export interface CopyColumn<R, G> {
  readonly name: string;
  readonly kind: CopyValueKind;
  /** null writes NULL. */
  readonly value: (row: R, group: G) => CopyValue | null;
}

/** Rows of one group (e.g. the bars of one series). */
export interface CopyGroup<R, G> {
  readonly group: G;
  readonly rows: readonly R[];
}

/** The PostgreSQL types (pg_type.typname) written in binary, per value kind. */
const BINARY_TYPES: Readonly<Record<CopyValueKind, ReadonlySet<string>>> = {
  number: new Set(['float8', 'float4', 'numeric']),
  integer: new Set(['int4', 'int8', 'int2', 'float8', 'numeric']),
  decimal: new Set(['int8', 'numeric']),
  text: new Set(['text', 'varchar', 'bpchar']),
  epochMs: new Set(['timestamptz']),
  epochUs: new Set(['timestamptz']),
  textArray: new Set(['_text']),
};

/** ms from the Unix epoch to PostgreSQL's (2000-01-01). */
const PG_EPOCH_MS = 946_684_800_000;
const PG_EPOCH_US = PG_EPOCH_MS * 1000;
/** pg_type.oid of text: the element type a binary text[] names. */
const TEXT_OID = 25;
const TWO_32 = 4_294_967_296;
/**
 * Rows per chunk of COPY data (about 100 KB of bars): PostgreSQL starts on
 * a batch after its first chunk, while the rest is encoded.
 */
const CHUNK_ROWS = 1000;
const BINARY_HEADER = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');

type FieldWriter = (out: GrowingBuffer, value: CopyValue) => void;

interface BinaryField<R, G> {
  readonly value: CopyColumn<R, G>['value'];
  readonly write: FieldWriter;
}

/** A buffer written through a DataView (much cheaper per field than Buffer's write methods). */
class GrowingBuffer {
  buf: Buffer;
  view: DataView;
  at = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 1024));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  ensure(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + bytes));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
  }

  int16(v: number): void {
    this.ensure(2);
    this.view.setInt16(this.at, v);
    this.at += 2;
  }

  int32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.at, v);
    this.at += 4;
  }

  /** An int64 from a safe integer, as two 32-bit halves (no BigInt). */
  int64(v: number): void {
    this.ensure(8);
    const hi = Math.floor(v / TWO_32);
    this.view.setInt32(this.at, hi);
    this.view.setUint32(this.at + 4, v - hi * TWO_32);
    this.at += 8;
  }

  float64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.at, v);
    this.at += 8;
  }

  float32(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.at, v);
    this.at += 4;
  }

  bytes(v: Uint8Array): void {
    this.ensure(v.length);
    // i < v.length: never undefined (the ?? is for noUncheckedIndexedAccess).
    if (v.length <= 16) for (let i = 0; i < v.length; i++) this.buf[this.at + i] = v[i] ?? 0;
    else this.buf.set(v, this.at);
    this.at += v.length;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

const INTEGER_TEXT = /^-?\d+$/;

/** Throws rather than let a DataView wrap a value the column cannot hold. */
function integerIn(v: CopyValue, min: number, max: number, type: string): number {
  const n =
    typeof v === 'number' ? v : typeof v === 'string' && INTEGER_TEXT.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${String(v)} does not fit a column of type ${type}`);
  }
  return n;
}

const NUMERIC_NEGATIVE = 0x4000;
/** Scaled integers below this have at most 15 significant digits (see writeNumeric). */
const EXACT_SCALED_LIMIT = 1e15;
const NUMERIC_GROUPS: number[] = [];

/** numeric_send's layout: ndigits, weight, sign, dscale, then the base-10000 digits. */
function writeNumericGroups(
  out: GrowingBuffer,
  groups: readonly number[],
  count: number,
  weight: number,
  negative: boolean,
  dscale: number,
): void {
  // Trailing zero groups are not sent; leading ones were never pushed.
  let n = count;
  while (n > 0 && groups[n - 1] === 0) n--;
  out.int32(8 + n * 2);
  out.int16(n);
  out.int16(n === 0 ? 0 : weight);
  out.int16(negative && n > 0 ? NUMERIC_NEGATIVE : 0);
  out.int16(dscale);
  for (let i = 0; i < n; i++) out.int16(groups[i] ?? 0); // i < n <= groups.length
}

/**
 * A finite number as PostgreSQL's binary numeric: exactly the decimal of its
 * shortest round-trip text, String(x), which a text COPY would have sent
 * (dscale is its count of fraction digits, as numeric_in gives it).
 *
 * Fast path, prices and amounts with up to 4 decimals: when m = x * 10^4
 * rounded is below 10^15 and m / 10^4 is x again, the decimal m * 10^-4
 * (15 significant digits at most) is the value of String(x): two decimals
 * of 15 digits or fewer never round to the same double. Anything else goes
 * through the digits of String(x).
 */
function writeNumeric(out: GrowingBuffer, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`${value} is not a finite number`);
  const m = Math.round(value * 10_000);
  if (m / 10_000 === value && Math.abs(m) < EXACT_SCALED_LIMIT) {
    const abs = Math.abs(m);
    const fraction = abs % 10_000;
    const dscale =
      fraction === 0 ? 0 : fraction % 10 ? 4 : fraction % 100 ? 3 : fraction % 1000 ? 2 : 1;
    let integer = (abs - fraction) / 10_000;
    let count = 0;
    // Integer groups, least significant first, then reversed.
    while (integer > 0) {
      NUMERIC_GROUPS[count++] = integer % 10_000;
      integer = Math.floor(integer / 10_000);
    }
    const weight = count - 1;
    NUMERIC_GROUPS.length = count;
    NUMERIC_GROUPS.reverse();
    if (fraction !== 0) NUMERIC_GROUPS[count++] = fraction;
    writeNumericGroups(out, NUMERIC_GROUPS, count, weight, value < 0, dscale);
    return;
  }
  writeNumericText(out, String(value));
}

/** The digits of a number's decimal text ('-1.5e-7' and the like) as binary numeric. */
function writeNumericText(out: GrowingBuffer, decimal: string): void {
  let text = decimal;
  const negative = text.charCodeAt(0) === 45; // '-'
  if (negative) text = text.slice(1);
  let exponent = 0;
  const e = text.indexOf('e');
  if (e >= 0) {
    exponent = Number(text.slice(e + 1));
    text = text.slice(0, e);
  }
  const dot = text.indexOf('.');
  const digits = dot < 0 ? text : text.slice(0, dot) + text.slice(dot + 1);
  // How many of the digits stand before the decimal point (may be < 0 or > digits.length).
  const integerDigits = (dot < 0 ? text.length : dot) + exponent;
  const dscale = Math.max(0, digits.length - integerDigits);
  // Digit i has the power of ten p = integerDigits - 1 - i; its group is floor(p / 4).
  const top = Math.floor((integerDigits - 1) / 4);
  const groups: number[] = [];
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(i) - 48;
    if (d === 0) continue;
    const p = integerDigits - 1 - i;
    const g = Math.floor(p / 4);
    const index = top - g;
    while (groups.length <= index) groups.push(0);
    groups[index] = (groups[index] ?? 0) + d * 10 ** (p - g * 4);
  }
  let first = 0;
  while (first < groups.length && groups[first] === 0) first++;
  writeNumericGroups(
    out,
    groups.slice(first),
    groups.length - first,
    top - first,
    negative,
    dscale,
  );
}

function binaryWriter(kind: CopyValueKind, type: string): FieldWriter {
  switch (type) {
    case 'numeric':
      // A decimal string (volume) goes digit by digit: exact at any length.
      if (kind === 'decimal') return (out, v) => writeNumericText(out, v as string);
      return (out, v) => writeNumeric(out, v as number);
    case 'float8':
      return (out, v) => {
        out.int32(8);
        out.float64(v as number);
      };
    case 'float4':
      return (out, v) => {
        out.int32(4);
        out.float32(v as number);
      };
    case 'int2':
      return (out, v) => {
        out.int32(2);
        out.int16(integerIn(v, -32_768, 32_767, type));
      };
    case 'int4':
      return (out, v) => {
        out.int32(4);
        out.int32(integerIn(v, -2_147_483_648, 2_147_483_647, type));
      };
    case 'int8':
      return (out, value) => {
        const v = value as number | string;
        out.int32(8);
        // A decimal string beyond 2^53 stays exact through BigInt.
        if (typeof v === 'number' || v.length <= 15) {
          return out.int64(integerIn(v, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, type));
        }
        const big = BigInt(v);
        if (BigInt.asIntN(64, big) !== big) throw new RangeError(`${v} does not fit int8`);
        out.ensure(8);
        out.view.setBigInt64(out.at, big);
        out.at += 8;
      };
    case 'timestamptz':
      // Microseconds since 2000-01-01: exact for epoch µs, and for epoch ms times 1000.
      if (kind === 'epochUs') {
        return (out, v) => {
          out.int32(8);
          out.int64((v as number) - PG_EPOCH_US);
        };
      }
      return (out, v) => {
        out.int32(8);
        out.int64(((v as number) - PG_EPOCH_MS) * 1000);
      };
    case '_text':
      return (out, v) => writeTextArray(out, v as readonly string[]);
    default: {
      // text, varchar, bpchar: the UTF-8 bytes, with its length first.
      if (kind !== 'text') throw new Error(`no binary writer for ${kind} as ${type}`);
      // Most rows repeat the value of the row before (instrument, timeframe, source): encode it once.
      let last: string | undefined;
      let lastBytes = Buffer.alloc(4);
      return (out, v) => {
        if (v !== last) {
          const text = Buffer.from(v as string, 'utf8');
          lastBytes = Buffer.allocUnsafe(4 + text.length);
          lastBytes.writeInt32BE(text.length, 0);
          text.copy(lastBytes, 4);
          last = v as string;
        }
        out.bytes(lastBytes);
      };
    }
  }
}

/** array_send's layout of a one-dimensional text[] without NULLs ('{}' has no dimension). */
function writeTextArray(out: GrowingBuffer, values: readonly string[]): void {
  const elements = values.map((v) => Buffer.from(v, 'utf8'));
  const dimensions = elements.length === 0 ? 0 : 1;
  const size = 12 + dimensions * 8 + elements.reduce((n, e) => n + 4 + e.length, 0);
  out.int32(size);
  out.int32(dimensions);
  out.int32(0); // no NULL element
  out.int32(TEXT_OID);
  if (dimensions === 1) {
    out.int32(elements.length);
    out.int32(1); // lower bound
  }
  for (const element of elements) {
    out.int32(element.length);
    out.bytes(element);
  }
}

/** A text[] literal: every element quoted, its quotes and backslashes escaped. */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/** COPY text format escapes. */
export function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

function textOf(kind: CopyValueKind, v: CopyValue): string {
  if (kind === 'epochMs') return new Date(v as number).toISOString();
  if (kind === 'epochUs') return isoUs(v as number);
  if (kind === 'text') return copyText(v as string);
  if (kind === 'textArray') return copyText(arrayLiteral(v as readonly string[]));
  return String(v);
}

/**
 * Encodes rows of one table's write columns for COPY, in binary when
 * `columnTypes` (typname by column) allows it for every column, in text
 * otherwise.
 */
export class CopyEncoder<R, G> {
  readonly format: 'binary' | 'text';
  /** Every column with its binary writer; undefined when one has no binary encoding here. */
  private readonly binaryFields: BinaryField<R, G>[] | undefined;

  constructor(
    private readonly columns: readonly CopyColumn<R, G>[],
    columnTypes: ReadonlyMap<string, string>,
  ) {
    const fields: BinaryField<R, G>[] = [];
    for (const { name, kind, value } of columns) {
      const type = columnTypes.get(name);
      if (type === undefined || !BINARY_TYPES[kind].has(type)) break;
      fields.push({ value, write: binaryWriter(kind, type) });
    }
    this.binaryFields = fields.length === columns.length ? fields : undefined;
    this.format = this.binaryFields ? 'binary' : 'text';
  }

  /** `COPY <table> (<columns>) FROM STDIN` in this encoder's format; `table` from a whitelist. */
  statement(table: string): string {
    const names = this.columns.map((c) => `"${c.name}"`).join(', ');
    return `COPY ${table} (${names}) FROM STDIN${this.format === 'binary' ? ' (FORMAT binary)' : ''}`;
  }

  /**
   * The COPY data of all `rows`, encoded as it is read (and kept, to be
   * sent again). A value a column cannot hold throws when its chunk is
   * read: the COPY reading it is then aborted and stores nothing.
   */
  encode(groups: readonly CopyGroup<R, G>[]): CopyData {
    return new CopyData(
      this.binaryFields ? this.binaryChunks(groups, this.binaryFields) : this.textChunks(groups),
    );
  }

  private *binaryChunks(
    groups: readonly CopyGroup<R, G>[],
    fields: BinaryField<R, G>[],
  ): Generator<Buffer> {
    const n = fields.length;
    const chunkBytes = CHUNK_ROWS * (2 + n * 12);
    let out = new GrowingBuffer(BINARY_HEADER.length + chunkBytes);
    out.bytes(BINARY_HEADER);
    let rowsInChunk = 0;
    for (const { group, rows } of groups) {
      for (const row of rows) {
        out.int16(n);
        for (const { value, write } of fields) {
          const v = value(row, group);
          if (v === null) out.int32(-1);
          else write(out, v);
        }
        if (++rowsInChunk === CHUNK_ROWS) {
          yield out.result();
          out = new GrowingBuffer(chunkBytes);
          rowsInChunk = 0;
        }
      }
    }
    out.int16(-1);
    yield out.result();
  }

  private *textChunks(groups: readonly CopyGroup<R, G>[]): Generator<Buffer> {
    let lines: string[] = [];
    for (const { group, rows } of groups) {
      for (const row of rows) {
        let line = '';
        let separator = '';
        for (const { kind, value } of this.columns) {
          const v = value(row, group);
          line += separator + (v === null ? '\\N' : textOf(kind, v));
          separator = '\t';
        }
        lines.push(line + '\n');
        if (lines.length === CHUNK_ROWS) {
          yield Buffer.from(lines.join(''));
          lines = [];
        }
      }
    }
    if (lines.length) yield Buffer.from(lines.join(''));
  }
}

/**
 * COPY data made chunk by chunk as it is read, each chunk kept: a second
 * read (the staging merge after a collision) gets the same buffers, with
 * the chunks the first read did not reach made then. An encoding error is
 * thrown again by every later read, never taken for the end of the data.
 */
export class CopyData implements Iterable<Buffer> {
  private readonly made: Buffer[] = [];
  private pending: Iterator<Buffer> | undefined;
  private failure: { readonly error: unknown } | undefined;

  constructor(chunks: Iterator<Buffer>) {
    this.pending = chunks;
  }

  *[Symbol.iterator](): Iterator<Buffer> {
    for (let i = 0; ; i++) {
      if (i === this.made.length && !this.makeNext()) return;
      yield this.made[i]!;
    }
  }

  /** Makes one more chunk; false when there is none. */
  private makeNext(): boolean {
    if (this.failure) throw this.failure.error;
    if (!this.pending) return false;
    let next: IteratorResult<Buffer>;
    try {
      next = this.pending.next();
    } catch (error) {
      this.failure = { error };
      this.pending = undefined;
      throw error;
    }
    if (next.done) {
      this.pending = undefined;
      return false;
    }
    this.made.push(next.value);
    return true;
  }
}
