import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { JetStreamClient, NatsConnection } from 'nats';
import { MarketDataEventPayload, publishAll } from '../test/support/events';

/**
 * One-bar events at EVENT_WORKERS = N: the built service (dist/main.js) as a
 * process with N - 1 event workers, on a backlog published before it
 * starts. A worker needs a second or two to start, while the service
 * already consumes, so the rate is taken from the moment every process
 * consumes (health: workers running) to the last row announced, over the
 * rows stored in between.
 */

const ROOT = join(__dirname, '..');
/** Fewer rows than this left when every process consumes: too few to time. */
const MIN_TIMED_ROWS = 10_000;
const START_TIMEOUT_MS = 120_000;

export interface WorkersRun {
  readonly workers: number;
  /** Rows per second with every process consuming; undefined when too few rows were left to time. */
  readonly rate: number | undefined;
  readonly timedRows: number;
  readonly timedMs: number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** Builds dist/ when the sources changed since the last build (as `npm start` does). */
export function buildService(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-if-stale.mjs')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

async function health(port: number): Promise<{ events?: { nats?: Record<string, unknown> } }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/storage/health`);
    return (await res.json()) as { events?: { nats?: Record<string, unknown> } };
  } catch {
    return {};
  }
}

function allConsuming(nats: Record<string, unknown> | undefined, workers: number): boolean {
  if (nats?.consumer_state !== 'consuming') return false;
  if (workers === 1) return true;
  return (nats.workers as { running?: number } | undefined)?.running === workers - 1;
}

/** Publishes `events` (their instruments prefixed), starts the service with `workers`, times it. */
export async function runWithWorkers(
  workers: number,
  events: readonly MarketDataEventPayload[],
  env: Record<string, string>,
  nc: NatsConnection,
  js: JetStreamClient,
  subjects: { input: string; output: string },
): Promise<WorkersRun> {
  const prefix = `W${workers}`;
  const payloads = events.map((e) => ({
    ...e,
    market_data: { ...e.market_data, instrument_id: `${prefix}${e.market_data.instrument_id}` },
  }));
  await publishAll(js, subjects.input, payloads, 1_000);
  const total = payloads.length;
  let stored = 0;
  let doneAt = 0;
  const sub = nc.subscribe(subjects.output);
  const announced = (async () => {
    for await (const m of sub) {
      const data = m.json<{ storage_data: { instrument_id: string; stored_count: number } }>();
      if (!data.storage_data.instrument_id.startsWith(prefix)) continue;
      stored += data.storage_data.stored_count;
      if (stored >= total) {
        doneAt = performance.now();
        return;
      }
    }
  })();
  await nc.flush();

  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    // As `npm start` runs it (docs/operations.md, "Node flags"); the workers inherit the flags.
    ['--max-semi-space-size=64', join(ROOT, 'dist', 'main.js')],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        ...env,
        NODE_OPTIONS: '',
        PORT: String(port),
        HOST: '127.0.0.1',
        EVENT_WORKERS: String(workers),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    let readyAt = 0;
    let storedAtReady = 0;
    const deadline = performance.now() + START_TIMEOUT_MS;
    while (!readyAt) {
      if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
      if (performance.now() > deadline) {
        throw new Error(
          `EVENT_WORKERS=${workers}: not every process consumed within ${START_TIMEOUT_MS} ms`,
        );
      }
      if (allConsuming((await health(port)).events?.nats, workers)) {
        readyAt = performance.now();
        storedAtReady = stored;
      } else {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await announced;
    const timedRows = total - storedAtReady;
    const timedMs = doneAt - readyAt;
    return {
      workers,
      rate: timedRows >= MIN_TIMED_ROWS ? Math.round(timedRows / (timedMs / 1000)) : undefined,
      timedRows,
      timedMs,
    };
  } finally {
    sub.unsubscribe();
    child.kill('SIGTERM');
    await exited;
  }
}
