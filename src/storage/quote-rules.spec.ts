import { checkQuotes } from './quote-rules';

const Q = {
  timestamp: '2025-06-23T14:30:00.000250Z',
  bid: 99.5,
  ask: 99.52,
  bid_size: 300,
  ask_size: 0,
};

describe('checkQuotes', () => {
  it('should accept a locked market (bid = ask) and a zero size', () => {
    const checked = checkQuotes([{ ...Q, bid: 99.52 }]);

    expect(checked.errors).toEqual([]);
    expect(checked.rows).toEqual([
      {
        timestampUs: Date.parse('2025-06-23T14:30:00.000Z') * 1000 + 250,
        bid: 99.52,
        ask: 99.52,
        bidSize: 300,
        askSize: 0,
        source: '',
      },
    ]);
  });

  it('should keep one quote per timestamp and source, the last one', () => {
    const checked = checkQuotes([Q, { ...Q, source: 'ARCX' }, { ...Q, bid: 99.51 }]);

    expect(checked.rows.map((r) => [r.source, r.bid])).toEqual([
      ['', 99.51],
      ['ARCX', 99.5],
    ]);
    expect(checked.supersededCount).toBe(1);
  });

  it('should report every broken rule by index and field', () => {
    const checked = checkQuotes([
      { ...Q, bid: 100 },
      { ...Q, ask_size: -1 },
      { ...Q, bid_size: NaN },
      { ...Q, bid: undefined },
      { ...Q, size: 1 },
      Q,
    ]);

    expect(checked.errors).toEqual([
      { index: 0, field: 'bid', message: 'bid must not exceed ask' },
      { index: 1, field: 'ask_size', message: 'ask_size must be a finite number >= 0' },
      { index: 2, field: 'bid_size', message: 'bid_size must be a finite number >= 0' },
      { index: 3, field: 'bid', message: 'bid is required' },
      { index: 4, field: 'size', message: 'size is not a field of this data type' },
    ]);
    expect(checked.failedCount).toBe(5);
    expect(checked.rows).toHaveLength(1);
  });
});
