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
import { Column, ColumnKind, decimalText, isoToMicros, Point } from './columns';

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
  const nullBitmap = new Uint8Array(Math.ceil(values.length / 8));
  let nullCount = 0;
  values.forEach((value, i) => {
    if (value === null || value === undefined) nullCount++;
    else nullBitmap[i >> 3] = (nullBitmap[i >> 3] ?? 0) | (1 << (i & 7));
  });
  return { nullBitmap, nullCount };
}

/** Fixed-width columns built from their buffers, exact (no number in between). */
function timestampData(type: DataType, values: readonly unknown[]): Data {
  const data = new BigInt64Array(values.length);
  values.forEach((value, i) => (data[i] = isoToMicros(String(value))));
  return makeData({ type: type as TimestampMicrosecond, length: values.length, data });
}

function decimalData(type: DataType, values: readonly unknown[]): Data {
  const data = new Uint32Array(values.length * 4);
  values.forEach((value, i) => {
    if (value === null || value === undefined) return;
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

function builtData(type: DataType, kind: ColumnKind, values: readonly unknown[]): Data {
  const builder = makeBuilder({ type, nullValues: [null, undefined] });
  for (const value of values) {
    if (kind === 'int' && typeof value === 'number') builder.append(BigInt(value));
    else if (kind === 'bool') builder.append(value === true);
    else builder.append(value);
  }
  return builder.finish().flush() as Data;
}

/** A record batch of `points`; `constant` columns (instrument_id) are taken from it instead. */
export function arrowBatch(
  schema: Schema,
  columns: readonly Column[],
  points: readonly Point[],
  constant: Point = {},
): RecordBatch {
  const children = columns.map((column, i) => {
    const values = points.map((p) =>
      column.name in constant ? constant[column.name] : p[column.name],
    );
    const type = (schema.fields[i] as Field).type as DataType;
    if (column.kind === 'timestamp') return timestampData(type, values);
    if (column.kind === 'decimal') return decimalData(type, values);
    return builtData(type, column.kind, values);
  });
  const data = makeData({
    type: new Struct(schema.fields),
    length: points.length,
    nullCount: 0,
    children,
  });
  return new RecordBatch(schema, data);
}

/** A writer of the IPC stream format (schema, batches, end-of-stream marker). */
export function arrowStreamWriter(): RecordBatchStreamWriter {
  return new RecordBatchStreamWriter();
}
