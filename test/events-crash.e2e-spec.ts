import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { JetStreamClient, NatsConnection } from 'nats';
import { Client } from 'pg';
import {
  connectNats,
  deleteStream,
  EventNames,
  makeEvents,
  MarketDataEventPayload,
  uniqueEventNames,
  waitFor,
} from './support/events';
import { countRows, expectStoredExactlyOnce, publishSlowly } from './support/stored-bars';
import { createTestDatabase, TEST_RETENTION, TestDatabase } from './support/test-database';

/**
 * The real service as a child process (src/main.ts), killed with SIGKILL in
 * the middle of a stream of events, then restarted: every event published is
 * stored exactly once, shown by the row count and a checksum of every value.
 * Then a SIGTERM in the middle of a stream: exit 0, and again nothing lost.
 */

const ROOT = resolve(__dirname, '..');
const INSTRUMENTS = Array.from({ length: 10 }, (_, i) => `CR${i}`);
const START_TIMEOUT_MS = 90_000;

interface Service {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

async function startService(env: Record<string, string>): Promise<Service> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      TZ: 'UTC',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'log',
      ...TEST_RETENTION,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    'the service to consume',
    () => {
      if (gone) throw new Error(`the service exited during start-up:\n${output}`);
      return output.includes('consuming ');
    },
    START_TIMEOUT_MS,
    200,
  );
  return { child, output: () => output, exited };
}

describe('JetStream events across a crash of the service on postgresql', () => {
  let names: EventNames;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let db: TestDatabase;
  let pg: Client;
  let env: Record<string, string>;
  let service: Service | undefined;
  const published: MarketDataEventPayload[] = [];

  beforeAll(async () => {
    names = uniqueEventNames('crash', { EVENT_BATCH_MAX: '500' });
    nc = await connectNats();
    js = nc.jetstream();
    db = await createTestDatabase('postgresql');
    pg = new Client({ connectionString: db.settings.databaseUrl });
    await pg.connect();
    env = { ...names.env, DATABASE_URL: db.settings.databaseUrl! };
  });

  afterAll(async () => {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    await pg?.end();
    await db?.drop();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it('should store every published event exactly once after a kill -9 mid-stream and a restart', async () => {
    service = await startService(env);
    const events = makeEvents(INSTRUMENTS, 2_000);
    published.push(...events);
    const progress = { published: 0 };
    const publishing = publishSlowly(js, names.subjects.input, events, progress);

    await waitFor('some rows stored', async () => (await countRows(pg)) >= 2_000, 60_000, 50);
    service.child.kill('SIGKILL');
    expect(await service.exited).toBeNull();
    const storedAtKill = await countRows(pg);
    // Killed mid-stream: neither everything published nor everything stored.
    expect(progress.published).toBeLessThan(events.length);
    expect(storedAtKill).toBeLessThan(events.length);

    await publishing;
    service = await startService(env);
    await expectStoredExactlyOnce(pg, events);
  }, 240_000);

  it('should drain on SIGTERM mid-stream, exit 0, and lose nothing', async () => {
    const events = makeEvents(INSTRUMENTS, 1_000, '2024-02-01T00:00:00Z');
    published.push(...events);
    const progress = { published: 0 };
    const before = await countRows(pg);
    const publishing = publishSlowly(js, names.subjects.input, events, progress);

    await waitFor(
      'some new rows stored',
      async () => (await countRows(pg)) >= before + 1_000,
      60_000,
      50,
    );
    service!.child.kill('SIGTERM');
    expect(await service!.exited).toBe(0);
    expect(service!.output()).toContain('SIGTERM: draining');
    expect(progress.published).toBeLessThan(events.length);

    await publishing;
    service = await startService(env);
    await expectStoredExactlyOnce(pg, published);
    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
  }, 240_000);
});
