import { RecordBatchStreamWriter, tableFromIPC } from 'apache-arrow';
import { arrowBatch, arrowSchema, VOLUME_SCALE } from './arrow-encoder';
import { columnsOf, isoToMicrosNumber, Point, pointRows } from './columns';

/** The batch written as an IPC stream and read back by apache-arrow's own reader. */
function readBack(fields: string[], points: Point[]) {
  const columns = columnsOf(fields);
  const schema = arrowSchema(columns);
  const bytes = RecordBatchStreamWriter.writeAll([
    arrowBatch(schema, columns, pointRows(points)),
  ]).toUint8Array(true);
  return tableFromIPC(bytes);
}

/** A decimal128 cell as its exact decimal text (apache-arrow gives the four 32-bit words). */
function decimalCell(words: Uint32Array): string {
  let v = 0n;
  for (const word of [...words].reverse()) v = (v << 32n) | BigInt(word);
  if (v >= 1n << 127n) v -= 1n << 128n;
  const negative = v < 0n;
  const digits = (negative ? -v : v).toString().padStart(VOLUME_SCALE + 1, '0');
  const whole = digits.slice(0, -VOLUME_SCALE);
  const fraction = digits.slice(-VOLUME_SCALE).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

describe('arrowBatch', () => {
  it('should write whole volumes, fractional ones and decimal strings exactly', () => {
    const volumes = [
      0,
      1,
      65_535,
      65_536,
      123_456_789,
      2 ** 32,
      2 ** 48 + 7,
      9_007_199_254_740_991,
    ];
    const table = readBack(
      ['volume'],
      [...volumes, 0.5, 1e-7, '12345678901234567890.123456789012345678', null].map((volume) => ({
        volume,
      })),
    );
    const column = table.getChild('volume');
    const cells = Array.from({ length: table.numRows }, (_, i) =>
      column?.isValid(i) ? decimalCell(column.get(i) as Uint32Array) : null,
    );

    expect(cells).toEqual([
      ...volumes.map(String),
      '0.5',
      '0.0000001',
      '12345678901234567890.123456789012345678',
      null,
    ]);
  });

  it('should write timestamps, floats and ints exactly, nulls as nulls, before 1970 too', () => {
    const points = [
      { timestamp: '2025-06-21T14:30:00.123Z', close: 1.5, trade_count: 2 ** 40 + 3 },
      { timestamp: '1969-12-31T23:59:59.999999Z', close: null, trade_count: null },
      { timestamp: '2099-12-31T23:59:59.000001Z', close: -0.1, trade_count: 0 },
    ];
    const table = readBack(['timestamp', 'close', 'trade_count'], points);
    const rows = table.toArray().map((row: Record<string, unknown>) => ({ ...row }));

    expect(Array.from(table.getChild('timestamp')?.data[0]?.values as BigInt64Array)).toEqual([
      1750516200123000n,
      -1n,
      4102444799000001n,
    ]);
    expect(rows.map((r) => r.close)).toEqual([1.5, null, -0.1]);
    expect(rows.map((r) => r.trade_count)).toEqual([BigInt(2 ** 40 + 3), null, 0n]);
  });
});

describe('isoToMicrosNumber', () => {
  it('should refuse text that is not an instant of DESIGN 3', () => {
    expect(() => isoToMicrosNumber('2025-06-21 14:30:00')).toThrow(/ISO-8601/);
    expect(() => isoToMicrosNumber('2025-06-21T14:30:00.1x3Z')).toThrow(/ISO-8601/);
    expect(isoToMicrosNumber('2025-06-21T14:30:00Z')).toBe(1750516200000000);
  });
});
