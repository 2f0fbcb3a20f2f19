import 'reflect-metadata';
import { join } from 'node:path';

/*
 * BENCH_SERVICE_SRC=<dir>: the service from another checkout's src/ (e.g. the
 * commit before a change), for a before/after comparison in the same run.
 */
const SRC = process.env.BENCH_SERVICE_SRC ?? join(__dirname, '..', 'src');
/* eslint-disable @typescript-eslint/no-require-imports */
const { createApp } = require(join(SRC, 'app.factory')) as typeof import('../src/app.factory');
const { loadSettings } = require(
  join(SRC, 'settings', 'settings'),
) as typeof import('../src/settings/settings');
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * The service in a process of its own (forked by bench/processes.ts), so the
 * load generator does not share its event loop. Settings come as a JSON
 * object in argv[2]; the listening port goes back over IPC.
 */
async function main(): Promise<void> {
  const env = JSON.parse(process.argv[2] ?? '{}') as Record<string, string>;
  const app = await createApp(loadSettings(env));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  process.send?.({ port });
  process.once('SIGTERM', () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
