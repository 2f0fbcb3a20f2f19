import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { InvalidSettingError, loadSettings, Settings } from './settings/settings';

function settingsOrExit(): Settings {
  try {
    return loadSettings();
  } catch (error) {
    if (error instanceof InvalidSettingError) {
      // One clear line naming the variable; no stack.
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function bootstrap(): Promise<void> {
  const settings = settingsOrExit();
  const app = await createApp(settings);
  await app.listen(settings.port, settings.host);
  new Logger('Main').log(
    `listening on http://${settings.host}:${settings.port} (docs at /api/docs)`,
  );
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `start-up failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
