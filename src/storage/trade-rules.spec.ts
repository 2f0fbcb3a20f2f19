import { checkTrades } from './trade-rules';

const T = '2025-06-23T14:00:00.000123Z';
const US = Date.parse('2025-06-23T14:00:00.000Z') * 1000 + 123;

describe('checkTrades', () => {
  it('should keep microseconds and take a numeric trade id as its decimal text', () => {
    const checked = checkTrades([{ timestamp: T, price: 10.5, size: 3, trade_id: 77 }]);

    expect(checked.rows).toEqual([
      {
        timestampUs: US,
        key: '77',
        price: 10.5,
        size: 3,
        conditions: null,
        qualityScore: 1,
        source: null,
      },
    ]);
  });

  it('should keep the last of a repeated (timestamp, trade_id) and count the earlier as superseded', () => {
    const checked = checkTrades([
      { timestamp: T, price: 1, size: 1, trade_id: 'A' },
      { timestamp: T, price: 2, size: 1, trade_id: 'A' },
      { timestamp: '2025-06-23T14:00:00.000124Z', price: 3, size: 1, trade_id: 'A' },
    ]);

    expect(checked.rows.map((r) => [r.key, r.price])).toEqual([
      ['A', 2],
      ['A', 3],
    ]);
    expect(checked.supersededCount).toBe(1);
  });

  it('should give identical prints without a trade id distinct keys, the same on a replay', () => {
    const points = [
      { timestamp: T, price: 1, size: 5 },
      { timestamp: T, price: 1, size: 5 },
      { timestamp: T, price: 1, size: 6 },
    ];

    const first = checkTrades(points);
    const replay = checkTrades(points);

    expect(first.rows.map((r) => r.key)).toEqual(['~1:5:0', '~1:5:1', '~1:6:0']);
    expect(replay.rows).toEqual(first.rows);
    expect(first.supersededCount).toBe(0);
  });

  it.each([
    [{ timestamp: T, price: 1 }, 'size', 'size is required'],
    [{ timestamp: T, price: Infinity, size: 1 }, 'price', 'price must be a finite number'],
    [{ timestamp: T, price: 1, size: -0.5 }, 'size', 'size must be a finite number >= 0'],
    [
      { timestamp: '2025-06-23T14:00:00.0000001Z', price: 1, size: 1 },
      'timestamp',
      'timestamp must not have digits below the microsecond',
    ],
    [{ timestamp: '2025-06-23T14:00:00', price: 1, size: 1 }, 'timestamp', undefined],
    [{ timestamp: T, price: 1, size: 1, trade_id: '' }, 'trade_id', undefined],
    [{ timestamp: T, price: 1, size: 1, trade_id: '~x' }, 'trade_id', undefined],
    [{ timestamp: T, price: 1, size: 1, trade_id: 1.5 }, 'trade_id', undefined],
    [{ timestamp: T, price: 1, size: 1, trade_id: 'x'.repeat(65) }, 'trade_id', undefined],
    [{ timestamp: T, price: 1, size: 1, conditions: 'F' }, 'conditions', undefined],
    [{ timestamp: T, price: 1, size: 1, conditions: ['a,b'] }, 'conditions', undefined],
    [{ timestamp: T, price: 1, size: 1, conditions: ['"'] }, 'conditions', undefined],
    [{ timestamp: T, price: 1, size: 1, quality_score: 2 }, 'quality_score', undefined],
    [{ timestamp: T, price: 1, size: 1, volume: 2 }, 'volume', undefined],
    ['not an object', 'data_point', undefined],
  ])('should reject %p naming %s', (point, field, message) => {
    const checked = checkTrades([{ timestamp: T, price: 1, size: 1 }, point]);

    expect(checked.rows).toHaveLength(1);
    expect(checked.failedCount).toBe(1);
    expect(checked.errors).toEqual([
      { index: 1, field, message: message ?? expect.stringMatching(new RegExp(`^${field} `)) },
    ]);
  });
});
