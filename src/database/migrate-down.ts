import { Pool } from 'pg';
import { loadSettings } from '../settings/settings';
import { EmbeddedEngine } from './embedded-engine';
import { MigrationRunner } from './migration-runner';
import { guardPoolErrors } from './pg-errors';

/** `npm run migrate:down`: reverts the newest applied migration on the configured database. */
async function migrateDown(): Promise<void> {
  const settings = loadSettings();
  const embedded = settings.databaseUrl ? undefined : await EmbeddedEngine.start(settings.dataDir);
  const pool = new Pool({
    connectionString: settings.databaseUrl ?? embedded!.connectionString,
    max: 1,
  });
  guardPoolErrors(pool, (message) => process.stderr.write(`${message}\n`));
  try {
    const reverted = await new MigrationRunner(pool).down();
    process.stdout.write(reverted ? `reverted ${reverted}\n` : 'nothing to revert\n');
  } finally {
    await pool.end();
    await embedded?.stop();
  }
}

migrateDown().catch((error: unknown) => {
  process.stderr.write(
    `migrate:down failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
