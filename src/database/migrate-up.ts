import { Logger, LogLevel } from '@nestjs/common';
import { InvalidSettingError, loadSettings } from '../settings/settings';
import { DatabaseConnection } from './database-connection';

/**
 * `npm run migrate:up` / `node dist/database/migrate-up.js`: applies pending
 * migrations and exits, without serving. Run as a Kubernetes init container
 * (deploy/k8s) or a release step: the service also migrates at start, under
 * the same advisory lock, so replicas starting together never race; this
 * makes a failing migration fail the rollout before any new pod serves.
 */
async function migrateUp(): Promise<void> {
  const settings = loadSettings();
  // LOG_LEVEL as in the service: "applied <migration>" lines at log level.
  const levels: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];
  Logger.overrideLogger(levels.slice(0, levels.indexOf(settings.logLevel) + 1));
  // Waits for the server like the service does (DB_STARTUP_WAIT_MS), then migrates.
  const connection = await DatabaseConnection.openWhenReachable(settings);
  await connection.close();
  process.stdout.write('migrations up to date\n');
}

migrateUp().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    error instanceof InvalidSettingError ? `${message}\n` : `migrate:up failed: ${message}\n`,
  );
  process.exit(1);
});
