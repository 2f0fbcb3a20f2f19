import { Pool } from 'pg';
import { runAppTask } from './support/lifecycle';
import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

/**
 * The `partitions` maintenance task on plain PostgreSQL keeps the monthly
 * partitions of bars, trades and quotes created ahead of now, and reports
 * each one it created.
 */
const ON_POSTGRESQL = ENGINES.filter((engine) => engine === 'postgresql');

const TABLES = ['market_data_ts', 'market_trades_ts', 'market_quotes_ts'];

describe.each(ON_POSTGRESQL)('partitions ahead on %s', (engine) => {
  let t: TestApp;
  let pool: Pool;

  /** The monthly partitions of `table` in the catalog, by name. */
  async function partitionsOf(table: string): Promise<string[]> {
    const { rows } = await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = $1 ORDER BY 1`,
      [table],
    );
    return rows.map((r) => r.name);
  }

  beforeAll(async () => {
    t = await startTestApp(engine, { MAINTENANCE_INTERVAL_MS: '0' });
    pool = new Pool({ connectionString: t.db.settings.databaseUrl });
  }, 60_000);

  afterAll(async () => {
    await pool?.end();
    await t?.close();
  });

  it('should report the tables it keeps ahead through POST /maintenance/run', async () => {
    const res = await request(t.baseUrl, 'POST', '/api/v1/storage/maintenance/run?task=partitions');

    expect(res.status).toBe(200);
    // Start-up already made the next three months of every table: nothing left to create now.
    expect(res.body.tasks).toEqual([
      expect.objectContaining({
        name: 'partitions',
        status: 'done',
        result: { created_partitions: [], months_ahead: 3, tables: TABLES },
      }),
    ]);
  });

  it('should create the months ahead for bars, trades and quotes and report each', async () => {
    const task = { run: (now: Date) => runAppTask(t.app, 'partitions', now) };

    const first = await task.run(new Date('2031-05-10T12:00:00Z'));
    const again = await task.run(new Date('2031-05-10T12:00:00Z'));

    const months = ['y2031m05', 'y2031m06', 'y2031m07', 'y2031m08'];
    expect(first).toEqual({
      created_partitions: TABLES.flatMap((table) => months.map((m) => `${table}_${m}`)),
      months_ahead: 3,
      tables: TABLES,
    });
    expect(again).toMatchObject({ created_partitions: [] });
    for (const table of TABLES) {
      expect(await partitionsOf(table)).toEqual(
        expect.arrayContaining(months.map((m) => `${table}_${m}`)),
      );
    }
    // A trade and a quote of such a month land in the partition made ahead.
    const stored = await Promise.all([
      request(t.baseUrl, 'POST', '/api/v1/storage/store', {
        instrument_id: 'AHEAD',
        data_type: 'TRADE',
        data_points: [{ timestamp: '2031-06-02T10:00:00.000001Z', price: 1, size: 1 }],
      }),
      request(t.baseUrl, 'POST', '/api/v1/storage/store', {
        instrument_id: 'AHEAD',
        data_type: 'QUOTE',
        data_points: [
          { timestamp: '2031-06-02T10:00:00Z', bid: 1, ask: 2, bid_size: 1, ask_size: 1 },
        ],
      }),
    ]);
    expect(stored.map((r) => r.body.stored_count as number)).toEqual([1, 1]);
    const { rows } = await pool.query<{ t: string; q: string }>(
      `SELECT (SELECT tableoid::regclass::text FROM market_trades_ts WHERE instrument_id = 'AHEAD') AS t,
              (SELECT tableoid::regclass::text FROM market_quotes_ts WHERE instrument_id = 'AHEAD') AS q`,
    );
    expect(rows[0]).toEqual({ t: 'market_trades_ts_y2031m06', q: 'market_quotes_ts_y2031m06' });
  });
});
