import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from './app.factory';
import { InvalidSettingError, loadSettings, Settings } from './settings/settings';
import { register } from 'prom-client';
import {
  answerMetricsRequests,
  EventWorkers,
  isEventWorker,
  reportWorkerReady,
  startEventWorkers,
} from './workers/event-workers';

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
function drainOnSignals(
  app: NestFastifyApplication,
  settings: Settings,
  logger: Logger,
  workers?: EventWorkers,
): (signal: NodeJS.Signals) => void {
  let draining = false;
  const shutdown = (signal: NodeJS.Signals) => {
    // Once: Ctrl-C reaches a worker both from the terminal and from the service.
    if (draining) return;
    draining = true;
    logger.log(`${signal}: draining`);
    setTimeout(() => {
      logger.error(`shutdown took longer than ${settings.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, settings.shutdownTimeoutMs).unref();
    Promise.all([app.close(), workers?.stop() ?? true]).then(
      ([, workersDrained]) => process.exit(workersDrained ? 0 : 1),
      (error: unknown) => {
        logger.error(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  return shutdown;
}

async function bootstrap(): Promise<void> {
  const settings = settingsOrExit();
  if (isEventWorker()) return runEventWorker(settings);
  const logger = new Logger('Main');
  const app = await createApp(settings);
  // Hooks first (connections, metrics), then the event consumers, then HTTP.
  await app.init();
  // After init: the migrations have run, so the workers start on the current schema.
  const workers =
    settings.events.workers > 1 ? startEventWorkers(settings.events.workers - 1) : undefined;
  drainOnSignals(app, settings, logger, workers);
  await app.startAllMicroservices();
  await app.listen(settings.port, settings.host);
  logger.log(`listening on http://${settings.host}:${settings.port} (docs at /api/docs)`);
}

/**
 * An event worker (EVENT_WORKERS > 1): the JetStream consumer alone. No HTTP,
 * no Redis events (every process would receive each one), no background
 * jobs (the service runs them).
 */
async function runEventWorker(settings: Settings): Promise<void> {
  const logger = new Logger('EventWorker');
  // Stopped while starting: nothing pulled yet, nothing to drain.
  const beforeStart = () => process.exit(0);
  process.once('SIGTERM', beforeStart).once('SIGINT', beforeStart);
  const app = await createApp({
    ...settings,
    statsRefreshIntervalMs: 0,
    compressionJobIntervalMs: 0,
    rollupRefreshIntervalMs: 0,
    lifecycle: { ...settings.lifecycle, maintenanceIntervalMs: 0 },
    events: { ...settings.events, redisUrl: undefined },
  });
  process.off('SIGTERM', beforeStart).off('SIGINT', beforeStart);
  const shutdown = drainOnSignals(app, settings, logger);
  answerMetricsRequests(() => register.getMetricsAsJSON());
  // The service is gone (killed): drain rather than consume unsupervised.
  process.once('disconnect', () => shutdown('SIGTERM'));
  await app.init();
  await app.startAllMicroservices();
  reportWorkerReady();
  logger.log(`event worker ${process.pid} started`);
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `start-up failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
