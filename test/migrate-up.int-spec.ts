import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { readMigrations } from '../src/database/migration-runner';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * src/database/migrate-up.ts, the Kubernetes init container's command
 * (deploy/k8s/deployment.yaml): several pods starting together on a fresh
 * database each run it; all succeed and every migration is applied once.
 */

const ROOT = resolve(__dirname, '..');

function migrateUp(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', 'src/database/migrate-up.ts'],
    {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', LOG_LEVEL: 'error', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((done) => child.once('exit', (code) => done({ code, output })));
}

describe('migrate-up entry point on postgresql', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('postgresql');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('should apply every migration once when three replicas run it at the same time', async () => {
    const env = { DATABASE_URL: db.settings.databaseUrl! };
    const runs = await Promise.all([migrateUp(env), migrateUp(env), migrateUp(env)]);
    for (const run of runs) expect(run).toEqual({ code: 0, output: 'migrations up to date\n' });

    const client = new Client({ connectionString: db.settings.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: string }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => r.version)).toEqual(readMigrations().map((m) => m.version));
      const tables = await client.query<{ t: string | null }>(
        "SELECT to_regclass('market_data_ts')::text AS t",
      );
      expect(tables.rows[0].t).toBe('market_data_ts');
    } finally {
      await client.end();
    }
  }, 120_000);

  it('should fail with one line naming a bad setting', async () => {
    const run = await migrateUp({ DATABASE_URL: 'mysql://nope' });
    expect(run.code).toBe(1);
    expect(run.output).toBe(
      'Invalid setting DATABASE_URL: protocol "mysql:" is not postgres: or postgresql:\n',
    );
  }, 60_000);
});
