import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';

/** A forked bench server (the service or the naive client) and how to stop it. */
export interface BenchServer {
  readonly base: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Forks a TypeScript entry of bench/ through ts-node; resolves once it sent
 * its port. BENCH_CPU_PROF=<dir> adds --cpu-prof to the child (profiles of
 * the server side).
 */
export function forkServer(
  entry: string,
  args: string[],
  name: string,
  extraEnv: Record<string, string> = {},
): Promise<BenchServer> {
  const profile = process.env.BENCH_CPU_PROF;
  const child = fork(join(__dirname, entry), args, {
    execArgv: [
      '-r',
      'ts-node/register/transpile-only',
      ...(profile
        ? ['--cpu-prof', '--cpu-prof-dir', profile, '--cpu-prof-name', `${name}.cpuprofile`]
        : []),
    ],
    env: { ...process.env, ...extraEnv, TZ: 'UTC' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before listening`)));
    child.once('message', (message: { port: number }) => {
      child.removeAllListeners('exit');
      resolve({
        base: `http://127.0.0.1:${message.port}`,
        child,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** The service with these settings (a JSON object of environment variables). */
export function forkService(
  env: Record<string, string>,
  name = 'service',
  srcDir?: string,
): Promise<BenchServer> {
  return forkServer(
    'serve.ts',
    [JSON.stringify(env)],
    name,
    srcDir ? { BENCH_SERVICE_SRC: srcDir } : {},
  );
}
