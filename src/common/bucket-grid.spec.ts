import { bucketGrid } from './bucket-grid';
import { TimeFrame } from './market-data.types';

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
