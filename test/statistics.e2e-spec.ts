import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { DatabaseConnection } from '../src/database/database-connection';
import { DATABASE_CONNECTION } from '../src/database/database.tokens';
import { StorageStatisticsDto } from '../src/statistics/dto/statistics-response.dto';
import { StatisticsService } from '../src/statistics/statistics.service';
import { makeBars } from './support/bars';
import { request, startTestApp, TestApp } from './support/test-app';
import {
  capabilitiesOf,
  createTestDatabase,
  ENGINES,
  reportedEngine,
} from './support/test-database';

const STATISTICS = '/api/v1/storage/statistics';

describe.each(ENGINES)('statistics API on %s', (engine) => {
  let t: TestApp;

  beforeAll(async () => {
    // No timers: the tests say when to measure, and no chunk gets compressed behind their back.
    t = await startTestApp(engine, {
      STATS_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  async function sql<T>(text: string): Promise<T[]> {
    const db = t.app.get<DatabaseConnection>(DATABASE_CONNECTION);
    return (await db.pool.query(text)).rows as T[];
  }

  async function store(instrumentId: string, timeframe: string, bars: unknown[]): Promise<void> {
    const res = await request(t.baseUrl, 'POST', '/api/v1/storage/store', {
      instrument_id: instrumentId,
      timeframe,
      data_points: bars,
    });
    expect(res.status).toBe(200);
  }

  function readStatistics() {
    return request<StorageStatisticsDto>(t.baseUrl, 'GET', STATISTICS);
  }

  function refreshNow(): Promise<void> {
    return t.app.get(StatisticsService).refreshNow();
  }

  describe('GET /statistics', () => {
    it('should measure the empty storage when nothing was measured yet', async () => {
      const res = await readStatistics();

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        engine: reportedEngine(engine),
        total_records: 0,
        series: [],
        today: { query_count: 0 },
      });
      expect(Date.now() - Date.parse(res.body.measured_at)).toBeLessThan(60_000);
      expect(res.body.today.date).toBe(res.body.measured_at.slice(0, 10));
      expect(res.body.compression_note).toBe(
        capabilitiesOf(engine).timescale
          ? 'no chunk is compressed yet; the ratio covers compressed chunks only'
          : 'plain PostgreSQL has no compression',
      );
    });

    it('should answer figures equal to SQL counts after a store', async () => {
      await store('STATS.E2E', 'ONE_MINUTE', makeBars('2025-06-21T00:00:00Z', 150));
      await store('STATS.E2E', 'ONE_HOUR', makeBars('2025-06-21T00:00:00Z', 30, 3_600_000));
      await refreshNow();

      const res = await readStatistics();

      const counts = await sql<{ instrument_id: string; timeframe: string; n: number }>(
        `SELECT instrument_id, timeframe, count(*)::int AS n FROM market_data_ts
          GROUP BY 1, 2 ORDER BY 1, 2`,
      );
      expect(res.status).toBe(200);
      expect(res.body.total_records).toBe(counts.reduce((sum, c) => sum + c.n, 0));
      expect(res.body.series).toEqual(
        counts.map((c) => ({
          instrument_id: c.instrument_id,
          timeframe: c.timeframe,
          record_count: c.n,
          storage_size_mb: expect.any(Number),
          compression_ratio: 0,
          last_updated: expect.any(String),
          data_quality: 1,
          // The suites keep forever (test/support/test-database.ts).
          retention_days: null,
          next_drop_at: null,
        })),
      );
      expect(res.body.series.map((s) => s.record_count)).toEqual([30, 150]);
      expect(res.body.series[1].last_updated).toBe('2025-06-21T02:29:00.000Z');
    });

    it("should report the rollups' size beside the bars' once refreshed", async () => {
      const run = await request(
        t.baseUrl,
        'POST',
        '/api/v1/storage/maintenance/run?task=rollup_refresh',
      );
      expect(run.status).toBe(200);
      await refreshNow();

      const res = await readStatistics();

      expect(res.status).toBe(200);
      const [direct] = await sql<{ total: string; rollups: string }>(
        capabilitiesOf(engine).timescale
          ? `SELECT hypertable_size('market_data_ts') AS total,
                    hypertable_size('market_data_5m') + hypertable_size('market_data_15m')
                      + hypertable_size('market_data_1h') + hypertable_size('market_data_1d') AS rollups`
          : `SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('market_data_ts')) AS total,
                    pg_total_relation_size('market_data_rollups') AS rollups`,
      );
      expect(res.body.rollups_size_gb).toBeGreaterThan(0);
      expect(res.body.rollups_size_gb * 2 ** 30).toBe(Number(direct.rollups));
      expect(res.body.total_size_gb * 2 ** 30).toBe(Number(direct.total));
    });

    it('should answer current counts right after a store and a delete, saying when it measured', async () => {
      // A measurement before the writes, cached: what a stale answer would repeat.
      const earlier = await readStatistics();
      const others = earlier.body.total_records;
      const written = Date.now();

      await store('STATS.NOW', 'ONE_MINUTE', makeBars('2025-06-22T00:00:00Z', 5));
      const stored = await readStatistics();

      expect(stored.status).toBe(200);
      expect(stored.body.total_records).toBe(others + 5);
      expect(stored.body.series).toContainEqual(
        expect.objectContaining({ instrument_id: 'STATS.NOW', record_count: 5 }),
      );
      expect(Date.parse(stored.body.measured_at)).toBeGreaterThanOrEqual(written - 1_000);
      expect(Date.parse(stored.body.today.measured_at)).toBeGreaterThanOrEqual(
        Date.parse(stored.body.measured_at),
      );

      const deleted = await request(
        t.baseUrl,
        'DELETE',
        '/api/v1/storage/instruments/STATS.NOW?start_time=2025-06-22T00:03:00Z&end_time=2025-06-22T00:05:00Z',
      );
      expect(deleted.body.deleted_count).toBe(2);
      const afterDelete = await readStatistics();

      expect(afterDelete.body.total_records).toBe(others + 3);
      expect(afterDelete.body.series).toContainEqual(
        expect.objectContaining({
          instrument_id: 'STATS.NOW',
          record_count: 3,
          last_updated: '2025-06-22T00:02:00.000Z',
        }),
      );
      expect(Date.parse(afterDelete.body.measured_at)).toBeGreaterThanOrEqual(
        Date.parse(stored.body.measured_at),
      );
      // Nothing written since: the same measurement again, not a new scan.
      expect((await readStatistics()).body.measured_at).toBe(afterDelete.body.measured_at);
    });

    it('should count the answered queries once they are flushed', async () => {
      await refreshNow();
      const before = (await readStatistics()).body.today;
      const query =
        '/api/v1/storage/query?instrument_id=STATS.E2E&timeframe=ONE_MINUTE' +
        '&start_time=2025-06-21T00:00:00Z&end_time=2025-06-22T00:00:00Z';

      expect((await request(t.baseUrl, 'GET', query)).body.cache_hit).toBe(false);
      expect((await request(t.baseUrl, 'GET', query)).body.cache_hit).toBe(true);
      const latest = await request(
        t.baseUrl,
        'GET',
        '/api/v1/storage/instruments/STATS.E2E/latest?timeframe=ONE_HOUR',
      );
      expect(latest.status).toBe(200);
      await refreshNow();
      const after = (await readStatistics()).body.today;

      expect(after.date).toBe(before.date);
      expect(after.query_count).toBe(before.query_count + 3);
      expect(after.cache_hit_ratio * after.query_count).toBeCloseTo(
        before.cache_hit_ratio * before.query_count + 1,
        9,
      );
      const [row] = await sql<{ query_count: number; avg_query_time_ms: number }>(
        `SELECT query_count, avg_query_time_ms FROM storage_statistics WHERE date = '${after.date}'`,
      );
      expect(row).toEqual({
        query_count: after.query_count,
        avg_query_time_ms: after.avg_query_time_ms,
      });
      expect(after.avg_query_time_ms).toBeGreaterThan(0);
    });
  });

  describe('GET /statistics/history', () => {
    it("should answer today's row when asked for today", async () => {
      await refreshNow();
      const current = (await readStatistics()).body;
      const today = current.today.date;

      const res = await request(
        t.baseUrl,
        'GET',
        `${STATISTICS}/history?from=${today}&to=${today}`,
      );

      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        from: today,
        to: today,
        days: [
          {
            date: today,
            total_records: current.total_records,
            total_size_gb: current.total_size_gb,
            rollups_size_gb: current.rollups_size_gb,
            compression_ratio: current.compression_ratio,
            query_count: current.today.query_count,
            avg_query_time_ms: current.today.avg_query_time_ms,
            cache_hit_ratio: current.today.cache_hit_ratio,
            measured_at: current.measured_at,
          },
        ],
      });
    });

    it('should answer no days for a range without rows', async () => {
      const res = await request(
        t.baseUrl,
        'GET',
        `${STATISTICS}/history?from=2001-01-01&to=2001-12-31`,
      );

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ from: '2001-01-01', to: '2001-12-31', days: [] });
    });

    it.each([
      ['to=2026-11-30', 'from', 'from is required'],
      ['from=2026-11-01', 'to', 'to is required'],
      [
        'from=2026-11-31&to=2026-12-01',
        'from',
        'from must be a calendar day as YYYY-MM-DD, e.g. 2026-11-26',
      ],
      ['from=2026-11-02&to=2026-11-01', 'to', 'to must not be before from'],
      ['from=2000-01-01&to=2026-11-01', 'to', 'to must be at most 3660 days from from'],
      ['from=2026-11-01&to=2026-11-02&limit=3', 'limit', 'limit is not an accepted field'],
    ])('should answer 400 to %s naming %s', async (params, field, message) => {
      const res = await request(t.baseUrl, 'GET', `${STATISTICS}/history?${params}`);

      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message, field });
    });
  });

  describe('the OpenAPI document', () => {
    it('should describe both statistics paths', async () => {
      const res = await request(t.baseUrl, 'GET', '/api/docs-json');

      expect(Object.keys(res.body.paths)).toEqual(
        expect.arrayContaining([STATISTICS, `${STATISTICS}/history`]),
      );
      const properties = res.body.components.schemas.StorageStatisticsDto.properties;
      expect(properties).toHaveProperty('compression_note');
      expect(properties.rollups_size_gb).toMatchObject({ type: 'number' });
      // What total_size_gb covers, and what it leaves to rollups_size_gb.
      expect(properties.total_size_gb.description).toMatch(/market_data_ts.*rollups_size_gb/);
      expect(res.body.components.schemas.StatisticsDayDto.properties.rollups_size_gb).toMatchObject(
        { nullable: true },
      );
    });
  });
});

describe('statistics at shutdown on postgresql', () => {
  it('should flush the counted queries before the connection closes', async () => {
    const db = await createTestDatabase('postgresql', { STATS_REFRESH_INTERVAL_MS: '0' });
    try {
      const app = await createApp(db.settings);
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as { port: number };
      const answer = await request(
        `http://127.0.0.1:${port}`,
        'GET',
        '/api/v1/storage/query?instrument_id=NONE&timeframe=ONE_MINUTE' +
          '&start_time=2025-06-21T00:00:00Z&end_time=2025-06-22T00:00:00Z',
      );
      expect(answer.status).toBe(200);

      await app.close();

      const client = new Client({ connectionString: db.settings.databaseUrl });
      await client.connect();
      try {
        const { rows } = await client.query(
          'SELECT query_count, cache_hit_ratio, measured_at FROM storage_statistics',
        );
        expect(rows).toEqual([{ query_count: 1, cache_hit_ratio: 0, measured_at: null }]);
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
  });
});
