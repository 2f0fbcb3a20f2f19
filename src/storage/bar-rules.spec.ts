import { TimeFrame } from '../common/market-data.types';
import { setStreamTime } from '../common/stream-time';
import { BarRow } from '../repositories/market-data.repository';
import { checkBars, CheckedBars } from './bar-rules';
import { BUILT_IN_CALENDARS } from '../common/trading-session';
import { MAX_REPORTED_ERRORS, PointError } from './point-check';

type RawPoint = Record<string, unknown>;

/** A valid ONE_MINUTE bar at 2025-06-21T10:00Z; override what the test is about. */
function point(overrides: RawPoint = {}): RawPoint {
  return {
    timestamp: '2025-06-21T10:00:00Z',
    open: 187.25,
    high: 187.9,
    low: 186.8,
    close: 187.5,
    volume: 125000,
    ...overrides,
  };
}

function without(field: string): RawPoint {
  const copy = point();
  delete copy[field];
  return copy;
}

/** The row of a point that must be accepted. */
function accepted(raw: unknown, timeframe = TimeFrame.ONE_MINUTE): BarRow {
  const result = checkBars([raw], timeframe);
  expect(result.errors).toEqual([]);
  expect(result.failedCount).toBe(0);
  const [row] = result.rows;
  if (!row || result.rows.length !== 1)
    throw new Error(`expected one row, got ${result.rows.length}`);
  return row;
}

/** The one error of a point that must be rejected. */
function rejected(raw: unknown, timeframe = TimeFrame.ONE_MINUTE): PointError {
  const result = checkBars([raw], timeframe);
  expect(result.rows).toEqual([]);
  expect(result.failedCount).toBe(1);
  const [error] = result.errors;
  if (!error || result.errors.length !== 1)
    throw new Error(`expected one error, got ${result.errors.length}`);
  return error;
}

const UTC_10_00 = Date.UTC(2025, 5, 21, 10, 0);
const TIMESTAMP_FORMAT_MESSAGE =
  'timestamp must be an ISO-8601 time with a zone, e.g. 2025-06-21T10:00:00Z';

describe('checkBars', () => {
  describe('a valid point', () => {
    it('should convert it into a row with defaults for the optional fields', () => {
      expect(accepted(point())).toEqual({
        timestampMs: UTC_10_00,
        open: 187.25,
        high: 187.9,
        low: 186.8,
        close: 187.5,
        volume: '125000',
        dollarVolume: null,
        tradeCount: null,
        qualityScore: 1,
        source: null,
        streamTimeUs: null,
      });
    });

    it('should keep the optional fields when they are given', () => {
      const row = accepted(
        point({
          dollar_volume: 23437500.5,
          trade_count: 812,
          quality_score: 0.75,
          source: 'NASDAQ',
        }),
      );

      expect(row).toMatchObject({
        dollarVolume: 23437500.5,
        tradeCount: 812,
        qualityScore: 0.75,
        source: 'NASDAQ',
      });
    });

    it('should treat null optional fields as absent', () => {
      const row = accepted(
        point({ dollar_volume: null, trade_count: null, quality_score: null, source: null }),
      );

      expect(row).toMatchObject({
        dollarVolume: null,
        tradeCount: null,
        qualityScore: 1,
        source: null,
      });
    });

    it('should answer nothing for an empty list', () => {
      expect(checkBars([], TimeFrame.ONE_MINUTE)).toEqual<CheckedBars>({
        rows: [],
        failedCount: 0,
        supersededCount: 0,
        errors: [],
      });
    });
  });

  describe('OHLC consistency', () => {
    it('should accept a bar whose four prices are equal', () => {
      const row = accepted(point({ open: 10, high: 10, low: 10, close: 10 }));

      expect(row).toMatchObject({ open: 10, high: 10, low: 10, close: 10 });
    });

    it('should accept low equal to min(open, close) and high equal to max(open, close)', () => {
      const row = accepted(point({ open: 11, high: 12, low: 11, close: 12 }));

      expect(row).toMatchObject({ open: 11, high: 12, low: 11, close: 12 });
    });

    it.each([
      ['open', { open: 10, high: 12, low: 10.5, close: 11 }],
      ['close', { open: 11, high: 12, low: 10.5, close: 10 }],
    ])('should reject low above %s', (_name, prices) => {
      expect(rejected(point(prices))).toEqual({
        index: 0,
        field: 'low',
        message: 'low must not exceed open or close',
      });
    });

    it.each([
      ['open', { open: 13, high: 12, low: 10, close: 11 }],
      ['close', { open: 11, high: 12, low: 10, close: 13 }],
    ])('should reject high below %s', (_name, prices) => {
      expect(rejected(point(prices))).toEqual({
        index: 0,
        field: 'high',
        message: 'high must not be below open or close',
      });
    });

    it('should reject low above high', () => {
      expect(rejected(point({ open: 10, high: 9, low: 11, close: 10 }))).toEqual({
        index: 0,
        field: 'low',
        message: 'low must not exceed high',
      });
    });
  });

  describe('prices', () => {
    it.each(['open', 'high', 'low', 'close'])(
      'should reject %s sent as a numeric string',
      (field) => {
        expect(rejected(point({ [field]: '187.5' }))).toEqual({
          index: 0,
          field,
          message: `${field} must be a finite number`,
        });
      },
    );

    it.each([
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['-Infinity', -Infinity],
      ['a boolean', true],
      ['an object', { value: 1 }],
      ['an array', [1]],
    ])('should reject open as %s', (_name, value) => {
      expect(rejected(point({ open: value }))).toMatchObject({
        field: 'open',
        message: 'open must be a finite number',
      });
    });

    it.each(['open', 'high', 'low', 'close'])('should reject a null %s as missing', (field) => {
      expect(rejected(point({ [field]: null }))).toMatchObject({
        field,
        message: `${field} is required`,
      });
    });

    it('should store -0 prices as 0', () => {
      const row = accepted(point({ open: -0, high: 0, low: -0, close: -0 }));

      expect(Object.is(row.open, 0)).toBe(true);
      expect(Object.is(row.low, 0)).toBe(true);
      expect(Object.is(row.close, 0)).toBe(true);
    });
  });

  describe('dollar_volume', () => {
    it('should accept zero and store -0 as 0', () => {
      expect(accepted(point({ dollar_volume: 0 })).dollarVolume).toBe(0);
      expect(Object.is(accepted(point({ dollar_volume: -0 })).dollarVolume, 0)).toBe(true);
    });

    it('should accept a negative amount, as the prices it comes from may be negative', () => {
      expect(accepted(point({ dollar_volume: -2500.5 })).dollarVolume).toBe(-2500.5);
    });

    it.each([
      ['a string', '100'],
      ['NaN', NaN],
      ['Infinity', Infinity],
    ])('should reject %s', (_name, value) => {
      expect(rejected(point({ dollar_volume: value }))).toMatchObject({
        field: 'dollar_volume',
        message: 'dollar_volume must be a finite number',
      });
    });
  });

  describe('volume as a number', () => {
    it.each([
      [0, '0'],
      [125000, '125000'],
      [Number.MAX_SAFE_INTEGER, '9007199254740991'],
    ])('should accept %p as the exact string %p', (volume, expected) => {
      expect(accepted(point({ volume })).volume).toBe(expected);
    });

    it('should store -0 as 0', () => {
      expect(accepted(point({ volume: -0 })).volume).toBe('0');
    });

    it.each([2 ** 53, 1e21])(
      'should reject %p above 2^53-1 and say to send it as a string',
      (volume) => {
        expect(rejected(point({ volume }))).toEqual({
          index: 0,
          field: 'volume',
          message: 'volume above 9007199254740991 must be sent as a decimal string to stay exact',
        });
      },
    );

    it.each([-1, -0.5, NaN, Infinity])('should reject %p', (volume) => {
      expect(rejected(point({ volume }))).toMatchObject({
        field: 'volume',
        message:
          'volume must be a number >= 0 (a JSON number, or a plain decimal string such as "0.00012345" or "12345678901234567890")',
      });
    });

    it.each([
      [1.5, '1.5'],
      [0.00012345, '0.00012345'],
      [1e-7, '0.0000001'],
      [1.5e-17, '0.000000000000000015'],
      [123456.789, '123456.789'],
      [2 ** 51 + 0.5, '2251799813685248.5'],
    ])(
      'should accept the fractional %p exactly as %p (its shortest decimal)',
      (volume, expected) => {
        expect(accepted(point({ volume })).volume).toBe(expected);
      },
    );

    it('should reject a fraction of more than 18 digits rather than round it', () => {
      expect(rejected(point({ volume: 1e-19 }))).toEqual({
        index: 0,
        field: 'volume',
        message: 'volume must have at most 18 digits after the decimal point',
      });
    });
  });

  describe('volume as a decimal string', () => {
    it.each([
      ['0', '0'],
      ['9007199254740993', '9007199254740993'],
      ['9223372036854775807', '9223372036854775807'],
      ['000125', '125'],
      ['0000000000000000000', '0'],
      ['00000000000000000042', '42'],
    ])('should accept %p exactly as %p', (volume, expected) => {
      expect(accepted(point({ volume })).volume).toBe(expected);
    });

    it('should reject 2^63', () => {
      expect(rejected(point({ volume: '9223372036854775808' }))).toEqual({
        index: 0,
        field: 'volume',
        message: 'volume must not exceed 9223372036854775807',
      });
    });

    it.each([
      ['0.00012345', '0.00012345'],
      ['1.50', '1.5'],
      ['0001.000', '1'],
      ['9223372036854775806.999999999999999999', '9223372036854775806.999999999999999999'],
    ])('should accept the decimal %p exactly as %p', (volume, expected) => {
      expect(accepted(point({ volume })).volume).toBe(expected);
    });

    it.each(['9223372036854775807.5', '99999999999999999999', '10000000000000000000.0'])(
      'should reject %p above 2^63-1',
      (volume) => {
        expect(rejected(point({ volume }))).toMatchObject({
          message: 'volume must not exceed 9223372036854775807',
        });
      },
    );

    it('should reject 19 fraction digits', () => {
      expect(rejected(point({ volume: '0.0000000000000000001' }))).toMatchObject({
        message: 'volume must have at most 18 digits after the decimal point',
      });
    });

    it.each(['-1', '1e3', '1.', '.5', ' 1', '1 ', '+1', '0x10', '', 'abc', '1,5'])(
      'should reject %p',
      (volume) => {
        expect(rejected(point({ volume }))).toEqual({
          index: 0,
          field: 'volume',
          message:
            'volume must be a number >= 0 (a JSON number, or a plain decimal string such as "0.00012345" or "12345678901234567890")',
        });
      },
    );

    it.each([
      ['a boolean', true],
      ['an object', { amount: 1 }],
      ['an array', [1]],
    ])('should reject volume as %s', (_name, volume) => {
      expect(rejected(point({ volume }))).toMatchObject({
        field: 'volume',
        message:
          'volume must be a number >= 0 (a JSON number, or a plain decimal string such as "0.00012345" or "12345678901234567890")',
      });
    });
  });

  describe('trade_count', () => {
    it.each([0, 1, 2_147_483_647])('should accept %p', (tradeCount) => {
      expect(accepted(point({ trade_count: tradeCount })).tradeCount).toBe(tradeCount);
    });

    it('should be null when absent', () => {
      expect(accepted(point()).tradeCount).toBeNull();
    });

    it('should turn -0 into 0', () => {
      expect(Object.is(accepted(point({ trade_count: -0 })).tradeCount, 0)).toBe(true);
    });

    it.each([-1, 2_147_483_648, 1.5, '5', NaN, Infinity, true])(
      'should reject %p',
      (tradeCount) => {
        expect(rejected(point({ trade_count: tradeCount }))).toEqual({
          index: 0,
          field: 'trade_count',
          message: 'trade_count must be a whole number from 0 to 2147483647',
        });
      },
    );
  });

  describe('quality_score', () => {
    it('should default to 1', () => {
      expect(accepted(point()).qualityScore).toBe(1);
    });

    it.each([0, 0.5, 1])('should accept %p', (score) => {
      expect(accepted(point({ quality_score: score })).qualityScore).toBe(score);
    });

    it.each([-0.01, 1.01, 100])('should reject %p outside 0..1', (score) => {
      expect(rejected(point({ quality_score: score }))).toEqual({
        index: 0,
        field: 'quality_score',
        message: 'quality_score must be between 0 and 1',
      });
    });

    it.each([
      ['a string', '0.5'],
      ['NaN', NaN],
    ])('should reject %s', (_name, score) => {
      expect(rejected(point({ quality_score: score }))).toMatchObject({
        field: 'quality_score',
        message: 'quality_score must be a finite number',
      });
    });
  });

  describe('source', () => {
    it.each(['NASDAQ', 'Börse Frankfurt', 'x'.repeat(50), '', '📈'.repeat(50), 'NAS\u00a0DAQ'])(
      'should accept %p',
      (source) => {
        expect(accepted(point({ source })).source).toBe(source);
      },
    );

    it.each([
      ['51 characters', 'x'.repeat(51)],
      ['a newline', 'NAS\nDAQ'],
      ['a tab', 'NAS\tDAQ'],
      ['a NUL', 'NAS\u0000DAQ'],
      ['a DEL', 'NAS\u007fDAQ'],
      ['a C1 control', 'NAS\u0085DAQ'],
      ['the last C1 control', 'NAS\u009fDAQ'],
      ['51 characters outside the BMP', '📈'.repeat(51)],
      ['a number', 42],
      ['an object', { name: 'NASDAQ' }],
    ])('should reject %s', (_name, source) => {
      expect(rejected(point({ source }))).toEqual({
        index: 0,
        field: 'source',
        message: 'source must be a string of at most 50 printable characters',
      });
    });
  });

  describe('fields', () => {
    it.each(['price', 'timestamp_ms', 'instrument_id', 'Open'])(
      'should reject the unknown field %p',
      (field) => {
        expect(rejected(point({ [field]: 1 }))).toEqual({
          index: 0,
          field,
          message: `${field} is not a MarketDataPoint field`,
        });
      },
    );

    it.each(['timestamp', 'open', 'high', 'low', 'close', 'volume'])(
      'should reject a point without %s',
      (field) => {
        expect(rejected(without(field))).toEqual({
          index: 0,
          field,
          message: `${field} is required`,
        });
      },
    );

    it.each(['timestamp', 'volume'])('should reject a null %s as missing', (field) => {
      expect(rejected(point({ [field]: null }))).toMatchObject({
        field,
        message: `${field} is required`,
      });
    });

    it.each([
      ['null', null],
      ['a number', 5],
      ['a string', '2025-06-21T10:00:00Z'],
      ['an array', [point()]],
    ])('should reject %s in place of a point', (_name, raw) => {
      expect(rejected(raw)).toEqual({
        index: 0,
        field: 'data_point',
        message: 'data_point must be an object',
      });
    });
  });

  describe('timestamp', () => {
    it.each([
      ['Z', '2025-06-21T10:00:00Z'],
      ['lower-case t and z', '2025-06-21t10:00:00z'],
      ['milliseconds', '2025-06-21T10:00:00.000Z'],
      ['zero microseconds', '2025-06-21T10:00:00.000000Z'],
      ['zero nanoseconds', '2025-06-21T10:00:00.000000000Z'],
      ['no seconds', '2025-06-21T10:00Z'],
      ['+05:30', '2025-06-21T15:30:00+05:30'],
      ['+0530', '2025-06-21T15:30:00+0530'],
      ['-05:00', '2025-06-21T05:00:00-05:00'],
      ['+00:00', '2025-06-21T10:00:00+00:00'],
    ])('should accept a time with %s and convert it to UTC', (_name, timestamp) => {
      expect(accepted(point({ timestamp })).timestampMs).toBe(UTC_10_00);
    });

    it.each([
      ['no zone', '2025-06-21T10:00:00'],
      ['no zone and milliseconds', '2025-06-21T10:00:00.000'],
      ['only a date', '2025-06-21'],
      ['a space for T', '2025-06-21 10:00:00Z'],
      ['an RFC 2822 date', 'Sat, 21 Jun 2025 10:00:00 GMT'],
      ['an hour-only offset', '2025-06-21T10:00:00+05'],
      ['epoch milliseconds', UTC_10_00],
      ['an empty string', ''],
    ])('should reject %s', (_name, timestamp) => {
      expect(rejected(point({ timestamp }))).toEqual({
        index: 0,
        field: 'timestamp',
        message: TIMESTAMP_FORMAT_MESSAGE,
      });
    });

    it.each([
      ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
      ['1970-01-01T00:00:00Z', 0],
      ['2100-01-01T00:00:00Z', Date.UTC(2100, 0, 1)],
      ['1900-01-01T00:00:00Z', Date.UTC(1900, 0, 1)],
      ['2199-12-31T23:59:00Z', Date.UTC(2199, 11, 31, 23, 59)],
    ])('should accept %s', (timestamp, ms) => {
      expect(accepted(point({ timestamp })).timestampMs).toBe(ms);
    });

    it.each([
      ['a leap day of a common year', '2025-02-29T00:00:00Z'],
      ['the 31st of April', '2025-04-31T00:00:00Z'],
      ['day 0', '2025-06-00T00:00:00Z'],
      ['month 13', '2025-13-01T00:00:00Z'],
      ['hour 24', '2025-06-21T24:00:00Z'],
      ['minute 60', '2025-06-21T10:60:00Z'],
      ['a leap second', '2025-06-30T23:59:60Z'],
      ['an offset of 24 hours', '2025-06-21T10:00:00+24:00'],
      ['an offset of 60 minutes', '2025-06-21T10:00:00+05:60'],
    ])('should reject %s', (_name, timestamp) => {
      expect(rejected(point({ timestamp }))).toMatchObject({
        field: 'timestamp',
        message: TIMESTAMP_FORMAT_MESSAGE,
      });
    });

    it.each([
      '1899-12-31T00:00:00Z',
      '2200-01-01T00:00:00Z',
      '2200-06-21T00:00:00Z',
      '0050-01-01T00:00:00Z',
      '0000-01-01T00:00:00Z',
    ])('should reject %s as out of range', (timestamp) => {
      expect(rejected(point({ timestamp }))).toEqual({
        index: 0,
        field: 'timestamp',
        message:
          'timestamp must be from 1900-01-01T00:00:00.000Z to before 2200-01-01T00:00:00.000Z',
      });
    });

    it('should reject an offset that moves an in-range local time before 1900', () => {
      expect(rejected(point({ timestamp: '1900-01-01T00:00:00+01:00' }))).toMatchObject({
        field: 'timestamp',
        message:
          'timestamp must be from 1900-01-01T00:00:00.000Z to before 2200-01-01T00:00:00.000Z',
      });
    });

    it.each(['2025-06-21T10:00:00.000001Z', '2025-06-21T10:00:00.000000001Z'])(
      'should reject digits below the millisecond in %s',
      (timestamp) => {
        expect(rejected(point({ timestamp }))).toEqual({
          index: 0,
          field: 'timestamp',
          message: 'timestamp must start a ONE_MINUTE bar (aligned to its length in UTC)',
        });
      },
    );
  });

  describe('timeframe alignment', () => {
    it.each([
      [TimeFrame.ONE_MINUTE, '2025-06-21T10:01:00Z', Date.UTC(2025, 5, 21, 10, 1)],
      [TimeFrame.FIVE_MINUTES, '2025-06-21T10:05:00Z', Date.UTC(2025, 5, 21, 10, 5)],
      [TimeFrame.FIFTEEN_MINUTES, '2025-06-21T10:45:00Z', Date.UTC(2025, 5, 21, 10, 45)],
      [TimeFrame.ONE_HOUR, '2025-06-21T10:00:00Z', UTC_10_00],
      [TimeFrame.ONE_HOUR, '2025-06-21T15:30:00+05:30', UTC_10_00],
      [TimeFrame.ONE_DAY, '2025-06-21T00:00:00Z', Date.UTC(2025, 5, 21)],
      [TimeFrame.ONE_DAY, '2025-06-21T02:00:00+02:00', Date.UTC(2025, 5, 21)],
      [TimeFrame.ONE_DAY, '1969-12-31T00:00:00Z', Date.UTC(1969, 11, 31)],
    ])('should accept a %s bar at %s', (timeframe, timestamp, ms) => {
      expect(accepted(point({ timestamp }), timeframe).timestampMs).toBe(ms);
    });

    it.each([
      [TimeFrame.ONE_MINUTE, '2025-06-21T10:01:30Z'],
      [TimeFrame.ONE_MINUTE, '2025-06-21T10:01:00.500Z'],
      [TimeFrame.FIVE_MINUTES, '2025-06-21T10:03:00Z'],
      [TimeFrame.FIFTEEN_MINUTES, '2025-06-21T10:50:00Z'],
      [TimeFrame.ONE_HOUR, '2025-06-21T10:30:00Z'],
      [TimeFrame.ONE_HOUR, '2025-06-21T15:00:00+05:30'],
      [TimeFrame.ONE_DAY, '2025-06-21T10:00:00Z'],
      [TimeFrame.ONE_DAY, '2025-06-21T00:00:00+02:00'],
      [TimeFrame.ONE_DAY, '1969-12-31T12:00:00Z'],
    ])('should reject a %s bar at %s', (timeframe, timestamp) => {
      expect(rejected(point({ timestamp }), timeframe)).toEqual({
        index: 0,
        field: 'timestamp',
        message: `timestamp must start a ${timeframe} bar (aligned to its length in UTC)`,
      });
    });
  });

  describe('duplicates inside a request', () => {
    it('should keep the last valid occurrence of a timestamp', () => {
      const result = checkBars(
        [point({ close: 187.1 }), point({ close: 187.2 }), point({ close: 187.3 })],
        TimeFrame.ONE_MINUTE,
      );

      expect(result.rows).toHaveLength(1);
      expect(result.rows[0]?.close).toBe(187.3);
      expect(result.supersededCount).toBe(2);
      expect(result.failedCount).toBe(0);
    });

    it('should treat the same instant written with different offsets as one timestamp', () => {
      const result = checkBars(
        [point({ close: 187.1 }), point({ timestamp: '2025-06-21T12:00:00+02:00', close: 187.2 })],
        TimeFrame.ONE_MINUTE,
      );

      expect(result.rows).toHaveLength(1);
      expect(result.rows[0]).toMatchObject({ timestampMs: UTC_10_00, close: 187.2 });
      expect(result.supersededCount).toBe(1);
    });

    it('should not let a later invalid occurrence replace a valid one', () => {
      const result = checkBars(
        [point({ close: 187.1 }), point({ close: 187.2, low: 190 })],
        TimeFrame.ONE_MINUTE,
      );

      expect(result.rows).toHaveLength(1);
      expect(result.rows[0]?.close).toBe(187.1);
      expect(result.supersededCount).toBe(0);
      expect(result.failedCount).toBe(1);
      expect(result.errors).toEqual([
        { index: 1, field: 'low', message: 'low must not exceed high' },
      ]);
    });

    it('should keep the event the stream stored latest, whatever its place in the batch', () => {
      const fromStream = (close: number, us: number) => {
        const p = point({ close });
        setStreamTime(p, us);
        return p;
      };
      const result = checkBars(
        [fromStream(187.1, 3_000), fromStream(187.2, 1_000), fromStream(187.3, 2_000)],
        TimeFrame.ONE_MINUTE,
      );

      expect(result.rows).toEqual([expect.objectContaining({ close: 187.1, streamTimeUs: 3_000 })]);
      expect(result.supersededCount).toBe(2);
    });

    it('should let a point without a stream time (REST, Redis) replace by its place', () => {
      const event = point({ close: 187.1 });
      setStreamTime(event, 5_000);
      const result = checkBars([event, point({ close: 187.2 })], TimeFrame.ONE_MINUTE);

      expect(result.rows).toEqual([expect.objectContaining({ close: 187.2, streamTimeUs: null })]);
    });

    it('should keep distinct timestamps in request order with nothing superseded', () => {
      const result = checkBars(
        [
          point({ timestamp: '2025-06-21T10:00:00Z' }),
          point({ timestamp: '2025-06-21T10:01:00Z' }),
          point({ timestamp: '2025-06-21T10:02:00Z' }),
        ],
        TimeFrame.ONE_MINUTE,
      );

      expect(result.rows.map((r) => r.timestampMs)).toEqual([
        UTC_10_00,
        UTC_10_00 + 60_000,
        UTC_10_00 + 120_000,
      ]);
      expect(result.supersededCount).toBe(0);
    });
  });

  describe('errors', () => {
    it('should report each failed point once with its index, in request order', () => {
      const result = checkBars(
        [point(), point({ open: 'x', volume: -1 }), without('close'), point({ source: 42 })],
        TimeFrame.ONE_MINUTE,
      );

      expect(result.errors).toEqual([
        { index: 1, field: 'open', message: 'open must be a finite number' },
        { index: 2, field: 'close', message: 'close is required' },
        {
          index: 3,
          field: 'source',
          message: 'source must be a string of at most 50 printable characters',
        },
      ]);
      expect(result.failedCount).toBe(3);
      expect(result.rows).toHaveLength(1);
    });

    it('should give each error exactly index, field and message', () => {
      const error = rejected(point({ volume: 'many' }));

      expect(Object.keys(error).sort()).toEqual(['field', 'index', 'message']);
    });

    it('should list at most MAX_REPORTED_ERRORS errors and still count every failure', () => {
      const bad = Array.from({ length: MAX_REPORTED_ERRORS + 5 }, () => point({ open: null }));
      const result = checkBars([...bad, point()], TimeFrame.ONE_MINUTE);

      expect(result.failedCount).toBe(MAX_REPORTED_ERRORS + 5);
      expect(result.errors).toHaveLength(MAX_REPORTED_ERRORS);
      expect(result.errors[MAX_REPORTED_ERRORS - 1]?.index).toBe(MAX_REPORTED_ERRORS - 1);
      expect(result.rows).toHaveLength(1);
    });
  });
});

describe('checkBars with a declared session', () => {
  const daily = (timestamp: string): RawPoint => ({ ...point(), timestamp });

  it('should accept a ONE_DAY bar at the session opening (DST either side) or at 00:00 UTC, and no other time', () => {
    const result = checkBars(
      [
        daily('2025-06-24T09:30:00-04:00'),
        daily('2025-01-24T09:30:00-05:00'),
        daily('2025-06-25T00:00:00Z'),
        daily('2025-06-26T09:30:00-05:00'),
        daily('2025-06-27T09:30:00.001-04:00'),
      ],
      TimeFrame.ONE_DAY,
      undefined,
      undefined,
      BUILT_IN_CALENDARS.XNYS,
    );
    expect(result.rows.map((r) => new Date(r.timestampMs).toISOString())).toEqual([
      '2025-06-24T13:30:00.000Z',
      '2025-01-24T14:30:00.000Z',
      '2025-06-25T00:00:00.000Z',
    ]);
    expect(result.errors.map((e) => [e.index, e.field, e.message])).toEqual([
      [
        3,
        'timestamp',
        "timestamp must start a ONE_DAY bar: 00:00 UTC, or the opening of the instrument's session (America/New_York 09:30-16:00 XNYS)",
      ],
      [4, 'timestamp', expect.stringContaining('XNYS')],
    ]);
  });

  it('should open an overnight session the local day before', () => {
    const result = checkBars(
      [daily('2025-03-08T17:00:00-06:00'), daily('2025-03-09T17:00:00-05:00')],
      TimeFrame.ONE_DAY,
      undefined,
      undefined,
      BUILT_IN_CALENDARS.CME_EQUITY,
    );
    expect(result.failedCount).toBe(0);
  });
});
