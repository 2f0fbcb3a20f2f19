import { TimeFrame } from '../common/market-data.types';
import { bucketGrid, fillValues } from './fill.sql';

const at = (iso: string) => Date.parse(iso);

describe('bucketGrid', () => {
  it('should hold the buckets starting in [from, to), the ends rounded up to the timeframe', () => {
    const grid = bucketGrid(TimeFrame.FIVE_MINUTES, {
      fromMs: at('2025-06-21T10:02:00Z'),
      toMs: at('2025-06-21T10:20:00Z'),
    });

    expect(grid).toEqual({ firstMs: at('2025-06-21T10:05:00Z'), stepMs: 300_000, count: 3 });
  });

  it('should count a bucket starting at the end as outside the range', () => {
    const grid = bucketGrid(TimeFrame.ONE_DAY, {
      fromMs: at('2025-06-21T00:00:00Z'),
      toMs: at('2025-06-23T00:00:00Z'),
    });

    expect(grid.count).toBe(2);
  });

  it('should be empty when no bucket starts in the range', () => {
    const grid = bucketGrid(TimeFrame.ONE_HOUR, {
      fromMs: at('2025-06-21T10:10:00Z'),
      toMs: at('2025-06-21T10:50:00Z'),
    });

    expect(grid.count).toBe(0);
  });
});

describe('fillValues', () => {
  it('should give the first and last bucket and the width in seconds', () => {
    expect(fillValues({ firstMs: at('2025-06-21T10:00:00Z'), stepMs: 60_000, count: 10 })).toEqual([
      '2025-06-21T10:00:00.000Z',
      '2025-06-21T10:09:00.000Z',
      60,
    ]);
  });

  it('should end before its first bucket when the grid is empty', () => {
    expect(
      fillValues({ firstMs: at('2025-06-21T11:00:00Z'), stepMs: 3_600_000, count: 0 }),
    ).toEqual(['2025-06-21T11:00:00.000Z', '2025-06-21T10:00:00.000Z', 3600]);
  });
});
