import { JetStreamClient, JsMsg, NatsConnection } from 'nats';
import { ensureConsumer, ensureStream } from '../src/events/jetstream-setup';
import { BarPoint } from './support/bars';
import {
  Collector,
  connectNats,
  deleteStream,
  eventOf,
  EventNames,
  publishAll,
  uniqueEventNames,
  waitFor,
  waitForConsumer,
} from './support/events';
import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

/**
 * The later event wins (DESIGN 10), through the real NATS: two events for
 * the same bar, and the older one applied last, as when another replica
 * (or a redelivery) holds it while the newer one is stored. The test itself
 * plays that replica: it pulls the older event from the service's durable
 * consumer before the service starts and hands it back (nak) only after the
 * newer one is stored.
 */

const INSTRUMENT = 'ORD.1';
const BAR_TIME = '2024-03-01T10:00:00.000Z';

function barWithClose(close: number): BarPoint {
  return {
    timestamp: BAR_TIME,
    open: 100,
    high: Math.max(100, close) + 1,
    low: Math.min(100, close) - 1,
    close,
    volume: 1_000,
    dollar_volume: null,
    trade_count: null,
  };
}

async function storedClose(baseUrl: string): Promise<number | undefined> {
  const params = new URLSearchParams({
    instrument_id: INSTRUMENT,
    timeframe: 'ONE_MINUTE',
    start_time: BAR_TIME,
    end_time: '2024-03-01T10:01:00Z',
    fields: 'close',
  });
  const res = await request(baseUrl, 'GET', `/api/v1/storage/query?${params.toString()}`);
  if (res.status !== 200) throw new Error(`query failed: ${res.status} ${res.text}`);
  return (res.body.data_points as { close: number }[])[0]?.close;
}

describe.each(ENGINES)('the later event for a bar wins on %s', (engine) => {
  let names: EventNames;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let harness: TestApp | undefined;
  let outputs: Collector<{ storage_data: { instrument_id: string; stored_count: number } }>;

  beforeAll(async () => {
    names = uniqueEventNames(`order_${engine}`);
    nc = await connectNats();
    js = nc.jetstream();
    outputs = new Collector(nc, names.subjects.output);
    // The stream and the durable consumer exist before the service starts, as with a running fleet.
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm, names.stream, names.subjects);
    await ensureConsumer(jsm, names.stream, names.subjects, {
      durable: names.consumer,
      ackWaitMs: 60_000,
      maxDeliver: 0,
      maxAckPending: 1_000,
    });
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it('should keep the newer event when the older one is applied after it, and let REST replace both', async () => {
    await publishAll(js, names.subjects.input, [eventOf(INSTRUMENT, barWithClose(101))]);
    await publishAll(js, names.subjects.input, [eventOf(INSTRUMENT, barWithClose(102))]);
    const consumer = await js.consumers.get(names.stream, names.consumer);
    const held: JsMsg | null = await consumer.next({ expires: 5_000 });
    expect(held?.json<{ market_data: { ohlcv_data: { close: number } } }>()).toMatchObject({
      market_data: { ohlcv_data: { close: 101 } },
    });

    harness = await startTestApp(engine, names.env);
    await waitForConsumer(harness.baseUrl);
    await waitFor(
      'the newer event stored',
      async () => (await storedClose(harness!.baseUrl)) === 102,
    );

    // The older event comes back to the service now, after the newer one.
    held!.nak();
    const announced = () =>
      outputs.received.filter((o) => o.storage_data.instrument_id === INSTRUMENT).length;
    await waitFor(
      'the older event stored and acknowledged',
      async () => {
        const jsm = await nc.jetstreamManager();
        const info = await jsm.consumers.info(names.stream, names.consumer);
        return announced() === 2 && info.num_pending === 0 && info.num_ack_pending === 0;
      },
      30_000,
    );
    expect(await storedClose(harness.baseUrl)).toBe(102);

    // A REST write carries no stream time: it replaces the bar (docs/decisions.md).
    const rest = await request(harness.baseUrl, 'POST', '/api/v1/storage/store', {
      instrument_id: INSTRUMENT,
      timeframe: 'ONE_MINUTE',
      data_points: [barWithClose(103)],
    });
    expect(rest.status).toBe(200);
    expect(rest.body.stored_count).toBe(1);
    expect(await storedClose(harness.baseUrl)).toBe(103);
  }, 120_000);
});
