import {
  epochMicros,
  formatInstant,
  formatInstantMicros,
  isWithinAcceptedRange,
  MAX_TIMESTAMP_MS,
  MIN_TIMESTAMP_MS,
  parseIsoInstant,
} from './time';

const UTC_10_00 = Date.UTC(2025, 5, 21, 10, 0);

describe('parseIsoInstant', () => {
  it.each([
    ['2025-06-21T10:00:00Z', UTC_10_00],
    ['2025-06-21T10:00Z', UTC_10_00],
    ['2025-06-21t10:00:00z', UTC_10_00],
    ['2025-06-21T10:00:00.123Z', UTC_10_00 + 123],
    ['2025-06-21T10:00:00.5Z', UTC_10_00 + 500],
    ['2025-06-21T10:00:00.12Z', UTC_10_00 + 120],
    ['2025-06-21T10:00:59.999Z', UTC_10_00 + 59_999],
    ['2025-06-21T23:59:59Z', Date.UTC(2025, 5, 21, 23, 59, 59)],
  ])('should parse %s', (value, ms) => {
    expect(parseIsoInstant(value)).toMatchObject({ ms, subMillisecond: false });
  });

  it.each([
    ['+05:30', '2025-06-21T15:30:00+05:30'],
    ['+0530', '2025-06-21T15:30:00+0530'],
    ['-05:00', '2025-06-21T05:00:00-05:00'],
    ['-09:30', '2025-06-21T00:30:00-09:30'],
    ['+00:00', '2025-06-21T10:00:00+00:00'],
    ['-00:00', '2025-06-21T10:00:00-00:00'],
    ['+14:00 across a date', '2025-06-22T00:00:00+14:00'],
  ])('should convert the offset %s to UTC', (_name, value) => {
    expect(parseIsoInstant(value)?.ms).toBe(UTC_10_00);
  });

  it.each([
    ['microseconds', '2025-06-21T10:00:00.000001Z', UTC_10_00],
    ['nanoseconds', '2025-06-21T10:00:00.123000001Z', UTC_10_00 + 123],
    ['sub-millisecond digits after an offset', '2025-06-21T12:00:00.0005+02:00', UTC_10_00],
  ])('should flag %s below the millisecond', (_name, value, ms) => {
    expect(parseIsoInstant(value)).toMatchObject({ ms, subMillisecond: true });
  });

  it('should not flag zero digits below the millisecond', () => {
    expect(parseIsoInstant('2025-06-21T10:00:00.123000000Z')).toEqual({
      ms: UTC_10_00 + 123,
      subMillisecond: false,
      micros: 0,
      subMicrosecond: false,
    });
  });

  it.each([
    ['2025-06-21T10:00:00.123456Z', UTC_10_00 + 123, 456, false],
    ['2025-06-21T10:00:00.000001Z', UTC_10_00, 1, false],
    ['2025-06-21T10:00:00.1234Z', UTC_10_00 + 123, 400, false],
    ['2025-06-21T10:00:00.123456000Z', UTC_10_00 + 123, 456, false],
    ['2025-06-21T10:00:00.123456789Z', UTC_10_00 + 123, 456, true],
    ['2025-06-21T10:00:00.000000001Z', UTC_10_00, 0, true],
    ['1969-12-31T23:59:59.999999Z', -1, 999, false],
  ])('should read the microseconds of %s', (value, ms, micros, subMicrosecond) => {
    expect(parseIsoInstant(value)).toMatchObject({ ms, micros, subMicrosecond });
  });

  it.each([
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['1970-01-01T00:00:00Z', 0],
    ['1969-12-31T23:59:59.999Z', -1],
  ])('should parse the calendar date %s', (value, ms) => {
    expect(parseIsoInstant(value)?.ms).toBe(ms);
  });

  it('should read years below 100 as themselves, not as 19xx', () => {
    const parsed = parseIsoInstant('0099-06-21T00:00:00Z');

    expect(parsed).not.toBeNull();
    expect(new Date(parsed!.ms).getUTCFullYear()).toBe(99);
    expect(parsed!.ms).toBeLessThan(MIN_TIMESTAMP_MS);
  });

  it.each([
    ['no zone', '2025-06-21T10:00:00'],
    ['a date only', '2025-06-21'],
    ['a space for T', '2025-06-21 10:00:00Z'],
    ['an hour-only offset', '2025-06-21T10:00:00+05'],
    ['an offset of 24 hours', '2025-06-21T10:00:00+24:00'],
    ['an offset of 60 minutes', '2025-06-21T10:00:00+05:60'],
    ['a named zone', '2025-06-21T10:00:00 UTC'],
    ['trailing text', '2025-06-21T10:00:00Zjunk'],
    ['ten fraction digits', '2025-06-21T10:00:00.0000000000Z'],
    ['a dot without digits', '2025-06-21T10:00:00.Z'],
    ['a fraction without seconds', '2025-06-21T10:00.5Z'],
    ['February 29th of a common year', '2025-02-29T00:00:00Z'],
    ['February 29th of 1900', '1900-02-29T00:00:00Z'],
    ['April 31st', '2025-04-31T00:00:00Z'],
    ['day 0', '2025-06-00T00:00:00Z'],
    ['month 0', '2025-00-21T00:00:00Z'],
    ['month 13', '2025-13-01T00:00:00Z'],
    ['hour 24', '2025-06-21T24:00:00Z'],
    ['minute 60', '2025-06-21T10:60:00Z'],
    ['second 60', '2025-06-21T10:00:60Z'],
    ['a five-digit year', '12025-06-21T10:00:00Z'],
    ['an empty string', ''],
  ])('should answer null for %s', (_name, value) => {
    expect(parseIsoInstant(value)).toBeNull();
  });

  it.each([
    ['a number', UTC_10_00],
    ['a Date', new Date(UTC_10_00)],
    ['null', null],
    ['undefined', undefined],
    ['an object', { timestamp: '2025-06-21T10:00:00Z' }],
  ])('should answer null for %s', (_name, value) => {
    expect(parseIsoInstant(value)).toBeNull();
  });
});

describe('formatInstant', () => {
  it.each([
    [0, '1970-01-01T00:00:00.000Z'],
    [UTC_10_00, '2025-06-21T10:00:00.000Z'],
    [UTC_10_00 + 7, '2025-06-21T10:00:00.007Z'],
    [-1, '1969-12-31T23:59:59.999Z'],
    [MIN_TIMESTAMP_MS, '1900-01-01T00:00:00.000Z'],
  ])('should format %p as %p', (ms, expected) => {
    expect(formatInstant(ms)).toBe(expected);
  });

  it('should give back the instant parseIsoInstant read from an offset time', () => {
    const parsed = parseIsoInstant('2025-06-21T15:30:00.250+05:30');

    expect(formatInstant(parsed!.ms)).toBe('2025-06-21T10:00:00.250Z');
  });
});

describe('formatInstantMicros', () => {
  it.each([
    [0, '1970-01-01T00:00:00.000000Z'],
    [UTC_10_00 * 1000 + 123_456, '2025-06-21T10:00:00.123456Z'],
    [-1, '1969-12-31T23:59:59.999999Z'],
    [MIN_TIMESTAMP_MS * 1000 + 1, '1900-01-01T00:00:00.000001Z'],
    [(MAX_TIMESTAMP_MS - 1) * 1000 + 999, '2199-12-31T23:59:59.999999Z'],
  ])('should format %p as %p', (us, expected) => {
    expect(formatInstantMicros(us)).toBe(expected);
  });

  it('should give back exactly the microseconds parseIsoInstant read', () => {
    for (const value of [
      '2025-06-21T10:00:00.000001Z',
      '2025-06-21T10:00:00.999999Z',
      '1900-01-01T00:00:00.500001Z',
      '1969-12-31T23:59:59.000001Z',
    ]) {
      expect(formatInstantMicros(epochMicros(parseIsoInstant(value)!))).toBe(value);
    }
  });
});

describe('isWithinAcceptedRange', () => {
  it.each([
    [MIN_TIMESTAMP_MS, true],
    [MIN_TIMESTAMP_MS - 1, false],
    [MAX_TIMESTAMP_MS - 1, true],
    [MAX_TIMESTAMP_MS, false],
    [0, true],
    [Date.UTC(2100, 0, 1), true],
  ])('should answer %p -> %p', (ms, expected) => {
    expect(isWithinAcceptedRange(ms)).toBe(expected);
  });
});
