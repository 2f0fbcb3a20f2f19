import { fillValues } from './fill.sql';

const at = (iso: string) => Date.parse(iso);

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
