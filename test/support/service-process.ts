import { ChildProcess, spawn } from 'node:child_process';
import { AddressInfo, createServer } from 'node:net';
import { resolve } from 'node:path';
import { TEST_RETENTION } from './test-database';

const ROOT = resolve(__dirname, '..', '..');

/** A port nobody listens on right now (bound to 0, read, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** The real service (src/main.ts) as a child process: what a container runs. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts src/main.ts through ts-node on a free loopback port and resolves once
 * it answers /health/live (migrations ran, consumers started). Fails with its output if it
 * exits first.
 */
export async function startServiceProcess(
  env: Record<string, string>,
  startTimeoutMs = 90_000,
): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      // Jest's --experimental-vm-modules is not wanted in the service.
      NODE_OPTIONS: '',
      TZ: 'UTC',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'log',
      STATS_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      ...TEST_RETENTION,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + startTimeoutMs;
  while (!(await answersLive(baseUrl))) {
    if (gone) throw new Error(`the service exited during start-up:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service did not listen within ${startTimeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, baseUrl, output: () => output, exited };
}

/** The port answers /health/live: it listens (whatever LOG_LEVEL says). */
async function answersLive(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/health/live`, { signal: AbortSignal.timeout(2_000) });
    await response.text();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** SIGKILL if still running; resolves once it is gone. */
export async function killService(service: ServiceProcess | undefined): Promise<void> {
  if (!service) return;
  if (service.child.exitCode === null && service.child.signalCode === null) {
    service.child.kill('SIGKILL');
  }
  await service.exited;
}
