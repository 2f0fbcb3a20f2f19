import { Logger } from '@nestjs/common';
import type { Pool } from 'pg';
import { DatabaseConnection } from '../src/database/database-connection';
import { DATABASE_CONNECTION } from '../src/database/database.tokens';
import { makeBars } from './support/bars';
import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

const BASE = '/api/v1/storage';
const DAY = '2025-06-20T00:00:00.000Z';
const bars = makeBars(DAY, 30, 60_000, 41);
/** How long the test keeps the pool's only connection: far below one wait, far above the other. */
const HOLD_MS = 2_000;

/**
 * A request finds every pooled connection busy (DB_POOL_SIZE=1, the test
 * holds it). It waits its turn for up to DB_POOL_WAIT_MS, then answers 503;
 * meanwhile the readiness probe, on a server, keeps its own session.
 */
describe.each(ENGINES)('waiting for a pooled connection on %s', (engine) => {
  const server = engine !== 'embedded';

  async function appWith(waitMs: number): Promise<{ t: TestApp; pool: Pool }> {
    Logger.overrideLogger(['error']);
    const t = await startTestApp(engine, {
      DB_POOL_SIZE: '1',
      DB_POOL_WAIT_MS: String(waitMs),
      STATS_REFRESH_INTERVAL_MS: '0',
      ROLLUP_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
    });
    return { t, pool: t.app.get<DatabaseConnection>(DATABASE_CONNECTION).pool };
  }

  const query = (id: string) =>
    `${BASE}/query?instrument_id=${id}&timeframe=ONE_MINUTE&start_time=${DAY}&end_time=2025-06-20T01:00:00.000Z`;

  /** Until a request is queued for the held connection. */
  async function untilQueued(pool: Pool): Promise<void> {
    for (let i = 0; i < 500; i++) {
      if (pool.waitingCount >= 1) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('no request ever queued for a connection');
  }

  describe('with a wait longer than the hold', () => {
    let t: TestApp;
    let pool: Pool;
    beforeAll(async () => {
      ({ t, pool } = await appWith(20_000));
      const stored = await request(t.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: 'WAIT',
        timeframe: 'ONE_MINUTE',
        data_points: bars,
      });
      expect(stored.status).toBe(200);
    });
    afterAll(async () => {
      await t?.close();
    });

    it('should answer the queued request once the connection is free, not 503', async () => {
      const held = await pool.connect();
      let answered = false;
      const pending = request(t.baseUrl, 'GET', query('WAIT')).finally(() => (answered = true));
      try {
        await untilQueued(pool);
        if (server) {
          // The probe does not queue behind the busy pool: a busy database is not a down one.
          const ready = await request(t.baseUrl, 'GET', '/health/ready');
          expect(ready.status).toBe(200);
          expect(ready.body.info.database.status).toBe('up');
        }
        await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
        expect(answered).toBe(false);
      } finally {
        held.release();
      }
      const res = await pending;
      expect(res.status).toBe(200);
      expect(res.body.data_points).toEqual(bars);
    }, 60_000);
  });

  describe('with a wait shorter than the hold', () => {
    let t: TestApp;
    let pool: Pool;
    beforeAll(async () => {
      ({ t, pool } = await appWith(300));
    });
    afterAll(async () => {
      await t?.close();
    });

    it('should answer 503 with Retry-After after DB_POOL_WAIT_MS, then serve again', async () => {
      const held = await pool.connect();
      let res;
      try {
        res = await request(t.baseUrl, 'GET', query('SHORT'));
      } finally {
        setTimeout(() => held.release(), HOLD_MS);
      }
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(res.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        // Busy, not down: the operator's fix is the pool or the load.
        message: expect.stringMatching(/^The database is busy: .*DB_POOL_WAIT_MS/),
      });
      expect(res.text).not.toMatch(/timeout exceeded|pg-pool|at /);

      await new Promise((resolve) => setTimeout(resolve, HOLD_MS + 200));
      const again = await request(t.baseUrl, 'GET', query('SHORT'));
      expect(again.status).toBe(200);
      expect(again.body.data_points).toEqual([]);
    }, 60_000);
  });
});
