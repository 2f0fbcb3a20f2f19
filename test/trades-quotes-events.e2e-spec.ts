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
import { capabilitiesOf, ENGINES } from './support/test-database';

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

interface StoredEvent {
  event_id: string;
  timestamp: string;
  storage_data: {
    instrument_id: string;
    data_type?: string;
    stored_count: number;
    [key: string]: unknown;
  };
}

describe.each(ENGINES)('trade and quote events on %s', (engine) => {
  let names: EventNames;
  let harness: TestApp;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let deadLetters: Collector<{ reason: string }>;
  let outputs: Collector<StoredEvent>;
  const timescale = capabilitiesOf(engine).timescale;
  const location = (table: string) =>
    timescale ? /^_timescaledb_internal\._hyper_\d+_\d+_chunk$/ : new RegExp(`^${table}_y2025m06$`);
  const announced = (instrumentId: string, dataType: string) =>
    outputs.received.filter(
      (o) => o.storage_data.instrument_id === instrumentId && o.storage_data.data_type === dataType,
    );
  const announcedCount = (instrumentId: string, dataType: string) =>
    announced(instrumentId, dataType).reduce((n, o) => n + o.storage_data.stored_count, 0);

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
    outputs = new Collector(nc, names.subjects.output);
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

  it('should announce trade and quote events with market_data_stored naming the data type, counts and time range', async () => {
    const trades = Array.from({ length: 60 }, (_, i) => tradeEvent('EVT.OUT', i));
    const quotes = Array.from({ length: 20 }, (_, i) => quoteEvent('EVT.OUT', i));
    await publishAll(js, names.subjects.input, [...trades, ...quotes]);

    await waitFor(
      'the announcements',
      () => announcedCount('EVT.OUT', 'TRADE') >= 60 && announcedCount('EVT.OUT', 'QUOTE') >= 20,
    );
    const tradeOut = announced('EVT.OUT', 'TRADE');
    const quoteOut = announced('EVT.OUT', 'QUOTE');
    expect([announcedCount('EVT.OUT', 'TRADE'), announcedCount('EVT.OUT', 'QUOTE')]).toEqual([
      60, 20,
    ]);
    for (const [out, table] of [
      [tradeOut, 'market_trades_ts'],
      [quoteOut, 'market_quotes_ts'],
    ] as const) {
      for (const o of out) {
        expect(o).toEqual({
          event_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          storage_data: {
            instrument_id: 'EVT.OUT',
            timeframe: null,
            data_type: table === 'market_trades_ts' ? 'TRADE' : 'QUOTE',
            stored_count: expect.any(Number),
            storage_time_ms: expect.any(Number),
            compression_ratio: 0,
            storage_location: expect.stringMatching(location(table)),
            oldest_timestamp: expect.stringMatching(/^2025-06-24T13:30:\d\d\.\d{6}Z$/),
            newest_timestamp: expect.stringMatching(/^2025-06-24T13:30:\d\d\.\d{6}Z$/),
          },
        });
      }
    }
    // The time ranges announced cover exactly the first and the last point published.
    const oldest = (out: StoredEvent[]) =>
      out.map((o) => o.storage_data.oldest_timestamp as string).sort()[0];
    const newest = (out: StoredEvent[]) =>
      out.map((o) => o.storage_data.newest_timestamp as string).sort()[out.length - 1];
    expect([oldest(tradeOut), newest(tradeOut)]).toEqual([
      trades[0].market_data.timestamp,
      trades[59].market_data.timestamp,
    ]);
    expect([oldest(quoteOut), newest(quoteOut)]).toEqual([
      quotes[0].market_data.timestamp,
      quotes[19].market_data.timestamp,
    ]);
  }, 120_000);

  it('should announce a REST store of trades, ticks and quotes on the same subject', async () => {
    const points = [
      { timestamp: '2025-06-24T15:00:00.000007Z', price: 10, size: 1 },
      { timestamp: '2025-06-24T15:00:01.000009Z', price: 10.5, size: 2, trade_id: 'R2' },
    ];
    const store = (data_type: string, instrument_id: string, data_points: unknown[]) =>
      request(harness.baseUrl, 'POST', '/api/v1/storage/store', {
        instrument_id,
        timeframe: 'ONE_MINUTE',
        data_type,
        compression: 'MEDIUM',
        data_points,
      });
    const trade = await store('TRADE', 'REST.T', points);
    const tick = await store('TICK', 'REST.K', points);
    const quote = await store('QUOTE', 'REST.Q', [
      { timestamp: '2025-06-24T15:00:00.000003Z', bid: 1, ask: 2, bid_size: 1, ask_size: 1 },
    ]);
    expect([trade.status, tick.status, quote.status]).toEqual([200, 200, 200]);

    await waitFor(
      'the REST announcements',
      () =>
        announcedCount('REST.T', 'TRADE') >= 2 &&
        announcedCount('REST.K', 'TRADE') >= 2 &&
        announcedCount('REST.Q', 'QUOTE') >= 1,
    );
    expect(announced('REST.T', 'TRADE').map((o) => o.storage_data)).toEqual([
      {
        instrument_id: 'REST.T',
        timeframe: null,
        data_type: 'TRADE',
        stored_count: 2,
        storage_time_ms: trade.body.storage_time_ms,
        compression_ratio: trade.body.compression_ratio,
        storage_location: expect.stringMatching(location('market_trades_ts')),
        oldest_timestamp: '2025-06-24T15:00:00.000007Z',
        newest_timestamp: '2025-06-24T15:00:01.000009Z',
      },
    ]);
    // A TICK is stored, and announced, as a trade.
    expect(announced('REST.K', 'TRADE')).toHaveLength(1);
    expect(announced('REST.Q', 'QUOTE').map((o) => o.storage_data)).toEqual([
      expect.objectContaining({
        stored_count: 1,
        storage_time_ms: quote.body.storage_time_ms,
        storage_location: expect.stringMatching(location('market_quotes_ts')),
        oldest_timestamp: '2025-06-24T15:00:00.000003Z',
        newest_timestamp: '2025-06-24T15:00:00.000003Z',
      }),
    ]);
  });

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
