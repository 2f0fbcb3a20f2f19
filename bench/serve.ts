import 'reflect-metadata';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';

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
