import { JetStreamClient, NatsConnection } from 'nats';
import { randomUUID } from 'node:crypto';
import { formatInstantMicros } from '../src/common/time';
import {
  Collector,
  connectNats,
  deleteStream,
  EventNames,
  publishAll,
  uniqueEventNames,
  waitFor,
  waitForConsumer,
} from './support/events';
import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

/**
 * Trades and quotes as normalized_market_data events over the real NATS
 * JetStream (docs/trades-and-quotes.md): market_data.data_type names them,
 * trade_data / quote_data carry the values, the REST rules apply, invalid
 * ones are dead-lettered with the reason.
 */
const OPEN_US = Date.parse('2025-06-24T13:30:00Z') * 1000;

function tradeEvent(instrumentId: string, i: number, tradeData: Record<string, unknown> = {}) {
  return {
    event_id: randomUUID(),
    timestamp: new Date().toISOString(),
    market_data: {
      instrument_id: instrumentId,
      data_type: 'TRADE',
      timestamp: formatInstantMicros(OPEN_US + i * 1_500 + (i % 7)),
      trade_data: { price: 100 + (i % 50) / 100, size: 100, trade_id: `E${i}`, ...tradeData },
      source_attribution: 'feed',
    },
  };
}

function quoteEvent(instrumentId: string, i: number, quoteData: Record<string, unknown> = {}) {
  return {
    event_id: randomUUID(),
    timestamp: new Date().toISOString(),
    market_data: {
      instrument_id: instrumentId,
      data_type: 'QUOTE',
      timestamp: formatInstantMicros(OPEN_US + i * 2_000),
      quote_data: { bid: 100, ask: 100.02, bid_size: 200, ask_size: 300, ...quoteData },
    },
  };
}

describe.each(ENGINES)('trade and quote events on %s', (engine) => {
  let names: EventNames;
  let harness: TestApp;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let deadLetters: Collector<{ reason: string }>;

  const count = async (instrument_id: string, data_type: string) => {
    const params = new URLSearchParams({
      instrument_id,
      data_type,
      start_time: '2025-06-24T00:00:00Z',
      end_time: '2025-06-25T00:00:00Z',
      limit: '1',
    });
    const res = await request(harness.baseUrl, 'GET', `/api/v1/storage/query?${params.toString()}`);
    return res.body.total_count as number;
  };

  beforeAll(async () => {
    names = uniqueEventNames(`tq_${engine}`);
    nc = await connectNats();
    js = nc.jetstream();
    deadLetters = new Collector(nc, names.subjects.deadLetter);
    harness = await startTestApp(engine, names.env);
    await waitForConsumer(harness.baseUrl);
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it('should store trades and quotes published as events, once even when published twice', async () => {
    const trades = Array.from({ length: 2_000 }, (_, i) => tradeEvent('EVT.T', i));
    const quotes = Array.from({ length: 500 }, (_, i) => quoteEvent('EVT.T', i));
    await publishAll(js, names.subjects.input, [...trades, ...quotes]);
    await publishAll(js, names.subjects.input, trades.slice(0, 300));

    await waitFor('every trade and quote', async () => {
      return (await count('EVT.T', 'TRADE')) === 2_000 && (await count('EVT.T', 'QUOTE')) === 500;
    });
    const latest = await request(
      harness.baseUrl,
      'GET',
      '/api/v1/storage/instruments/EVT.T/latest?data_type=TRADE',
    );
    expect(latest.body).toEqual({
      timestamp: trades[1_999].market_data.timestamp,
      price: trades[1_999].market_data.trade_data.price,
      size: 100,
      trade_id: 'E1999',
      conditions: null,
      source: 'feed',
    });
  }, 120_000);

  it('should dead-letter trade and quote events that break a rule, naming the path', async () => {
    await publishAll(js, names.subjects.input, [
      quoteEvent('EVT.BAD', 1, { bid: 101 }),
      tradeEvent('EVT.BAD', 2, { size: -5 }),
      {
        ...tradeEvent('EVT.BAD', 3),
        market_data: { ...tradeEvent('EVT.BAD', 3).market_data, ohlcv_data: {} },
      },
      tradeEvent('EVT.BAD', 4),
    ]);

    await waitFor('three dead letters', () => deadLetters.received.length >= 3);
    expect(deadLetters.received.map((d) => d.reason).sort()).toEqual([
      'market_data.ohlcv_data is not an accepted field',
      'market_data.quote_data.bid must not exceed ask',
      'market_data.trade_data.size must be a finite number >= 0',
    ]);
    await waitFor('the valid trade', async () => (await count('EVT.BAD', 'TRADE')) === 1);
    expect(await count('EVT.BAD', 'QUOTE')).toBe(0);
  }, 120_000);
});
