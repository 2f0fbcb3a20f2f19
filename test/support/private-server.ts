import { ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';

/**
 * A private redis-server or nats-server for one suite, on its own port, that
 * the suite may kill and start again: the shared servers on 6379 and 4222 are
 * never touched.
 */
export class PrivateServer {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    private readonly command: string,
    private readonly args: string[],
    readonly port: number,
  ) {}

  /** Starts the server and resolves once its port accepts connections. */
  async start(timeoutMs = 15_000): Promise<void> {
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    const deadline = Date.now() + timeoutMs;
    while (!(await this.accepts())) {
      if (child.exitCode !== null) throw new Error(`${this.command} exited:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`${this.command} did not listen:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** kill -9 of this server's pid only; resolves once it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }
}

/** redis-server without persistence: a restart comes back empty, as a cache may. */
export function privateRedis(port: number): PrivateServer {
  return new PrivateServer(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    port,
  );
}

/** nats-server with JetStream stored under `storeDir`: a restart keeps the streams. */
export function privateNats(port: number, storeDir: string): PrivateServer {
  return new PrivateServer(
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir],
    port,
  );
}
