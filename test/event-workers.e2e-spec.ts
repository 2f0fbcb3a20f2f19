import { execFileSync } from 'node:child_process';
import { JetStreamClient, NatsConnection } from 'nats';
import { Client } from 'pg';
import {
  connectNats,
  deleteStream,
  EventNames,
  makeEvents,
  uniqueEventNames,
  waitFor,
} from './support/events';
import { samplesOf } from './support/metrics-text';
import { killService, ServiceProcess, startServiceProcess } from './support/service-process';
import { countRows, expectStoredExactlyOnce, publishSlowly } from './support/stored-bars';
import { request } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * EVENT_WORKERS=3, the real service as a child process: it and two event
 * workers share the durable consumer. One worker killed with SIGKILL in
 * the middle of a stream is started again, and every event is stored
 * exactly once (rows, keys and a checksum of every value); /metrics sums
 * the processes; SIGTERM drains all of them and exits 0.
 */

const INSTRUMENTS = Array.from({ length: 10 }, (_, i) => `EW${i}`);

function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there is none
  }
}

describe('EVENT_WORKERS on postgresql', () => {
  let names: EventNames;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let db: TestDatabase;
  let pg: Client;
  let service: ServiceProcess | undefined;

  const workersStatus = async () => {
    const health = await request(service!.baseUrl, 'GET', '/api/v1/storage/health');
    return health.body?.events?.nats?.workers as { configured: number; running: number };
  };

  beforeAll(async () => {
    names = uniqueEventNames('workers', {
      EVENT_WORKERS: '3',
      EVENT_BATCH_MAX: '500',
      NATS_ACK_WAIT_MS: '5000',
    });
    nc = await connectNats();
    js = nc.jetstream();
    db = await createTestDatabase('postgresql');
    pg = new Client({ connectionString: db.settings.databaseUrl });
    await pg.connect();
    service = await startServiceProcess({ ...names.env, DATABASE_URL: db.settings.databaseUrl! });
  }, 120_000);

  afterAll(async () => {
    const pids = service ? childPids(service.child.pid!) : [];
    await killService(service);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await pg?.end();
    await db?.drop();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it('should share the durable consumer between the service and its workers', async () => {
    await waitFor(
      'two workers running',
      async () => (await workersStatus())?.running === 2,
      60_000,
      200,
    );
    expect(await workersStatus()).toEqual({ configured: 2, running: 2 });
    expect(childPids(service!.child.pid!)).toHaveLength(2);
    // Each consuming process keeps a pull request open on the one durable consumer.
    const jsm = await nc.jetstreamManager();
    await waitFor(
      'three processes pulling',
      async () => (await jsm.consumers.info(names.stream, names.consumer)).num_waiting >= 3,
      60_000,
      200,
    );
  }, 90_000);

  it('should store every event exactly once when a worker is killed mid-stream, and start another', async () => {
    const events = makeEvents(INSTRUMENTS, 1_500);
    const progress = { published: 0 };
    const publishing = publishSlowly(js, names.subjects.input, events, progress);

    await waitFor('some rows stored', async () => (await countRows(pg)) >= 1_500, 60_000, 50);
    const [victim] = childPids(service!.child.pid!);
    process.kill(victim, 'SIGKILL');
    expect(progress.published).toBeLessThan(events.length);
    await waitFor(
      'the killed worker replaced',
      async () => {
        const pids = childPids(service!.child.pid!);
        return pids.length === 2 && !pids.includes(victim);
      },
      60_000,
      200,
    );

    await publishing;
    await expectStoredExactlyOnce(pg, events);
    expect(service!.output()).toMatch(/event worker \d+ exited \(SIGKILL\); starting another/);
    await waitFor(
      'two workers running',
      async () => (await workersStatus())?.running === 2,
      60_000,
      200,
    );

    // /metrics shows every process, labelled worker 0 (the service), 1 and 2; more than one received events.
    const metrics = await request(service!.baseUrl, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    const started = samplesOf(metrics.text, 'process_start_time_seconds');
    expect(started.map((s) => s.labels.worker).sort()).toEqual(['0', '1', '2']);
    const receivers = samplesOf(metrics.text, 'mds_events_received_total', { transport: 'nats' })
      .filter((s) => s.value > 0)
      .map((s) => s.labels.worker);
    expect(new Set(receivers).size).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('should drain the service and every worker on SIGTERM and exit 0', async () => {
    const workers = childPids(service!.child.pid!);
    expect(workers).toHaveLength(2);

    service!.child.kill('SIGTERM');

    expect(await service!.exited).toEqual({ code: 0, signal: null });
    expect(service!.output().match(/SIGTERM: draining/g)?.length).toBe(3);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);
});
