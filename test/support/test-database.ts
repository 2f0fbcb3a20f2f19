import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadSettings, Settings } from '../../src/settings/settings';

/** The two engines every database-facing suite runs on. */
export type TestEngine = 'embedded' | 'postgresql';
export const ENGINES: readonly TestEngine[] = ['embedded', 'postgresql'];

/** The local PostgreSQL 15 (no TimescaleDB): suites create their own database on it. */
export const POSTGRES_ADMIN_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  readonly engine: TestEngine;
  /** Settings pointing at this database, quiet logs, everything else default. */
  readonly settings: Settings;
  drop(): Promise<void>;
}

async function withAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty database for one suite: a new PostgreSQL database or a new
 * embedded data directory. Nothing is shared between suites.
 */
export async function createTestDatabase(
  engine: TestEngine,
  env: Record<string, string> = {},
): Promise<TestDatabase> {
  if (engine === 'embedded') {
    const dataDir = mkdtempSync(join(tmpdir(), 'mds-test-'));
    return {
      engine,
      settings: loadSettings({ LOG_LEVEL: 'error', DATA_DIR: dataDir, ...env }),
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `mds_test_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    engine,
    settings: loadSettings({ LOG_LEVEL: 'error', DATABASE_URL: url.toString(), ...env }),
    drop: () =>
      withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}
