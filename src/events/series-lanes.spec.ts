import { laneOfEvent, laneOfSeries } from './series-lanes';

function event(instrumentId: unknown, timeframe: unknown) {
  return { event_id: 'e', market_data: { instrument_id: instrumentId, timeframe } };
}

describe('series lanes', () => {
  it('should route every event of a series to the same lane', () => {
    for (let i = 0; i < 200; i++) {
      const lane = laneOfSeries(`I${i}`, 'ONE_MINUTE', 3);

      expect(laneOfEvent(event(`I${i}`, 'ONE_MINUTE'), 3)).toBe(lane);
      expect(laneOfSeries(`I${i}`, 'ONE_MINUTE', 3)).toBe(lane);
    }
  });

  it('should spread series over every lane', () => {
    const counts = [0, 0];
    for (let i = 0; i < 100; i++) {
      const lane = laneOfSeries(`BE${i}`, 'ONE_MINUTE', 2);
      counts[lane] = (counts[lane] ?? 0) + 1;
    }

    expect(counts[0]).toBeGreaterThan(30);
    expect(counts[1]).toBeGreaterThan(30);
  });

  it('should tell series apart by timeframe as well as instrument', () => {
    const lanes = new Set(
      ['ONE_MINUTE', 'FIVE_MINUTES', 'ONE_HOUR', 'ONE_DAY', 'FIFTEEN_MINUTES'].map((tf) =>
        laneOfSeries('AAPL', tf, 4),
      ),
    );

    expect(lanes.size).toBeGreaterThan(1);
  });

  it('should keep lanes in range and use lane 0 alone when there is one lane', () => {
    for (let i = 0; i < 100; i++) {
      const lane = laneOfSeries(`X${i}`, 'ONE_DAY', 5);

      expect(lane).toBeGreaterThanOrEqual(0);
      expect(lane).toBeLessThan(5);
      expect(laneOfSeries(`X${i}`, 'ONE_DAY', 1)).toBe(0);
    }
  });

  it('should route a batch event by its first bar, to the lane of its series', () => {
    for (let i = 0; i < 30; i++) {
      const bars = [event(`I${i}`, 'ONE_MINUTE').market_data, { instrument_id: 'other' }];
      expect(laneOfEvent({ market_data: bars }, 3)).toBe(laneOfSeries(`I${i}`, 'ONE_MINUTE', 3));
    }
    expect(laneOfEvent({ market_data: [] }, 3)).toBe(0);
  });

  it('should send an event without a readable series to lane 0', () => {
    expect(laneOfEvent(null, 4)).toBe(0);
    expect(laneOfEvent('text', 4)).toBe(0);
    expect(laneOfEvent({ market_data: 'x' }, 4)).toBe(0);
    expect(laneOfEvent(event(42, 'ONE_MINUTE'), 4)).toBe(0);
    expect(laneOfEvent(event('AAPL', undefined), 4)).toBe(0);
  });
});
