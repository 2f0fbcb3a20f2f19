import { decodeColumns, numbersOfText } from './bar-columns.sql';

/** A decimal text of the kind numeric::text writes: `int` digits, `frac` after the point. */
function decimal(random: () => number, int: number, frac: number, negative: boolean): string {
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
  const whole = String(Number(digits(int) || '0'));
  return `${negative ? '-' : ''}${whole}${frac > 0 ? `.${digits(frac)}` : ''}`;
}

/** A small deterministic generator (mulberry32), so a failure repeats. */
function generator(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('numbersOfText', () => {
  it('reads every price as the double Number() gives, over a wide spread of digits', () => {
    const random = generator(17);
    const texts = Array.from({ length: 50_000 }, () =>
      decimal(random, Math.floor(random() * 12), Math.floor(random() * 26), random() < 0.2),
    );
    const values = numbersOfText(texts.join(','), texts.length, false);
    const differing = texts.filter((text, i) => !Object.is(values[i], Number(text)));
    expect(differing).toEqual([]);
  });

  it('reads the texts that leave the fast path (17+ digits, 23+ decimals) through Number()', () => {
    const texts = ['12345678901234567890.5', '0.00000000000000000000001234', '9007199254740993'];
    expect(numbersOfText(texts.join(','), 3, false)).toEqual(texts.map(Number));
  });

  it('reads an empty text as null, first, last and in the middle', () => {
    expect(numbersOfText(',1.5,,2,', 5, false)).toEqual([null, 1.5, null, 2, null]);
  });

  it('keeps a volume a number only when whole and of at most 15 digits, else its exact text', () => {
    const texts = ['0', '150', '999999999999999', '1000000000000000', '2.5', '0.000001', ''];
    expect(numbersOfText(texts.join(','), texts.length, true)).toEqual([
      0,
      150,
      999_999_999_999_999,
      '1000000000000000',
      '2.5',
      '0.000001',
      null,
    ]);
  });
});

describe('decodeColumns', () => {
  it('reads timestamps from timestamptz_send bytes and the other fields from their texts', () => {
    // 2025-01-01T00:00:00Z and a µs later, as µs since 2000-01-01 big-endian.
    const epochMicros = Date.parse('2025-01-01T00:00:00Z') * 1000;
    const sinceY2k = epochMicros - Date.parse('2000-01-01T00:00:00Z') * 1000;
    const bytes = Buffer.alloc(16);
    bytes.writeBigInt64BE(BigInt(sinceY2k), 0);
    bytes.writeBigInt64BE(BigInt(sinceY2k + 1), 8);
    const columns = decodeColumns(
      ['timestamp', 'close', 'volume', 'trade_count'],
      [
        {
          row: { timestamp: bytes, close: '101.25,-0.5', volume: '12,0.125', trade_count: '3,' },
          count: 2,
        },
      ],
    );
    expect(columns).toEqual({
      timestamp: [epochMicros, epochMicros + 1],
      close: [101.25, -0.5],
      volume: [12, '0.125'],
      trade_count: [3, null],
    });
  });

  it('reads the parts of one page into one array per field, in order, an empty part too', () => {
    const stamps = (micros: number[]) => {
      const bytes = Buffer.alloc(8 * micros.length);
      micros.forEach((m, i) => bytes.writeBigInt64BE(BigInt(m), 8 * i));
      return bytes;
    };
    const y2k = Date.parse('2000-01-01T00:00:00Z') * 1000;
    const columns = decodeColumns(
      ['timestamp', 'close'],
      [
        { row: { timestamp: stamps([1, 2]), close: '1.5,' }, count: 2 },
        { row: { timestamp: null, close: null }, count: 0 },
        { row: { timestamp: stamps([3]), close: '-2' }, count: 1 },
      ],
    );
    expect(columns).toEqual({ timestamp: [y2k + 1, y2k + 2, y2k + 3], close: [1.5, null, -2] });
  });

  it('gives empty columns for an empty page', () => {
    expect(
      decodeColumns(['timestamp', 'close'], [{ row: { timestamp: null, close: null }, count: 0 }]),
    ).toEqual({ timestamp: [], close: [] });
  });
});
