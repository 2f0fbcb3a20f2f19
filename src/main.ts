import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
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

/**
 * SIGTERM/SIGINT drain: stop taking requests and pulling events, finish
 * those in flight (an event batch is committed, announced and acked), close
 * connections, exit 0; give up with exit 1 after SHUTDOWN_TIMEOUT_MS.
 */
function drainOnSignals(app: NestFastifyApplication, settings: Settings, logger: Logger): void {
  const shutdown = (signal: NodeJS.Signals) => {
    logger.log(`${signal}: draining`);
    setTimeout(() => {
      logger.error(`shutdown took longer than ${settings.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, settings.shutdownTimeoutMs).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

async function bootstrap(): Promise<void> {
  const settings = settingsOrExit();
  const logger = new Logger('Main');
  const app = await createApp(settings);
  drainOnSignals(app, settings, logger);
  // Hooks first (connections, metrics), then the event consumers, then HTTP.
  await app.init();
  await app.startAllMicroservices();
  await app.listen(settings.port, settings.host);
  logger.log(`listening on http://${settings.host}:${settings.port} (docs at /api/docs)`);
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `start-up failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
