import fc from 'fast-check';
import { SentPoint } from './client-checksum';

/** fast-check arbitraries of market data, valid and hostile, for the property suites. */

export const MINUTE_MS = 60_000;
/** The accepted instants (src/common/time.ts): 1900-01-01 to before 2200-01-01. */
const FIRST_MINUTE = Date.UTC(1900, 0, 1) / MINUTE_MS;
const LAST_MINUTE = Date.UTC(2200, 0, 1) / MINUTE_MS - 1;

/** 1-20 printable characters, no space first or last (DESIGN 3): real symbols and any script. */
export const validInstrumentId = fc.oneof(
  fc.constantFrom('^GSPC', 'BRK B', 'ES=F', 'EUR/USD', 'BTC-USD.X:1', '株式', 'ÄPFEL', 'A%B'),
  fc.stringMatching(/^[A-Za-z0-9._:/-]{1,20}$/),
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
    .filter((s) => /^(?!\s)[^\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]{1,20}(?<!\s)$/u.test(s)),
);

/** An instant aligned to the minute, anywhere in the accepted years or near the interesting ones. */
export const alignedMs = fc
  .oneof(
    fc.integer({ min: FIRST_MINUTE, max: LAST_MINUTE }),
    // 1970, leap days, 2100 (not a leap year), US/EU DST changes of 2025.
    fc
      .constantFrom(
        '1970-01-01T00:00:00Z',
        '1969-12-31T23:59:00Z',
        '2024-02-29T12:00:00Z',
        '2000-02-29T00:00:00Z',
        '2100-02-28T23:59:00Z',
        '2100-03-01T00:00:00Z',
        '2100-12-31T23:59:00Z',
        '2025-03-09T06:59:00Z',
        '2025-03-09T07:00:00Z',
        '2025-03-30T00:59:00Z',
        '2025-03-30T01:00:00Z',
        '2025-10-26T01:00:00Z',
        '2025-11-02T06:00:00Z',
      )
      .chain((iso) =>
        fc.integer({ min: -3, max: 3 }).map((delta) => Date.parse(iso) / MINUTE_MS + delta),
      ),
  )
  .map((minute) => minute * MINUTE_MS);

/** The instant written with a zone offset (Z, ±hh:mm or ±hhmm) and optional zero fractions. */
export function isoWithOffset(ms: number): fc.Arbitrary<string> {
  return fc
    .record({
      offsetMinutes: fc.oneof(
        fc.constant(0),
        fc.constantFrom(-300, -240, 60, 120, 330, 345, -570, 840, -720),
        fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      ),
      style: fc.constantFrom('Z', 'colon', 'plain'),
      fraction: fc.constantFrom('', ':00', ':00.000', ':00.000000', ':00.0'),
    })
    .map(({ offsetMinutes, style, fraction }) => {
      const zoneMinutes = style === 'Z' ? 0 : offsetMinutes;
      const local = new Date(ms + zoneMinutes * MINUTE_MS).toISOString().slice(0, 16);
      if (style === 'Z') return `${local}${fraction}Z`;
      const sign = zoneMinutes < 0 ? '-' : '+';
      const abs = Math.abs(zoneMinutes);
      const hh = String(Math.floor(abs / 60)).padStart(2, '0');
      const mm = String(abs % 60).padStart(2, '0');
      return `${local}${fraction}${sign}${hh}${style === 'colon' ? ':' : ''}${mm}`;
    });
}

/** Any finite double, with the awkward ones often: -0, denormals, the extremes, two-decimal prices. */
export const finiteDouble = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 1e21, 1e-7, 0.1),
  fc.integer({ min: -10_000_000, max: 10_000_000 }).map((cents) => cents / 100),
);

/**
 * Volume as a safe integer, an exact decimal string up to 2^63-1 (leading
 * zeros allowed), a fractional number (satoshis, exponent forms such as
 * 1e-7) or a decimal string with up to 18 fraction digits.
 */
export const validVolume: fc.Arbitrary<number | string> = fc.oneof(
  fc.maxSafeNat(),
  fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map((v) => v.toString()),
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n ** 40n }), fc.integer({ min: 1, max: 3 }))
    .map(([v, zeros]) => '0'.repeat(zeros) + v.toString()),
  fc.constant('9223372036854775807'),
  fc.integer({ min: 0, max: 2_100_000_000_000_000 }).map((satoshis) => satoshis / 1e8),
  fc.constantFrom(0.1, 1e-7, 1.5e-17, 2 ** 51 + 0.5, 0.00012345),
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n ** 63n - 2n }), fc.stringMatching(/^\d{1,18}$/))
    .map(([integer, fraction]) => `${integer}.${fraction}`),
);

/** Printable text of at most 50 code points, any script (sources). */
export const printableSource = fc
  .string({ unit: 'grapheme', maxLength: 50 })
  .filter((s) => [...s].length <= 50 && !/\p{Cc}/u.test(s));

/** A point every rule accepts; prices ordered so that low <= open, close <= high. */
export function validPoint(msArb: fc.Arbitrary<number> = alignedMs): fc.Arbitrary<SentPoint> {
  return fc
    .record({
      ms: msArb,
      prices: fc.array(finiteDouble, { minLength: 4, maxLength: 4 }),
      openFirst: fc.boolean(),
      volume: validVolume,
      dollar_volume: fc.option(finiteDouble, { nil: undefined }),
      nullDollar: fc.boolean(),
      trade_count: fc.option(fc.integer({ min: 0, max: 2_147_483_647 }), { nil: undefined }),
      quality_score: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      source: fc.option(printableSource, { nil: undefined }),
    })
    .chain((r) =>
      isoWithOffset(r.ms).map((timestamp) => {
        // Four prices (minLength = maxLength = 4): the defaults never apply.
        const [low = 0, a = 0, b = 0, high = 0] = [...r.prices].sort((x, y) => x - y);
        const point: SentPoint = {
          timestamp,
          open: r.openFirst ? a : b,
          high,
          low,
          close: r.openFirst ? b : a,
          volume: r.volume,
        };
        if (r.dollar_volume !== undefined) point.dollar_volume = r.dollar_volume;
        else if (r.nullDollar) point.dollar_volume = null;
        if (r.trade_count !== undefined) point.trade_count = r.trade_count;
        if (r.quality_score !== undefined) point.quality_score = r.quality_score;
        if (r.source !== undefined) point.source = r.source;
        return point;
      }),
    );
}

/** Values that break a point when put in one of its fields. */
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-Infinity',
    '1e400',
    '187.5',
    ' 42',
    '-1',
    '0x10',
    '',
    null,
    true,
    [],
    {},
    -1,
    1.5,
    2 ** 53,
    2 ** 63,
    -0,
    1e308,
    -1e308,
    '9223372036854775808',
    '2025-02-29T00:00:00Z',
    '2025-06-21T10:00:00',
    '2025-06-21 10:00:00Z',
    '2025-06-21T10:00:00.0001Z',
    '2025-06-21T10:00:30Z',
    '1899-12-31T23:59:00Z',
    '2200-01-01T00:00:00Z',
    '\u0000',
    '\ud800',
  ),
);

const POINT_KEYS = [
  'timestamp',
  'open',
  'high',
  'low',
  'close',
  'volume',
  'dollar_volume',
  'trade_count',
  'quality_score',
  'source',
  'vwap',
  '__proto__',
  'constructor',
];

/** A valid point with one field replaced, removed or added: usually invalid, sometimes not. */
export const mutatedPoint: fc.Arbitrary<unknown> = fc
  .tuple(validPoint(), fc.constantFrom(...POINT_KEYS), hostileValue, fc.boolean())
  .map(([point, key, value, remove]) => {
    const copy: Record<string, unknown> = { ...point };
    if (remove) delete copy[key];
    else Object.defineProperty(copy, key, { value, enumerable: true, writable: true });
    return copy;
  });

export const TIMEFRAMES = ['ONE_MINUTE', 'FIVE_MINUTES', 'FIFTEEN_MINUTES', 'ONE_HOUR', 'ONE_DAY'];

/** Store request bodies from valid to nonsense, as JSON text. */
export const anyStoreBody: fc.Arbitrary<string> = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc
    .record(
      {
        instrument_id: fc.oneof(validInstrumentId, fc.string({ unit: 'binary' }), hostileValue),
        timeframe: fc.oneof(fc.constantFrom(...TIMEFRAMES), hostileValue),
        data_type: fc.oneof(fc.constant('OHLCV'), hostileValue),
        compression: fc.oneof(fc.constantFrom('NONE', 'LOW', 'MEDIUM', 'HIGH'), hostileValue),
        data_points: fc.oneof(
          fc.array(fc.oneof(validPoint(), mutatedPoint, fc.jsonValue({ maxDepth: 2 })), {
            maxLength: 8,
          }),
          hostileValue,
        ),
        extra: hostileValue,
      },
      { requiredKeys: [] },
    )
    .map((body) => JSON.stringify(body)),
);

/** Valid points of one series near one instant (a few partitions or chunks per series). */
export const seriesPoints: fc.Arbitrary<SentPoint[]> = alignedMs.chain((start) => {
  const base = Math.min(start, (LAST_MINUTE - 30) * MINUTE_MS);
  return fc.array(
    validPoint(fc.integer({ min: 0, max: 30 }).map((minutes) => base + minutes * MINUTE_MS)),
    { minLength: 1, maxLength: 12 },
  );
});
