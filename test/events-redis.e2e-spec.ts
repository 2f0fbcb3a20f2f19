import Redis from 'ioredis';
import { REDIS_CHANNELS } from '../src/events/event-subjects';
import { makeBars } from './support/bars';
import {
  batchEventOf,
  countStored,
  eventOf,
  makeEvents,
  storedCountOf,
  waitFor,
} from './support/events';
import { metricValue } from './support/metrics-text';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * Redis input through Nest's Redis transport (pub/sub, at most once) and
 * market_data_stored on Redis, against the real Redis on 127.0.0.1:6379.
 * The only suite that uses the Redis event channels (their names are fixed).
 */
const REDIS_URL = 'redis://127.0.0.1:6379';

interface StoredEvent {
  storage_data: { instrument_id: string; stored_count: number; [key: string]: unknown };
}

describe('Redis events on postgresql', () => {
  let harness: TestApp;
  let publisher: Redis;
  let subscriber: Redis;
  const outputs: StoredEvent[] = [];
  const deadLetters: { reason: string }[] = [];

  beforeAll(async () => {
    publisher = new Redis(REDIS_URL);
    subscriber = new Redis(REDIS_URL);
    await subscriber.subscribe(REDIS_CHANNELS.output, REDIS_CHANNELS.deadLetter);
    subscriber.on('message', (channel: string, message: string) =>
      channel === REDIS_CHANNELS.output
        ? outputs.push(JSON.parse(message) as StoredEvent)
        : deadLetters.push(JSON.parse(message) as { reason: string }),
    );
    harness = await startTestApp('postgresql', { EVENTS_REDIS_URL: REDIS_URL });
    await waitFor('the Redis transport', async () => {
      const res = await request(harness.baseUrl, 'GET', '/api/v1/storage/health');
      return res.body?.events?.redis?.status === 'up';
    });
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
    subscriber?.disconnect();
    publisher?.disconnect();
  });

  it('should store events published on the input channel in batches and announce them', async () => {
    const events = makeEvents(['RD0', 'RD1', 'RD2', 'RD3'], 500);
    // The Redis transport only takes what is published while it is subscribed.
    const subscribers = (await publisher.call('PUBSUB', 'NUMSUB', REDIS_CHANNELS.input)) as [
      string,
      number,
    ];
    expect(Number(subscribers[1])).toBeGreaterThan(0);

    const pipeline = publisher.pipeline();
    for (const event of events) pipeline.publish(REDIS_CHANNELS.input, JSON.stringify(event));
    await pipeline.exec();
    await waitFor(
      'market_data_stored on Redis',
      () => storedCountOf(outputs, ['RD0', 'RD1', 'RD2', 'RD3']) >= 2_000,
    );

    expect(
      await Promise.all(['RD0', 'RD1', 'RD2', 'RD3'].map((id) => countStored(harness.baseUrl, id))),
    ).toEqual([500, 500, 500, 500]);
    const mine = outputs.filter((o) => o.storage_data.instrument_id.startsWith('RD'));
    expect(mine.length).toBeLessThan(2_000 / 10);
    expect(mine[0].storage_data).toMatchObject({
      timeframe: 'ONE_MINUTE',
      compression_ratio: 0,
      storage_location: 'market_data_ts_y2024m01',
    });
  }, 60_000);

  it('should take an event sent by a Nest Redis client ({pattern, data}) as well', async () => {
    const event = eventOf('NESTCLIENT', makeBars('2024-01-02T00:00:00Z', 1)[0]);
    await publisher.publish(
      REDIS_CHANNELS.input,
      JSON.stringify({ pattern: REDIS_CHANNELS.input, data: event }),
    );

    await waitFor('the event', () => storedCountOf(outputs, ['NESTCLIENT']) >= 1);
    expect(await countStored(harness.baseUrl, 'NESTCLIENT')).toBe(1);
  });

  it('should store the bars of a batch event as well', async () => {
    await publisher.publish(
      REDIS_CHANNELS.input,
      JSON.stringify(batchEventOf('RDBATCH', makeBars('2024-01-02T00:00:00Z', 250))),
    );

    await waitFor('the batch', () => storedCountOf(outputs, ['RDBATCH']) >= 250);
    expect(await countStored(harness.baseUrl, 'RDBATCH')).toBe(250);
  });

  it('should send invalid events to the dead-letter channel with their reason', async () => {
    const bad = eventOf('RDBAD', { ...makeBars('2024-01-02T00:00:00Z', 1)[0], volume: -5 });
    await publisher.publish(REDIS_CHANNELS.input, JSON.stringify(bad));
    await publisher.publish(REDIS_CHANNELS.input, '{"event_id": 1');

    await waitFor('2 dead letters', () => deadLetters.length >= 2);
    expect(deadLetters.map((d) => d.reason).sort()).toEqual([
      'event must be a JSON object',
      'market_data.ohlcv_data.volume must be a number >= 0 (a JSON number, or a plain decimal string such as "0.00012345" or "12345678901234567890")',
    ]);
    expect(deadLetters[0]).toMatchObject({
      transport: 'redis',
      subject: REDIS_CHANNELS.input,
      deliveries: 1,
    });
    expect(await countStored(harness.baseUrl, 'RDBAD')).toBe(0);

    const metrics = (await request<string>(harness.baseUrl, 'GET', '/metrics')).text;
    expect(
      metricValue(metrics, 'mds_events_stored_total', { transport: 'redis' }),
    ).toBeGreaterThanOrEqual(2_001);
    expect(
      metricValue(metrics, 'mds_events_dead_lettered_total', {
        transport: 'redis',
        reason: 'invalid',
      }),
    ).toBeGreaterThanOrEqual(2);
  });

  it('should announce REST stores on Redis and report the transport in health', async () => {
    const res = await request(harness.baseUrl, 'POST', '/api/v1/storage/store', {
      instrument_id: 'RDREST',
      timeframe: 'ONE_MINUTE',
      data_points: makeBars('2024-01-02T00:00:00Z', 10),
    });
    expect(res.status).toBe(200);
    await waitFor('the announcement', () => storedCountOf(outputs, ['RDREST']) >= 10);

    const health = await request(harness.baseUrl, 'GET', '/api/v1/storage/health');
    expect(health.body.events).toEqual({
      status: 'up',
      redis: { status: 'up', latency_ms: expect.any(Number) },
    });
  });
});
