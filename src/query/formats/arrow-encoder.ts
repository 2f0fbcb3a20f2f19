import {
  Bool,
  Data,
  DataType,
  Decimal,
  Field,
  Float64,
  Int64,
  List,
  makeBuilder,
  makeData,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  TimestampMicrosecond,
  Utf8,
} from 'apache-arrow';
import { Column, ColumnKind, decimalText, isoToMicrosNumber, RowValues } from './columns';

/** Volume: 38 digits, 18 after the point (what a stored volume may have, DESIGN 3). */
export const VOLUME_SCALE = 18;
const VOLUME_PRECISION = 38;
const DECIMAL_LIMIT = 10n ** BigInt(VOLUME_PRECISION);
const TWO_128 = 1n << 128n;

function arrowType(kind: ColumnKind): DataType {
  switch (kind) {
    case 'timestamp':
      return new TimestampMicrosecond('UTC');
    case 'float':
      return new Float64();
    case 'decimal':
      return new Decimal(VOLUME_SCALE, VOLUME_PRECISION, 128);
    case 'int':
      return new Int64();
    case 'bool':
      return new Bool();
    case 'text':
      return new Utf8();
    case 'textList':
      return new List(new Field('item', new Utf8(), true));
  }
}

/** The schema of the columns: every column nullable but the timestamp and the filled flag. */
export function arrowSchema(columns: readonly Column[]): Schema {
  return new Schema(
    columns.map(
      (c) => new Field(c.name, arrowType(c.kind), c.kind !== 'timestamp' && c.kind !== 'bool'),
    ),
  );
}

/** A decimal text scaled by 10^18, exact; a value beyond decimal128(38, 18) is an error. */
function scaledDecimal(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = (negative ? text.slice(1) : text).split('.');
  if (fraction.length > VOLUME_SCALE) {
    throw new Error(`volume ${text} has more than ${VOLUME_SCALE} fraction digits`);
  }
  const scaled = BigInt(whole + fraction.padEnd(VOLUME_SCALE, '0'));
  if (scaled >= DECIMAL_LIMIT) throw new Error(`volume ${text} does not fit decimal128(38, 18)`);
  return negative ? -scaled : scaled;
}

function validity(values: readonly unknown[]): { nullBitmap: Uint8Array; nullCount: number } {
  let nullCount = 0;
  for (let i = 0; i < values.length; i++)
    if (values[i] === null || values[i] === undefined) nullCount++;
  // No nulls: no bitmap (Arrow reads a missing one as all valid).
  if (nullCount === 0) return { nullBitmap: new Uint8Array(0), nullCount };
  const nullBitmap = new Uint8Array(Math.ceil(values.length / 8));
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== null && values[i] !== undefined) nullBitmap[i >> 3]! |= 1 << (i & 7);
  }
  return { nullBitmap, nullCount };
}

const TWO_32 = 2 ** 32;

/**
 * A safe integer as the two little-endian 32-bit words of an int64 at
 * `words[2 i]`: fixed-width columns are written with numbers, no bigint
 * per row (a bigint a value cost a third of an answer's encoding).
 */
function putInt64(words: Uint32Array, i: number, value: number): void {
  const low = ((value % TWO_32) + TWO_32) % TWO_32;
  words[2 * i] = low;
  words[2 * i + 1] = (value - low) / TWO_32;
}

/** 10^18 (the volume scale) in 16-bit limbs, least significant first (c0 is 0). */
const [, C1, C2, C3] = [0x0000, 0xa764, 0xb6b3, 0x0de0] as const;
const LIMB = 0x10000;

/**
 * A non-negative safe integer times 10^18 as the four 32-bit words of a
 * decimal128 at `words[4 i]`: in 16-bit limbs, so that every partial
 * product is exact in a double.
 */
function putScaledInteger(words: Uint32Array, i: number, value: number): void {
  const l0 = value % LIMB;
  const l1 = Math.floor(value / LIMB) % LIMB;
  const l2 = Math.floor(value / LIMB ** 2) % LIMB;
  const l3 = Math.floor(value / LIMB ** 3);
  // The limbs of the product, not yet carried (each below 2^34), carried
  // in line: a loop with an array per value cost a third of the encoding.
  const p1 = l0 * C1;
  const p2 = l0 * C2 + l1 * C1;
  const p3 = l0 * C3 + l1 * C2 + l2 * C1;
  const p4 = l1 * C3 + l2 * C2 + l3 * C1;
  const p5 = l2 * C3 + l3 * C2;
  const p6 = l3 * C3;
  const s1 = p1 % LIMB;
  const s2 = p2 + Math.floor(p1 / LIMB);
  const s3 = p3 + Math.floor(s2 / LIMB);
  const s4 = p4 + Math.floor(s3 / LIMB);
  const s5 = p5 + Math.floor(s4 / LIMB);
  const s6 = p6 + Math.floor(s5 / LIMB);
  const s7 = Math.floor(s6 / LIMB);
  words[4 * i] = s1 * LIMB; // limb 0 of the product is 0 (C0 is)
  words[4 * i + 1] = (s2 % LIMB) + (s3 % LIMB) * LIMB;
  words[4 * i + 2] = (s4 % LIMB) + (s5 % LIMB) * LIMB;
  words[4 * i + 3] = (s6 % LIMB) + (s7 % LIMB) * LIMB;
}

/** Fixed-width columns built from their buffers, exact (no number in between). */
function timestampData(type: DataType, values: readonly unknown[]): Data {
  const words = new Uint32Array(values.length * 2);
  values.forEach((value, i) =>
    putInt64(words, i, typeof value === 'number' ? value : isoToMicrosNumber(String(value))),
  );
  return makeData({
    type: type as TimestampMicrosecond,
    length: values.length,
    data: new BigInt64Array(words.buffer),
  });
}

/** A whole decimal text a double holds exactly (15 digits at most). */
const WHOLE_TEXT = /^\d{1,15}$/;

function decimalData(type: DataType, values: readonly unknown[]): Data {
  const data = new Uint32Array(values.length * 4);
  values.forEach((value, i) => {
    if (value === null || value === undefined) return;
    // Most volumes are whole: scaled with numbers; the others exactly from their decimal text.
    const whole = typeof value === 'string' && WHOLE_TEXT.test(value) ? Number(value) : value;
    if (typeof whole === 'number' && Number.isSafeInteger(whole) && whole >= 0) {
      putScaledInteger(data, i, whole);
      return;
    }
    let v = scaledDecimal(decimalText(value as number | string));
    if (v < 0n) v += TWO_128;
    for (let w = 0; w < 4; w++) data[i * 4 + w] = Number((v >> BigInt(32 * w)) & 0xffffffffn);
  });
  return makeData({
    type: type as Decimal,
    length: values.length,
    data,
    ...validity(values),
  });
}

function floatData(type: DataType, values: readonly unknown[]): Data {
  const data = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value === 'number') data[i] = value;
  }
  return makeData({ type: type as Float64, length: values.length, data, ...validity(values) });
}

/** An int column (trade_count): whole numbers up to 2^53 in JSON. */
function intData(type: DataType, values: readonly unknown[]): Data {
  const words = new Uint32Array(values.length * 2);
  values.forEach((value, i) => {
    if (typeof value === 'number') putInt64(words, i, value);
  });
  return makeData({
    type: type as Int64,
    length: values.length,
    data: new BigInt64Array(words.buffer),
    ...validity(values),
  });
}

function builtData(type: DataType, kind: ColumnKind, values: readonly unknown[]): Data {
  const builder = makeBuilder({ type, nullValues: [null, undefined] });
  for (const value of values) {
    if (kind === 'bool') builder.append(value === true);
    else builder.append(value);
  }
  return builder.finish().flush() as Data;
}

/** A record batch of `rows`. */
export function arrowBatch(
  schema: Schema,
  columns: readonly Column[],
  rows: RowValues,
): RecordBatch {
  const children = columns.map((column, i) => {
    const values = rows.valuesOf(column.name);
    const type = (schema.fields[i] as Field).type as DataType;
    if (column.kind === 'timestamp') return timestampData(type, values);
    if (column.kind === 'decimal') return decimalData(type, values);
    if (column.kind === 'float') return floatData(type, values);
    if (column.kind === 'int') return intData(type, values);
    return builtData(type, column.kind, values);
  });
  const data = makeData({
    type: new Struct(schema.fields),
    length: rows.length,
    nullCount: 0,
    children,
  });
  return new RecordBatch(schema, data);
}

/** A writer of the IPC stream format (schema, batches, end-of-stream marker). */
export function arrowStreamWriter(): RecordBatchStreamWriter {
  return new RecordBatchStreamWriter();
}
