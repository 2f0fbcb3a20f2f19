import { expandEvent } from '../events/bar-batch-event';
import { parseMarketDataEvent } from '../events/market-data-event';
import { setStreamTime, streamTimeOf, streamTimeUsOfNanos } from './stream-time';

const EVENT = {
  event_id: 'e-1',
  timestamp: '2025-06-21T10:00:05Z',
  market_data: {
    instrument_id: 'AAPL',
    timeframe: 'ONE_MINUTE',
    timestamp: '2025-06-21T10:00:00Z',
    ohlcv_data: { open: 1, high: 2, low: 0.5, close: 1.5, volume: 10 },
    quality_score: 1,
    source_attribution: 'feed',
  },
};

describe('stream time', () => {
  it('should travel from a decoded event through batch expansion to its point, not as a field', () => {
    const value = JSON.parse(
      JSON.stringify({ ...EVENT, market_data: [EVENT.market_data, EVENT.market_data] }),
    ) as unknown;
    setStreamTime(value, 1_750_500_000_123_456);

    const expanded = expandEvent(value);
    if (!expanded.ok) throw new Error(expanded.reason);
    const parsed = expanded.events.map((e) => parseMarketDataEvent(e));

    expect(parsed.map((p) => p.ok)).toEqual([true, true]);
    for (const p of parsed) {
      if (!p.ok) continue;
      expect(streamTimeOf(p.event.point)).toBe(1_750_500_000_123_456);
      expect(Object.keys(p.event.point)).not.toContain('streamTimeUs');
    }
    expect(JSON.stringify(value)).not.toContain('1750500000123456');
  });

  it('should be null where no stream set it', () => {
    expect(streamTimeOf({ ...EVENT })).toBeNull();
    expect(streamTimeOf(null)).toBeNull();
    expect(streamTimeOf('text')).toBeNull();
  });

  it('should turn JetStream nanoseconds (parsed as nats.js does) into microseconds, in order', () => {
    const nanos = (text: string) => parseInt(text, 10);

    expect(streamTimeUsOfNanos(nanos('1750500000123456789'))).toBe(1_750_500_000_123_456);
    expect(streamTimeUsOfNanos(nanos('1750500000123457000'))).toBeGreaterThan(
      streamTimeUsOfNanos(nanos('1750500000123456000')),
    );
  });
});
