import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadSettings, Settings } from '../../src/settings/settings';

/**
 * The three engines every database-facing suite runs on: the embedded
 * TimescaleDB (PGlite), plain PostgreSQL (native partitioning) and a
 * TimescaleDB server (the production engine).
 */
export type TestEngine = 'embedded' | 'postgresql' | 'timescaledb';
const ALL_ENGINES: readonly TestEngine[] = ['embedded', 'postgresql', 'timescaledb'];

/**
 * TEST_ENGINES=postgresql,timescaledb narrows a local run; unset, every
 * engine runs (as in CI). An unknown name fails loudly rather than testing nothing.
 */
function selectedEngines(): readonly TestEngine[] {
  const wanted = process.env.TEST_ENGINES?.split(',').map((name) => name.trim());
  if (!wanted || wanted.join('') === '') return ALL_ENGINES;
  for (const name of wanted) {
    if (!ALL_ENGINES.includes(name as TestEngine))
      throw new Error(`TEST_ENGINES: unknown engine "${name}" (use ${ALL_ENGINES.join(', ')})`);
  }
  return ALL_ENGINES.filter((engine) => wanted.includes(engine));
}
export const ENGINES: readonly TestEngine[] = selectedEngines();

/** What an engine can do: suites expect by capability, not by the engine's name. */
export interface EngineCapabilities {
  /** Hypertables, chunks, compression and continuous aggregates (else native partitions). */
  readonly timescale: boolean;
  /** One in-process session (PGlite): no statement timeout, no parallel connections. */
  readonly embedded: boolean;
}
export function capabilitiesOf(engine: TestEngine): EngineCapabilities {
  return { timescale: engine !== 'postgresql', embedded: engine === 'embedded' };
}
/** The selected engines with TimescaleDB (compression, chunks, rollups). */
export const TIMESCALE_ENGINES: readonly TestEngine[] = ENGINES.filter(
  (engine) => capabilitiesOf(engine).timescale,
);

/** The engine name the service reports for a test engine (health, statistics). */
export function reportedEngine(engine: TestEngine): 'timescaledb' | 'postgresql' {
  return capabilitiesOf(engine).timescale ? 'timescaledb' : 'postgresql';
}

/** The local PostgreSQL 15 (no TimescaleDB): suites create their own database on it. */
export const POSTGRES_ADMIN_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The TimescaleDB server (../shared/timescaledb/install.sh): the same, one database a suite. */
export const TIMESCALEDB_ADMIN_URL =
  process.env.TEST_TIMESCALEDB_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres';

/** The admin URL of a server engine. */
export function adminUrlOf(engine: Exclude<TestEngine, 'embedded'>): string {
  return engine === 'timescaledb' ? TIMESCALEDB_ADMIN_URL : POSTGRES_ADMIN_URL;
}

/**
 * Fixtures of the suites are fixed dates (2024, 1900, ...): with the
 * service's 730-day default a store would refuse them as retention moves
 * with the calendar. Suites keep their points forever unless they test
 * retention, which set RETENTION_DEFAULT_DAYS themselves.
 */
export const TEST_RETENTION = { RETENTION_DEFAULT_DAYS: 'forever' } as const;

export interface TestDatabase {
  readonly engine: TestEngine;
  /** Settings pointing at this database, quiet logs, everything else default. */
  readonly settings: Settings;
  drop(): Promise<void>;
}

async function withAdmin<T>(adminUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database on a server engine; returns its URL and how to drop it. */
export async function createServerDatabase(
  adminUrl: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `mds_test_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withAdmin(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      ).then(() => undefined),
  };
}

/**
 * A fresh, empty database for one suite: a new database on a server engine
 * or a new embedded data directory. Nothing is shared between suites.
 */
export async function createTestDatabase(
  engine: TestEngine,
  env: Record<string, string> = {},
): Promise<TestDatabase> {
  if (engine === 'embedded') {
    const dataDir = mkdtempSync(join(tmpdir(), 'mds-test-'));
    return {
      engine,
      settings: loadSettings({ LOG_LEVEL: 'error', ...TEST_RETENTION, DATA_DIR: dataDir, ...env }),
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const { url, drop } = await createServerDatabase(adminUrlOf(engine));
  return {
    engine,
    settings: loadSettings({ LOG_LEVEL: 'error', ...TEST_RETENTION, DATABASE_URL: url, ...env }),
    drop,
  };
}
