import { Client } from 'pg';
import { makeBars } from './support/bars';
import { ServiceProcess, startServiceProcess } from './support/service-process';
import { createServerDatabase } from './support/test-database';

/**
 * A server where TimescaleDB is installed but not in shared_preload_libraries
 * (the state right after installing the package): `CREATE EXTENSION` there
 * ends the session with a FATAL. The service must never try it: it runs on
 * plain PostgreSQL with one warning line saying how to enable TimescaleDB.
 * CI starts that server with
 *   TSDB_PORT=5434 TSDB_DATA=/var/lib/postgresql/tsdb-nopreload TSDB_PRELOAD=0 ../shared/timescaledb/install.sh
 */
const NOT_PRELOADED_URL =
  process.env.TEST_TIMESCALEDB_NOT_PRELOADED_URL ?? 'postgres://postgres@127.0.0.1:5434/postgres';
const BASE = '/api/v1/storage';

async function serverState(): Promise<{ available: boolean; preload: string }> {
  const client = new Client({ connectionString: NOT_PRELOADED_URL });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `no server on ${NOT_PRELOADED_URL} (${(error as Error).message}): start it with ` +
        'TSDB_PORT=5434 TSDB_DATA=/var/lib/postgresql/tsdb-nopreload TSDB_PRELOAD=0 ../shared/timescaledb/install.sh',
      { cause: error },
    );
  }
  try {
    const { rows } = await client.query<{ available: boolean; preload: string }>(
      `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
              current_setting('shared_preload_libraries') AS preload`,
    );
    return rows[0];
  } finally {
    await client.end();
  }
}

describe('a server with TimescaleDB installed but not preloaded', () => {
  let database: { url: string; drop: () => Promise<void> };
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    // The premise: the extension is there to be created, and the server does not load it.
    await expect(serverState()).resolves.toEqual({ available: true, preload: '' });
    database = await createServerDatabase(NOT_PRELOADED_URL);
  });

  afterAll(async () => {
    service?.child.kill('SIGTERM');
    await service?.exited;
    await database?.drop();
  });

  it('should start on plain PostgreSQL with one warning line and no stack trace', async () => {
    service = await startServiceProcess({ DATABASE_URL: database.url });

    const health = (await (await fetch(`${service.baseUrl}${BASE}/health`)).json()) as {
      database: { engine: string; up: boolean };
    };
    expect(health.database).toMatchObject({ engine: 'postgresql', up: true });
    const warnings = service
      .output()
      .split('\n')
      .filter((line) => line.includes('not preloaded'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("shared_preload_libraries = 'timescaledb'");
    expect(service.output()).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
    expect(service.output()).not.toMatch(/Unhandled 'error' event|Connection terminated/);
  });

  it('should store and answer bars there, on native partitions', async () => {
    const bars = makeBars('2025-03-03T00:00:00Z', 3);
    const stored = await fetch(`${service!.baseUrl}${BASE}/store`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        instrument_id: 'NOPRELOAD',
        timeframe: 'ONE_MINUTE',
        data_type: 'OHLCV',
        data_points: bars,
      }),
    });
    expect(await stored.json()).toMatchObject({ stored_count: 3, failed_count: 0 });

    const answer = (await (
      await fetch(
        `${service!.baseUrl}${BASE}/query?instrument_id=NOPRELOAD&timeframe=ONE_MINUTE` +
          '&start_time=2025-03-03T00:00:00Z&end_time=2025-03-04T00:00:00Z',
      )
    ).json()) as { total_count: number };
    expect(answer.total_count).toBe(3);

    const client = new Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ extensions: string; partitioned: boolean }>(
        `SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb')::text AS extensions,
                EXISTS (SELECT 1 FROM pg_partitioned_table
                         WHERE partrelid = 'market_data_ts'::regclass) AS partitioned`,
      );
      expect(rows).toEqual([{ extensions: '0', partitioned: true }]);
    } finally {
      await client.end();
    }
  });

  it('should warn again, once, on the next start', async () => {
    service?.child.kill('SIGTERM');
    await service?.exited;
    service = await startServiceProcess({ DATABASE_URL: database.url });

    expect(service.output().match(/not preloaded/g)).toHaveLength(1);
  });
});
