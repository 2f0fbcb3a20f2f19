import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { makeBars } from './support/bars';
import { request, startTestApp, TestApp } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * scripts/backup.sh then scripts/restore.sh into a fresh database: the
 * service started on the restored database answers every query exactly as
 * the original does, and the tables hold the same rows.
 */

const ROOT = resolve(__dirname, '..');
const BASE = '/api/v1/storage';

function runScript(script: string, databaseUrl: string, arg: string) {
  return spawnSync('bash', [join(ROOT, 'scripts', script), arg], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  });
}

/** The answer without what differs on every call. */
function comparable(text: string): unknown {
  const body = JSON.parse(text) as Record<string, unknown>;
  delete body.query_time_ms;
  delete body.cache_hit;
  return body;
}

/** Every row of every table of the service, as text, for an exact comparison. */
async function tableDigest(url: string): Promise<Record<string, { rows: number; md5: string }>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const digest: Record<string, { rows: number; md5: string }> = {};
    for (const table of [
      'market_data_ts',
      'storage_metadata_ts',
      'storage_configurations',
      'storage_statistics',
      'schema_migrations',
    ]) {
      const { rows } = await client.query<{ rows: number; md5: string }>(
        `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5
           FROM ${table} t`,
      );
      digest[table] = rows[0];
    }
    return digest;
  } finally {
    await client.end();
  }
}

describe('backup and restore on postgresql', () => {
  let original: TestApp;
  let restoredDb: TestDatabase;
  let restored: NestFastifyApplication | undefined;
  let restoredUrl: string;
  let dir: string;

  const paths = [
    `${BASE}/query?instrument_id=BK1&timeframe=ONE_MINUTE&start_time=2025-01-31T00:00:00Z&end_time=2025-02-02T00:00:00Z&limit=100000`,
    `${BASE}/query?instrument_id=BK2&timeframe=ONE_MINUTE&start_time=2025-01-31T00:00:00Z&end_time=2025-02-02T00:00:00Z&limit=100000`,
    `${BASE}/query?instrument_id=BK1&timeframe=ONE_HOUR&start_time=2025-01-31T00:00:00Z&end_time=2025-02-02T00:00:00Z`,
    `${BASE}/query?instrument_id=BK2&timeframe=FIVE_MINUTES&start_time=2025-01-31T00:00:00Z&end_time=2025-02-02T00:00:00Z&fields=close,volume`,
    `${BASE}/query?instrument_id=BK3&timeframe=ONE_DAY&start_time=2024-01-01T00:00:00Z&end_time=2026-01-01T00:00:00Z`,
    `${BASE}/instruments/BK1/latest?timeframe=ONE_MINUTE`,
    `${BASE}/instruments/BK3/latest?timeframe=ONE_DAY`,
    `${BASE}/configurations`,
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mds-backup-'));
    original = await startTestApp('postgresql', { STATS_REFRESH_INTERVAL_MS: '0' });
    const store = async (instrument: string, timeframe: string, bars: unknown[]) => {
      const res = await request(original.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: instrument,
        timeframe,
        data_points: bars,
      });
      expect(res.status).toBe(200);
    };
    // Two days across a month boundary: two monthly partitions.
    await store('BK1', 'ONE_MINUTE', makeBars('2025-01-31T00:00:00Z', 2880, 60_000, 1));
    await store('BK2', 'ONE_MINUTE', makeBars('2025-01-31T12:00:00Z', 1000, 60_000, 2));
    const daily = makeBars('2024-06-03T00:00:00Z', 300, 86_400_000, 3);
    // A volume above 2^53 must come back exactly.
    daily[10].volume = '9007199254740993';
    await store('BK3', 'ONE_DAY', daily);
    const deleted = await request(
      original.baseUrl,
      'DELETE',
      `${BASE}/instruments/BK2?start_time=2025-02-01T00:00:00Z&end_time=2025-02-01T01:00:00Z`,
    );
    expect(deleted.body.deleted_count).toBe(60);
    const configured = await request(
      original.baseUrl,
      'PUT',
      `${BASE}/configurations/BK1/ONE_MINUTE`,
      { compression_level: 'HIGH' },
    );
    expect(configured.status).toBe(201);
    // The statistics tables get rows too.
    expect((await request(original.baseUrl, 'GET', `${BASE}/statistics`)).status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await restored?.close();
    await original?.close();
    await restoredDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('should write a backup while the service runs', () => {
    const result = runScript('backup.sh', original.db.settings.databaseUrl!, join(dir, 'b.dump'));
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(result.stdout).toContain('backup written to');
    expect(result.stdout).toContain('timescaledb=none');
    // A pg_dump archive with the rows of the service's tables (market data in its monthly partitions).
    const list = execFileSync('pg_restore', ['--list', join(dir, 'b.dump')], { encoding: 'utf8' });
    for (const table of [
      'market_data_ts_y2025m01',
      'market_data_ts_y2025m02',
      'storage_configurations',
      'schema_migrations',
    ]) {
      expect(list).toContain(`TABLE DATA public ${table} `);
    }
  });

  it('should restore into a fresh database that the service then serves with identical answers', async () => {
    restoredDb = await createTestDatabase('postgresql');
    restoredUrl = restoredDb.settings.databaseUrl!;
    const result = runScript('restore.sh', restoredUrl, join(dir, 'b.dump'));
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });

    const originalTables = await tableDigest(original.db.settings.databaseUrl!);
    expect(originalTables.market_data_ts.rows).toBe(2880 + 1000 - 60 + 300);
    expect(originalTables.storage_configurations.rows).toBe(1);
    expect(await tableDigest(restoredUrl)).toEqual(originalTables);

    restored = await createApp(restoredDb.settings);
    await restored.listen(0, '127.0.0.1');
    const restoredBase = `http://127.0.0.1:${(restored.getHttpServer().address() as { port: number }).port}`;
    for (const path of paths) {
      const before = await request(original.baseUrl, 'GET', path);
      const after = await request(restoredBase, 'GET', path);
      expect(after.status).toBe(200);
      expect({ path, body: comparable(after.text) }).toEqual({
        path,
        body: comparable(before.text),
      });
    }
    const exact = await request(restoredBase, 'GET', paths[4]);
    expect(exact.text).toContain('"volume":9007199254740993');
  }, 120_000);

  it('should refuse to restore over a database that has tables', () => {
    const result = runScript('restore.sh', original.db.settings.databaseUrl!, join(dir, 'b.dump'));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('restore refused');
  });
});
