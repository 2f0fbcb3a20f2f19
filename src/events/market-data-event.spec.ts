import { TimeFrame } from '../common/market-data.types';
import { eventPathOf, parseMarketDataEvent } from './market-data-event';

function event(overrides: Record<string, unknown> = {}, marketData: Record<string, unknown> = {}) {
  return {
    event_id: 'evt-1',
    timestamp: '2025-06-21T10:00:05.123Z',
    market_data: {
      instrument_id: 'AAPL',
      timeframe: 'FIVE_MINUTES',
      timestamp: '2025-06-21T10:00:00Z',
      ohlcv_data: { open: 187.25, high: 187.9, low: 186.8, close: 187.5, volume: 125000 },
      quality_score: 0.9,
      source_attribution: 'NASDAQ',
      ...marketData,
    },
    ...overrides,
  };
}

function reasonOf(value: unknown): string {
  const parsed = parseMarketDataEvent(value);
  if (parsed.ok) throw new Error('expected a rejection');
  return parsed.reason;
}

describe('parseMarketDataEvent', () => {
  it('should map an event of the spec to its series and a MarketDataPoint', () => {
    expect(parseMarketDataEvent(event())).toEqual({
      ok: true,
      event: {
        eventId: 'evt-1',
        series: { instrumentId: 'AAPL', timeframe: TimeFrame.FIVE_MINUTES },
        point: {
          timestamp: '2025-06-21T10:00:00Z',
          open: 187.25,
          high: 187.9,
          low: 186.8,
          close: 187.5,
          volume: 125000,
          quality_score: 0.9,
          source: 'NASDAQ',
        },
      },
    });
  });

  it('should carry the optional OHLCV fields and leave out what the event does not have', () => {
    const parsed = parseMarketDataEvent(
      event(
        {},
        {
          ohlcv_data: {
            open: 1,
            high: 1,
            low: 1,
            close: 1,
            volume: '9223372036854775807',
            dollar_volume: 5,
            trade_count: 3,
          },
          quality_score: undefined,
          source_attribution: undefined,
        },
      ),
    );

    expect(parsed.ok && parsed.event.point).toEqual({
      timestamp: '2025-06-21T10:00:00Z',
      open: 1,
      high: 1,
      low: 1,
      close: 1,
      volume: '9223372036854775807',
      dollar_volume: 5,
      trade_count: 3,
    });
  });

  it.each([
    ['not an object', 'market data', 'event must be a JSON object'],
    ['an array', [], 'event must be a JSON object'],
    ['an unknown field', event({ extra: 1 }), 'extra is not an accepted field'],
    [
      'no event_id',
      event({ event_id: undefined }),
      'event_id must be a string of 1-200 printable characters',
    ],
    [
      'an empty event_id',
      event({ event_id: '' }),
      'event_id must be a string of 1-200 printable characters',
    ],
    [
      'a bad timestamp',
      event({ timestamp: '21/06/2025' }),
      'timestamp must be an ISO-8601 time with a zone, e.g. 2025-06-21T10:00:00Z',
    ],
    ['no market_data', event({ market_data: null }), 'market_data must be a JSON object'],
    [
      'an unknown market_data field',
      event({}, { price: 1 }),
      'market_data.price is not an accepted field',
    ],
    [
      'a bad instrument_id',
      event({}, { instrument_id: 'A\nB' }),
      'market_data.instrument_id must be 1-20 printable characters: no control or invisible formatting characters, no leading or trailing space',
    ],
    [
      'an unknown timeframe',
      event({}, { timeframe: 'TEN_MINUTES' }),
      'market_data.timeframe must be one of ONE_MINUTE, FIVE_MINUTES, FIFTEEN_MINUTES, ONE_HOUR, ONE_DAY',
    ],
    ['no ohlcv_data', event({}, { ohlcv_data: 5 }), 'market_data.ohlcv_data must be a JSON object'],
    [
      'a field ohlcv_data does not have',
      event({}, { ohlcv_data: { open: 1, high: 1, low: 1, close: 1, volume: 1, timestamp: 'x' } }),
      'market_data.ohlcv_data.timestamp is not an accepted field',
    ],
  ])('should refuse %s, naming the field', (_, value, reason) => {
    expect(reasonOf(value)).toBe(reason);
  });

  it('should leave the bar rules to checkBars (a bad price passes the envelope)', () => {
    const parsed = parseMarketDataEvent(event({}, { ohlcv_data: { open: 'x' } }));

    expect(parsed.ok).toBe(true);
  });
});

describe('eventPathOf', () => {
  it('should name a MarketDataPoint field by where the event carries it', () => {
    expect(
      ['timestamp', 'open', 'volume', 'source', 'quality_score', 'data_point'].map(eventPathOf),
    ).toEqual([
      'market_data.timestamp',
      'market_data.ohlcv_data.open',
      'market_data.ohlcv_data.volume',
      'market_data.source_attribution',
      'market_data.quality_score',
      'market_data',
    ]);
  });
});
