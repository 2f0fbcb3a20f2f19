import { connect, NatsConnection } from 'nats';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBars } from './support/bars';
import {
  Collector,
  countStored,
  makeEvents,
  publishAll,
  storedCountOf,
  uniqueEventNames,
  waitFor,
  waitForConsumer,
} from './support/events';
import { privateNats, PrivateServer } from './support/private-server';
import { freePort } from './support/service-process';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * The NATS server process is killed (kill -9 of a private nats-server with
 * its own JetStream store) and started again on the same port and store:
 * REST goes on meanwhile, the durable consumer reconnects by itself and
 * resumes where it left off: what it acknowledged is not delivered again,
 * what was still in the stream is stored, nothing is lost.
 */
describe('NATS server stopped under the event consumer on postgresql', () => {
  let nats: PrivateServer;
  let storeDir: string;
  let nc: NatsConnection;
  let outputs: Collector;
  let harness: TestApp;
  let base: string;
  const names = uniqueEventNames('natsdown');

  beforeAll(async () => {
    storeDir = mkdtempSync(join(tmpdir(), 'mds-nats-'));
    nats = privateNats(await freePort(), storeDir);
    await nats.start();
    const url = `nats://127.0.0.1:${nats.port}`;
    // The test's own connection also rides out the restart.
    nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    outputs = new Collector(nc, names.subjects.output);
    harness = await startTestApp('postgresql', {
      ...names.env,
      NATS_URL: url,
      EVENT_RETRY_BASE_MS: '200',
      EVENT_RETRY_MAX_MS: '1000',
      STATS_REFRESH_INTERVAL_MS: '0',
    });
    base = harness.baseUrl;
    await waitForConsumer(base);
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
    await nc?.close().catch(() => undefined);
    await nats?.kill();
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  });

  it('should keep REST going while NATS is down, then resume the stream where it left off', async () => {
    const js = nc.jetstream();
    const before = makeEvents(['NB1', 'NB2'], 100);
    await publishAll(js, names.subjects.input, before);
    await waitFor('the first events', () => storedCountOf(outputs.received, ['NB1', 'NB2']) >= 200);

    // Published, then the server dies before (all of) them are consumed: they wait on disk.
    const pending = makeEvents(['NP1', 'NP2'], 500, '2024-01-05T00:00:00Z');
    await publishAll(js, names.subjects.input, pending);
    await nats.kill();

    // REST does not depend on NATS.
    const bars = makeBars('2024-01-03T00:00:00Z', 30, 60_000, 5);
    const stored = await request(base, 'POST', '/api/v1/storage/store', {
      instrument_id: 'NREST',
      timeframe: 'ONE_MINUTE',
      data_points: bars,
    });
    expect(stored.status).toBe(200);
    expect(stored.body.stored_count).toBe(30);
    expect(await countStored(base, 'NREST')).toBe(30);
    const health = await request(base, 'GET', '/api/v1/storage/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    expect(health.body.events.nats.status).toBe('down');
    expect((await request(base, 'GET', '/health/ready')).status).toBe(200);

    await nats.start();
    await waitForConsumer(base);
    const after = makeEvents(['NA1'], 100, '2024-01-07T00:00:00Z');
    await publishAll(js, names.subjects.input, after);
    await waitFor('every event stored', async () => {
      const counts = await Promise.all(['NP1', 'NP2', 'NA1'].map((id) => countStored(base, id)));
      return counts.join() === '500,500,100';
    });

    expect(await countStored(base, 'NB1')).toBe(100);
    expect(await countStored(base, 'NB2')).toBe(100);
    const jsm = await nc.jetstreamManager();
    await waitFor('every message acknowledged', async () => {
      const info = await jsm.consumers.info(names.stream, names.consumer);
      return info.num_ack_pending === 0 && info.num_pending === 0;
    });
    // The stream kept every input published across the restart (it also holds the outputs).
    const stream = await jsm.streams.info(names.stream, { subjects_filter: names.subjects.input });
    expect(stream.state.subjects).toEqual({ [names.subjects.input]: 1_300 });
    const consumer = await jsm.consumers.info(names.stream, names.consumer);
    expect(consumer.ack_floor.stream_seq).toBe(consumer.delivered.stream_seq);
    // Resumed where it left off: nothing acknowledged before the outage was stored again.
    expect(storedCountOf(outputs.received, ['NB1', 'NB2'])).toBe(200);
    expect(storedCountOf(outputs.received, ['NA1'])).toBe(100);
  }, 120_000);
});
