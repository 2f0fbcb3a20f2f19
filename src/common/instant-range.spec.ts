import { InvalidRequestError } from './errors';
import { toMicroRange, toRange } from './instant-range';

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('toRange and toMicroRange', () => {
  const start = '2025-01-01T00:00:00Z';

  it('should answer the same range in milliseconds and microseconds', () => {
    expect(toRange(start, '2025-01-02T00:00:00Z', 1)).toEqual({
      fromMs: Date.parse(start),
      toMs: Date.parse('2025-01-02T00:00:00Z'),
    });
    expect(toMicroRange(start, '2025-01-02T00:00:00Z', 1)).toEqual({
      fromUs: Date.parse(start) * 1000,
      toUs: Date.parse('2025-01-02T00:00:00Z') * 1000,
    });
  });

  it('should refuse a range one unit over the cap with the same error for both', () => {
    const bars = errorOf(() => toRange(start, '2025-01-02T00:00:00.001Z', 1));
    const ticks = errorOf(() => toMicroRange(start, '2025-01-02T00:00:00.000001Z', 1));

    expect(bars).toBeInstanceOf(InvalidRequestError);
    expect(ticks).toEqual(bars);
    expect(ticks).toMatchObject({
      field: 'end_time',
      message: 'end_time must be at most 1 days after start_time (MAX_QUERY_RANGE_DAYS)',
    });
  });

  it('should not cap a range when no cap is given', () => {
    expect(toMicroRange('1900-01-01T00:00:00Z', '2199-01-01T00:00:00Z').toUs).toBeGreaterThan(0);
  });

  it('should refuse an end not after the start, naming end_time', () => {
    expect(errorOf(() => toMicroRange(start, start))).toMatchObject({ field: 'end_time' });
    expect(errorOf(() => toRange(start, start))).toMatchObject({ field: 'end_time' });
  });
});
