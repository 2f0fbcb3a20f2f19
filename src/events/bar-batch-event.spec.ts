import { batchRejectionReason, expandEvent, MAX_BARS_PER_EVENT } from './bar-batch-event';

const bar = (instrument: string, minute: number, timeframe = 'ONE_MINUTE') => ({
  instrument_id: instrument,
  timeframe,
  timestamp: `2024-01-02T00:0${minute}:00Z`,
  ohlcv_data: { open: 1, high: 2, low: 1, close: 2, volume: 10 },
});

describe('expandEvent', () => {
  it('should leave a single-bar event (or anything that is not a batch) as it is', () => {
    const single = { event_id: 'e', timestamp: 't', market_data: bar('A', 0) };
    expect(expandEvent(single)).toEqual({ ok: true, events: [single], batch: false });
    expect(expandEvent('text')).toEqual({ ok: true, events: ['text'], batch: false });
    expect(expandEvent([1])).toEqual({ ok: true, events: [[1]], batch: false });
  });

  it('should make one single-bar event per bar, with the envelope of the batch', () => {
    const batch = {
      event_id: 'e',
      timestamp: 't',
      extra: 1,
      market_data: [bar('A', 0), bar('A', 1)],
    };

    const expanded = expandEvent(batch);

    expect(expanded).toEqual({
      ok: true,
      batch: true,
      events: [
        { event_id: 'e', timestamp: 't', extra: 1, market_data: bar('A', 0) },
        { event_id: 'e', timestamp: 't', extra: 1, market_data: bar('A', 1) },
      ],
    });
  });

  it.each([
    ['empty', [], /array of 1-10000 objects \(it has 0\)/],
    ['too long', Array.from({ length: MAX_BARS_PER_EVENT + 1 }, () => bar('A', 0)), /it has 10001/],
    [
      'with a bar that is not an object',
      [bar('A', 0), 7],
      /^market_data\[1\] must be a JSON object$/,
    ],
    [
      'of two instruments',
      [bar('A', 0), bar('B', 1)],
      /^market_data\[1\] must have the instrument_id and timeframe of market_data\[0\]/,
    ],
    [
      'of two timeframes',
      [bar('A', 0), bar('A', 5, 'FIVE_MINUTES')],
      /^market_data\[1\] must have the instrument_id/,
    ],
  ])('should refuse a batch %s as a whole', (_label, bars, reason) => {
    const expanded = expandEvent({ event_id: 'e', timestamp: 't', market_data: bars });
    expect(expanded.ok).toBe(false);
    expect(!expanded.ok && expanded.reason).toMatch(reason);
  });
});

describe('batchRejectionReason', () => {
  it('should name each refused bar by its position and say an envelope reason once', () => {
    expect(
      batchRejectionReason(5, [
        { bar: 0, reason: 'event_id must be a string' },
        { bar: 1, reason: 'event_id must be a string' },
        { bar: 3, reason: 'market_data.ohlcv_data.low must not exceed high' },
      ]),
    ).toBe(
      '3 of 5 bars refused (the others are stored): event_id must be a string; market_data[3].ohlcv_data.low must not exceed high',
    );
  });

  it('should list at most ten reasons and count the rest', () => {
    const refused = Array.from({ length: 12 }, (_, bar) => ({
      bar,
      reason: 'market_data.timestamp is not aligned',
    }));
    const reason = batchRejectionReason(20, refused);
    expect(reason).toMatch(/^12 of 20 bars refused/);
    expect(reason).toContain('market_data[9].timestamp is not aligned; and 2 more');
    expect(reason).not.toContain('market_data[10]');
  });
});
