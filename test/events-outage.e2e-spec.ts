import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { JetStreamClient, NatsConnection } from 'nats';
import { AddressInfo } from 'node:net';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';
import {
  Collector,
  connectNats,
  countStored,
  deleteStream,
  EventNames,
  makeEvents,
  publishAll,
  storedCountOf,
  uniqueEventNames,
  waitFor,
  waitForConsumer,
} from './support/events';
import { metricValue } from './support/metrics-text';
import { TcpProxy } from './support/tcp-proxy';
import { request } from './support/test-app';
import {
  createTestDatabase,
  POSTGRES_ADMIN_URL,
  TEST_RETENTION,
  TestDatabase,
} from './support/test-database';

/**
 * PostgreSQL goes away while events keep arriving on JetStream: nothing is
 * acknowledged that was not committed, the messages come back with a delay,
 * and once the database is back every event is stored, none lost.
 */
describe('JetStream events through a database outage on postgresql', () => {
  let names: EventNames;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let outputs: Collector;
  let proxy: TcpProxy;
  let db: TestDatabase;
  let app: NestFastifyApplication;
  let baseUrl: string;

  beforeAll(async () => {
    names = uniqueEventNames('outage', {
      EVENT_RETRY_BASE_MS: '200',
      EVENT_RETRY_MAX_MS: '1000',
      DB_STATEMENT_TIMEOUT_MS: '3000',
    });
    nc = await connectNats();
    js = nc.jetstream();
    outputs = new Collector(nc, names.subjects.output);
    const target = new URL(POSTGRES_ADMIN_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    db = await createTestDatabase('postgresql');
    const url = new URL(db.settings.databaseUrl!);
    url.hostname = '127.0.0.1';
    url.port = String(await proxy.start());
    app = await createApp(
      loadSettings({
        LOG_LEVEL: 'error',
        ...TEST_RETENTION,
        ...names.env,
        DATABASE_URL: url.toString(),
      }),
    );
    await app.init();
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    await waitForConsumer(baseUrl);
  }, 60_000);

  afterAll(async () => {
    proxy?.cutAndResume();
    if (proxy && !proxy.running) await proxy.start().catch(() => undefined);
    await app?.close();
    await proxy?.stop();
    await db?.drop();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it('should store events published while the database was away once it is back', async () => {
    await publishAll(js, names.subjects.input, makeEvents(['BEFORE'], 100));
    await waitFor('the first events', () => storedCountOf(outputs.received, ['BEFORE']) >= 100);

    await proxy.stop();
    const during = makeEvents(['DURING1', 'DURING2'], 250, '2024-01-03T00:00:00Z');
    await publishAll(js, names.subjects.input, during);

    // They are tried, fail, and are handed back: none stored, none acknowledged.
    await waitFor(
      'failed writes to be handed back',
      async () => {
        const metrics = (await request<string>(baseUrl, 'GET', '/metrics')).text;
        return metricValue(metrics, 'mds_events_retried_total', { transport: 'nats' }) >= 500;
      },
      30_000,
      250,
    );
    expect(storedCountOf(outputs.received, ['DURING1', 'DURING2'])).toBe(0);
    const consumer = await (
      await nc.jetstreamManager()
    ).consumers.info(names.stream, names.consumer);
    expect(consumer.num_ack_pending + consumer.num_pending).toBeGreaterThan(0);

    await proxy.start();
    await waitFor(
      'the events published during the outage',
      () => storedCountOf(outputs.received, ['DURING1', 'DURING2']) >= 500,
      60_000,
    );

    expect(await countStored(baseUrl, 'BEFORE')).toBe(100);
    expect(await countStored(baseUrl, 'DURING1')).toBe(250);
    expect(await countStored(baseUrl, 'DURING2')).toBe(250);
    await waitFor(
      'every message acknowledged',
      async () => {
        const info = await (
          await nc.jetstreamManager()
        ).consumers.info(names.stream, names.consumer);
        return info.num_ack_pending === 0 && info.num_pending === 0;
      },
      10_000,
    );
  }, 120_000);
});
