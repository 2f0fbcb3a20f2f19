import { JetStreamClient, NatsConnection } from 'nats';
import { Client } from 'pg';
import Redis from 'ioredis';
import { BarPoint, makeBars } from './support/bars';
import {
  connectNats,
  deleteStream,
  EventNames,
  makeEvents,
  uniqueEventNames,
  waitFor,
} from './support/events';
import { killService, ServiceProcess, startServiceProcess } from './support/service-process';
import { countRows, expectStoredExactlyOnce, publishSlowly } from './support/stored-bars';
import { request } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Two service processes, one NATS stream (one durable consumer), one Redis,
 * one TimescaleDB server (DESIGN 10): events published continuously and REST
 * writes sent to both; one process killed with SIGKILL mid-stream and
 * started again. Every acknowledged REST write and every published event is
 * stored exactly once, and both processes answer the same. This suite owns
 * Redis database 13.
 */

const REDIS_DB = 13;
const EVENT_INSTRUMENTS = Array.from({ length: 10 }, (_, i) => `TR.E${i}`);
const REST_INSTRUMENTS = ['TR.R0', 'TR.R1', 'TR.R2'];
const BARS_PER_WRITE = 50;
const BASE = '/api/v1/storage';

interface RestWrite {
  readonly instrumentId: string;
  readonly bars: BarPoint[];
  acknowledged: boolean;
}

async function readAll(baseUrl: string, instrumentId: string): Promise<BarPoint[]> {
  const params = new URLSearchParams({
    instrument_id: instrumentId,
    timeframe: 'ONE_MINUTE',
    start_time: '2024-01-01T00:00:00Z',
    end_time: '2024-12-01T00:00:00Z',
    limit: '100000',
  });
  const res = await request(baseUrl, 'GET', `${BASE}/query?${params.toString()}`);
  if (res.status !== 200) throw new Error(`query failed: ${res.status} ${res.text}`);
  return res.body.data_points as BarPoint[];
}

describe('two service processes sharing NATS, Redis and TimescaleDB', () => {
  let names: EventNames;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let db: TestDatabase;
  let pg: Client;
  let env: Record<string, string>;
  const services: (ServiceProcess | undefined)[] = [];

  beforeAll(async () => {
    const redis = new Redis(`redis://127.0.0.1:6379/${REDIS_DB}`);
    await redis.flushdb();
    redis.disconnect();
    names = uniqueEventNames('replicas', { EVENT_BATCH_MAX: '500', NATS_ACK_WAIT_MS: '5000' });
    nc = await connectNats();
    js = nc.jetstream();
    db = await createTestDatabase('timescaledb');
    pg = new Client({ connectionString: db.settings.databaseUrl });
    await pg.connect();
    env = {
      ...names.env,
      DATABASE_URL: db.settings.databaseUrl!,
      REDIS_URL: `redis://127.0.0.1:6379/${REDIS_DB}`,
    };
    // The first one migrates; the second starts on the migrated schema.
    services[0] = await startServiceProcess(env);
    services[1] = await startServiceProcess(env);
  }, 240_000);

  afterAll(async () => {
    for (const service of services) await killService(service);
    await pg?.end();
    await db?.drop();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it('should store every acknowledged write and every event exactly once across a kill -9 and a restart', async () => {
    const events = makeEvents(EVENT_INSTRUMENTS, 2_000);
    const progress = { published: 0 };
    const publishing = publishSlowly(js, names.subjects.input, events, progress);

    // REST writes to both processes in turn, new bars each time, until told to stop.
    const writes: RestWrite[] = [];
    let writing = true;
    let restarted = false;
    let ackedAfterRestart = 0;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        const target = services[n % 2];
        const instrumentId = REST_INSTRUMENTS[n % REST_INSTRUMENTS.length];
        const start = Date.parse('2024-02-01T00:00:00Z') + n * BARS_PER_WRITE * 60_000;
        const write: RestWrite = {
          instrumentId,
          bars: makeBars(new Date(start).toISOString(), BARS_PER_WRITE, 60_000, n + 1),
          acknowledged: false,
        };
        writes.push(write);
        try {
          const res = await request(target!.baseUrl, 'POST', `${BASE}/store`, {
            instrument_id: instrumentId,
            timeframe: 'ONE_MINUTE',
            data_points: write.bars,
          });
          write.acknowledged = res.status === 200 && res.body.stored_count === BARS_PER_WRITE;
          if (write.acknowledged && restarted && n % 2 === 0) ackedAfterRestart++;
        } catch {
          // The process is down: not acknowledged.
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();

    await waitFor(
      'some events stored',
      async () => (await countRows(pg, 'TR.E')) >= 2_000,
      60_000,
      50,
    );
    await killService(services[0]);
    expect(services[0]!.child.signalCode).toBe('SIGKILL');
    expect(progress.published).toBeLessThan(events.length);
    services[0] = await startServiceProcess(env);
    restarted = true;

    await publishing;
    await waitFor('the restarted process to take writes', () => ackedAfterRestart >= 3, 60_000);
    writing = false;
    await writer;
    await expectStoredExactlyOnce(pg, events, 'TR.E');
    const acknowledged = writes.filter((w) => w.acknowledged);
    expect(acknowledged.length).toBeGreaterThan(10);
    for (const instrumentId of REST_INSTRUMENTS) {
      const fromA = await readAll(services[0].baseUrl, instrumentId);
      const fromB = await readAll(services[1]!.baseUrl, instrumentId);
      expect(fromA).toEqual(fromB);
      const stored = new Map(fromA.map((bar) => [bar.timestamp, bar]));
      expect(stored.size).toBe(fromA.length);
      // Every acknowledged bar is there with its values; nothing is there that was never sent.
      const sent = writes.filter((w) => w.instrumentId === instrumentId);
      for (const write of sent.filter((w) => w.acknowledged)) {
        for (const bar of write.bars) {
          expect(stored.get(new Date(bar.timestamp).toISOString())).toEqual({
            ...bar,
            timestamp: new Date(bar.timestamp).toISOString(),
          });
        }
      }
      const sentTimes = new Set(
        sent.flatMap((w) => w.bars.map((b) => new Date(b.timestamp).toISOString())),
      );
      expect([...stored.keys()].filter((t) => !sentTimes.has(t))).toEqual([]);
    }
  }, 360_000);
});
