import { JetStreamClient, NatsConnection } from 'nats';
import { makeBars } from './support/bars';
import {
  batchEventOf,
  Collector,
  connectNats,
  countStored,
  deleteStream,
  eventOf,
  EventNames,
  makeEvents,
  MarketDataEventPayload,
  publishAll,
  storedCountOf,
  uniqueEventNames,
  waitFor,
  waitForConsumer,
} from './support/events';
import { metricValue } from './support/metrics-text';
import { request, startTestApp, TestApp } from './support/test-app';
import { capabilitiesOf, ENGINES } from './support/test-database';

/**
 * NATS JetStream input and output end to end (DESIGN 5), against the real
 * NATS on 127.0.0.1:4222: the app consumes `normalized_market_data` from a
 * stream of its own (unique names per suite), stores in batches, announces
 * each commit with `market_data_stored` and dead-letters what it cannot store.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface StoredEvent {
  event_id: string;
  timestamp: string;
  storage_data: {
    instrument_id: string;
    timeframe: string;
    stored_count: number;
    storage_time_ms: number;
    compression_ratio: number;
    storage_location: string;
  };
}

interface DeadLetter {
  reason: string;
  transport: string;
  subject: string;
  deliveries: number;
  stream_sequence: number;
  payload: string;
}

describe.each(ENGINES)('JetStream events on %s', (engine) => {
  /** 50,000 on a server; fewer on the embedded engine (one connection, slower). */
  const { embedded, timescale } = capabilitiesOf(engine);
  const PER_INSTRUMENT = embedded ? 250 : 2_500;
  const INSTRUMENTS = Array.from({ length: 20 }, (_, i) => `EV${i}`);
  const TOTAL = PER_INSTRUMENT * INSTRUMENTS.length;
  const LOCATION = timescale
    ? /^_timescaledb_internal\._hyper_\d+_\d+_chunk$/
    : /^market_data_ts_y2024m01$/;

  let names: EventNames;
  let harness: TestApp;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let outputs: Collector<StoredEvent>;
  let deadLetters: Collector<DeadLetter>;
  let events: MarketDataEventPayload[];

  beforeAll(async () => {
    names = uniqueEventNames(`ev_${engine}`);
    nc = await connectNats();
    js = nc.jetstream();
    outputs = new Collector(nc, names.subjects.output);
    deadLetters = new Collector(nc, names.subjects.deadLetter);
    harness = await startTestApp(engine, names.env);
    await waitForConsumer(harness.baseUrl);
    events = makeEvents(INSTRUMENTS, PER_INSTRUMENT);
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it(`should store every published event once and announce each commit`, async () => {
    await publishAll(js, names.subjects.input, events);
    await waitFor(
      'market_data_stored for every event',
      () => storedCountOf(outputs.received, INSTRUMENTS) >= TOTAL,
      120_000,
    );

    const counts = await Promise.all(INSTRUMENTS.map((id) => countStored(harness.baseUrl, id)));
    expect(counts).toEqual(INSTRUMENTS.map(() => PER_INSTRUMENT));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(TOTAL);
    expect(storedCountOf(outputs.received, INSTRUMENTS)).toBe(TOTAL);

    // The values stored are the values published, bar for bar.
    const params = new URLSearchParams({
      instrument_id: 'EV7',
      timeframe: 'ONE_MINUTE',
      start_time: '2024-01-01T00:00:00Z',
      end_time: '2025-01-01T00:00:00Z',
      limit: '100000',
    });
    const read = await request(
      harness.baseUrl,
      'GET',
      `/api/v1/storage/query?${params.toString()}`,
    );
    expect(read.body.data_points).toEqual(
      makeBars('2024-01-02T00:00:00Z', PER_INSTRUMENT, 60_000, 8),
    );
  }, 180_000);

  it('should announce each commit with one market_data_stored per series, as the spec has it', () => {
    const mine = outputs.received.filter((o) => INSTRUMENTS.includes(o.storage_data.instrument_id));
    expect(mine.length).toBeGreaterThanOrEqual(INSTRUMENTS.length);
    for (const output of mine) {
      expect(output).toEqual({
        event_id: expect.stringMatching(UUID),
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        storage_data: {
          instrument_id: expect.stringMatching(/^EV\d+$/),
          timeframe: 'ONE_MINUTE',
          stored_count: expect.any(Number),
          storage_time_ms: expect.any(Number),
          compression_ratio: 0,
          storage_location: expect.stringMatching(LOCATION),
        },
      });
      expect(output.storage_data.stored_count).toBeGreaterThan(0);
      expect(output.storage_data.storage_time_ms).toBeGreaterThan(0);
    }
    // Batches: far fewer commits than events.
    expect(mine.length).toBeLessThan(TOTAL / 10);
    expect(new Set(mine.map((o) => o.event_id)).size).toBe(mine.length);
  });

  it('should write no duplicate row when the same events are published again', async () => {
    const before = storedCountOf(outputs.received, INSTRUMENTS);
    const again = events.slice(0, Math.min(10_000, TOTAL));
    await publishAll(js, names.subjects.input, again);
    await waitFor(
      'the replayed events to be stored',
      () => storedCountOf(outputs.received, INSTRUMENTS) >= before + again.length,
      120_000,
    );

    const counts = await Promise.all(INSTRUMENTS.map((id) => countStored(harness.baseUrl, id)));
    expect(counts).toEqual(INSTRUMENTS.map(() => PER_INSTRUMENT));
  }, 180_000);

  it('should dead-letter invalid events with their reasons and store the valid ones beside them', async () => {
    const bars = makeBars('2024-03-01T00:00:00Z', 5, 60_000, 99);
    const valid = bars.map((bar) => eventOf('MIXED', bar));
    const badPoint = eventOf('MIXED', { ...bars[0], timestamp: '2024-03-01T01:00:00Z', low: 1e6 });
    const badTimeframe = eventOf('MIXED', bars[1], 'TEN_MINUTES');
    const longSource = eventOf('MIXED', { ...bars[2], timestamp: '2024-03-01T02:00:00Z' });
    longSource.market_data.source_attribution = 'x'.repeat(51);
    const unaligned = eventOf('MIXED', { ...bars[3], timestamp: '2024-03-01T03:00:30Z' });
    const payloads: unknown[] = [
      valid[0],
      'this is not JSON',
      valid[1],
      badPoint,
      valid[2],
      badTimeframe,
      valid[3],
      longSource,
      unaligned,
      valid[4],
    ];

    await publishAll(js, names.subjects.input, payloads, payloads.length);
    await waitFor('5 dead letters', () => deadLetters.received.length >= 5);
    await waitFor('the valid events', () => storedCountOf(outputs.received, ['MIXED']) >= 5);

    const reasons = deadLetters.received.map((d) => d.reason);
    expect(reasons.filter((r) => r.startsWith('payload is not JSON: '))).toHaveLength(1);
    expect(reasons.filter((r) => !r.startsWith('payload is not JSON: ')).sort()).toEqual([
      'market_data.ohlcv_data.low must not exceed high',
      'market_data.source_attribution must be a string of at most 50 printable characters',
      'market_data.timeframe must be one of ONE_MINUTE, FIVE_MINUTES, FIFTEEN_MINUTES, ONE_HOUR, ONE_DAY',
      'market_data.timestamp must start a ONE_MINUTE bar (aligned to its length in UTC)',
    ]);
    for (const letter of deadLetters.received) {
      expect(letter).toMatchObject({
        transport: 'nats',
        subject: names.subjects.input,
        deliveries: 1,
        stream_sequence: expect.any(Number),
      });
    }
    expect(deadLetters.received.map((d) => d.payload)).toContain('this is not JSON');
    expect(deadLetters.received.map((d) => d.payload)).toContain(JSON.stringify(badTimeframe));
    expect(await countStored(harness.baseUrl, 'MIXED')).toBe(5);
  }, 60_000);

  it('should store a batch event as its bars, and dead-letter only the refused bars of a batch by position', async () => {
    const bars = makeBars('2024-04-01T00:00:00Z', 303, 60_000, 17);
    const [lastThree, full] = [bars.slice(300), bars.slice(0, 300)];
    const payloads: unknown[] = [0, 1, 2].map((i) =>
      batchEventOf('BATCH', full.slice(i * 100, i * 100 + 100)),
    );
    const oneBad = batchEventOf('BATCH', lastThree);
    oneBad.market_data[1].ohlcv_data.low = 1e6;
    const twoSeries = batchEventOf('BATCH2', bars.slice(0, 2));
    twoSeries.market_data[1].instrument_id = 'BATCH3';
    payloads.push(oneBad, twoSeries);
    const batchLetters = () => deadLetters.received.filter((d) => d.payload.includes('BATCH'));

    await publishAll(js, names.subjects.input, payloads, payloads.length);
    await waitFor('2 dead letters of batch events', () => batchLetters().length >= 2);
    await waitFor(
      '302 bars of batch events',
      () => storedCountOf(outputs.received, ['BATCH']) >= 302,
    );

    expect(
      batchLetters()
        .map((d) => d.reason)
        .sort(),
    ).toEqual([
      '1 of 3 bars refused (the others are stored): market_data[1].ohlcv_data.low must not exceed high',
      'market_data[1] must have the instrument_id and timeframe of market_data[0] (one series per event)',
    ]);
    expect(await countStored(harness.baseUrl, 'BATCH')).toBe(302);
    expect(await countStored(harness.baseUrl, 'BATCH2')).toBe(0);
    const stored = await request(
      harness.baseUrl,
      'GET',
      '/api/v1/storage/query?instrument_id=BATCH&timeframe=ONE_MINUTE&start_time=2024-04-01T05:00:00Z&end_time=2024-04-01T05:03:00Z',
    );
    // Bars 300 and 302 of the last batch; bar 301 was refused.
    const points = stored.body.data_points as { timestamp: string }[];
    expect(points.map((p) => p.timestamp)).toEqual([
      '2024-04-01T05:00:00.000Z',
      '2024-04-01T05:02:00.000Z',
    ]);
    expect(points[1]).toMatchObject({
      open: bars[302].open,
      close: bars[302].close,
    });
  }, 60_000);

  it('should announce a REST store on the same subject', async () => {
    const res = await request(harness.baseUrl, 'POST', '/api/v1/storage/store', {
      instrument_id: 'RESTEV',
      timeframe: 'ONE_MINUTE',
      data_points: makeBars('2024-01-05T00:00:00Z', 30),
    });
    expect(res.status).toBe(200);

    await waitFor('the REST announcement', () => storedCountOf(outputs.received, ['RESTEV']) >= 30);
    const output = outputs.received.find((o) => o.storage_data.instrument_id === 'RESTEV')!;
    expect(output.storage_data).toMatchObject({
      timeframe: 'ONE_MINUTE',
      stored_count: 30,
      storage_time_ms: res.body.storage_time_ms,
      compression_ratio: res.body.compression_ratio,
      storage_location: expect.stringMatching(LOCATION),
    });
  });

  it('should report the transport in health and count events in metrics', async () => {
    const health = await request(harness.baseUrl, 'GET', '/api/v1/storage/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('healthy');
    expect(health.body.events).toEqual({
      status: 'up',
      nats: {
        status: 'up',
        latency_ms: expect.any(Number),
        stream: names.stream,
        consumer: names.consumer,
        consumer_state: 'consuming',
        pending: 0,
      },
    });

    const metrics = (await request<string>(harness.baseUrl, 'GET', '/metrics')).text;
    expect(
      metricValue(metrics, 'mds_events_received_total', { transport: 'nats' }),
    ).toBeGreaterThanOrEqual(TOTAL + 10);
    expect(
      metricValue(metrics, 'mds_events_stored_total', { transport: 'nats' }),
    ).toBeGreaterThanOrEqual(TOTAL);
    expect(
      metricValue(metrics, 'mds_events_dead_lettered_total', {
        transport: 'nats',
        reason: 'invalid',
      }),
    ).toBeGreaterThanOrEqual(5);
    expect(
      metricValue(metrics, 'mds_event_batch_size_count', { transport: 'nats' }),
    ).toBeGreaterThan(0);
    expect(metricValue(metrics, 'mds_event_consumer_pending', {})).toBe(0);
  });
});
