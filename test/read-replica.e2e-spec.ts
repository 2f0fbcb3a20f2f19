import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { spawnSync } from 'node:child_process';
import Redis from 'ioredis';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';
import { BarPoint, makeBars } from './support/bars';
import { metricValue } from './support/metrics-text';
import { request } from './support/test-app';
import {
  createServerDatabase,
  ENGINES,
  POSTGRES_ADMIN_URL,
  TEST_RETENTION,
} from './support/test-database';

/**
 * DATABASE_READ_URL against a real streaming replica of the plain PostgreSQL
 * on 5432: the standby on 127.0.0.1:5435 that scripts/start-read-replica.sh
 * builds (.ci/run starts it). Reads of market data run on the replica; after a
 * write, reads of that instrument run on the primary until the replica has
 * replayed past the write (proved with replay paused); a replica that is down
 * costs no error, only a degraded health. Which server served a read is read
 * from mds_db_reads_total and the replica's pg_stat_activity.
 */
const BASE = '/api/v1/storage';
const REPLICA_PORT = 5435;
/** Nothing listens here: a replica that is down. */
const CLOSED_PORT = 5439;
const REPLICA_ADMIN_URL = `postgres://postgres@127.0.0.1:${REPLICA_PORT}/postgres`;
const DAY = '2025-07-01T00:00:00.000Z';
/** This suite's Redis database (the shared cache, rate limits and write positions of two processes). */
const SHARED_REDIS_URL = 'redis://127.0.0.1:6379/14';
const MINUTE = 60_000;

/** Whether the standby answers (decided before the suite, so a local run can skip it). */
function replicaStreams(): boolean {
  const probe = spawnSync(
    'psql',
    ['-X', '-At', '-d', REPLICA_ADMIN_URL, '-c', 'SELECT pg_is_in_recovery()'],
    { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '3' } },
  );
  return probe.status === 0 && probe.stdout.trim() === 't';
}

const replicaUp = replicaStreams();
const inCi = process.env.CI === 'true';
const runs = ENGINES.includes('postgresql') && replicaUp;
/** CI must run this suite: there a missing standby is one failing test, not a skip. */
const missingInCi = ENGINES.includes('postgresql') && !replicaUp && inCi;
if (!runs && !missingInCi) {
  console.log(
    ENGINES.includes('postgresql')
      ? `read-replica suite skipped: no standby on 127.0.0.1:${REPLICA_PORT} (start it with sudo scripts/start-read-replica.sh; in CI the suite fails instead)`
      : 'read-replica suite skipped: TEST_ENGINES leaves out postgresql (the replica is of 5432)',
  );
}

/** The same database on another port (the replica holds every database of its primary). */
function onPort(url: string, port: number): string {
  const copy = new URL(url);
  copy.port = String(port);
  return copy.toString();
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within 15 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface ServiceUnderTest {
  readonly app: NestFastifyApplication;
  readonly baseUrl: string;
  readonly databaseName: string;
  readonly databaseUrl: string;
  close(): Promise<void>;
}

/**
 * The service on a new database of 5432, its reads on `readPorts`; with
 * `sameDatabaseAs`, a second process on that service's database (closing it
 * leaves the database to its owner).
 */
async function startService(
  readPorts: readonly number[],
  env: Record<string, string> = {},
  sameDatabaseAs?: ServiceUnderTest,
): Promise<ServiceUnderTest> {
  const { url, drop } = sameDatabaseAs
    ? { url: sameDatabaseAs.databaseUrl, drop: () => Promise.resolve() }
    : await createServerDatabase(POSTGRES_ADMIN_URL);
  const settings = loadSettings({
    LOG_LEVEL: 'error',
    ...TEST_RETENTION,
    ROLLUP_REFRESH_INTERVAL_MS: '0',
    COMPRESSION_JOB_INTERVAL_MS: '0',
    STATS_REFRESH_INTERVAL_MS: '0',
    MAINTENANCE_INTERVAL_MS: '0',
    DATABASE_URL: url,
    DATABASE_READ_URL: readPorts.map((port) => onPort(url, port)).join(','),
    ...env,
  });
  const app = await createApp(settings);
  await app.init();
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return {
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    databaseName: new URL(url).pathname.slice(1),
    databaseUrl: url,
    close: async () => {
      await app.close();
      await drop();
    },
  };
}

if (missingInCi) {
  describe('read replicas (plain PostgreSQL, standby on 5435)', () => {
    it('needs the standby that .ci/run starts', () => {
      throw new Error(
        `CI=true and no standby answers on 127.0.0.1:${REPLICA_PORT}: .ci/run starts it with scripts/start-read-replica.sh`,
      );
    });
  });
}

(runs ? describe : describe.skip)('read replicas (plain PostgreSQL, standby on 5435)', () => {
  let primary: Client;
  let replica: Client;

  /** Resolves once the standby has replayed everything the primary wrote so far. */
  async function replicaCaughtUp(): Promise<void> {
    const { rows } = await primary.query<{ lsn: string }>(
      'SELECT pg_current_wal_lsn()::text AS lsn',
    );
    const target = rows[0].lsn;
    await until(async () => {
      const { rows: replayed } = await replica.query<{ done: boolean }>(
        'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
        [target],
      );
      return replayed[0].done;
    }, `the replica replays up to ${target}`);
  }

  beforeAll(async () => {
    primary = new Client({ connectionString: POSTGRES_ADMIN_URL });
    replica = new Client({ connectionString: REPLICA_ADMIN_URL });
    await primary.connect();
    await replica.connect();
    // A run stopped midway may have left replay paused.
    await replica.query('SELECT pg_wal_replay_resume()');
  });

  afterAll(async () => {
    // Replay always resumes: a paused standby would fall behind every later suite's writes.
    await replica?.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
    await replica?.end();
    await primary?.end();
  });

  describe('with the standby as the read replica', () => {
    let service: ServiceUnderTest;
    let metricsBefore = '';
    const bars = makeBars(DAY, 120, MINUTE, 41);
    const later = makeBars('2025-07-01T02:00:00.000Z', 30, MINUTE, 42);
    const other = makeBars(DAY, 10, MINUTE, 43);

    beforeAll(async () => {
      service = await startService([REPLICA_PORT]);
    });

    afterAll(async () => {
      await replica.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await service?.close();
    });

    const store = async (instrumentId: string, points: BarPoint[]) => {
      const res = await request(service.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: instrumentId,
        timeframe: 'ONE_MINUTE',
        data_points: points,
      });
      expect(res.status).toBe(200);
      expect(res.body.failed_count).toBe(0);
    };
    /** A range read; `endTime` varies so that no read is answered by the cache. */
    const query = (instrumentId: string, endTime: string) =>
      request(
        service.baseUrl,
        'GET',
        `${BASE}/query?instrument_id=${instrumentId}&timeframe=ONE_MINUTE&start_time=${DAY}&end_time=${endTime}&limit=1000`,
      );
    /** How many reads ran where (and why) since the last call. */
    async function readsSinceLastLook(): Promise<Record<string, number>> {
      const res = await request<string>(service.baseUrl, 'GET', '/metrics');
      expect(res.status).toBe(200);
      const delta = (labels: Record<string, string>) =>
        metricValue(res.text, 'mds_db_reads_total', labels) -
        metricValue(metricsBefore, 'mds_db_reads_total', labels);
      const counts = {
        replica: delta({ target: 'replica' }),
        primary: delta({ target: 'primary' }),
        read_your_writes: delta({ target: 'primary', reason: 'read_your_writes' }),
        replica_unavailable: delta({ target: 'primary', reason: 'replica_unavailable' }),
      };
      metricsBefore = res.text;
      return counts;
    }

    function expectReplicaOnly(counts: Record<string, number>): void {
      expect(counts.primary).toBe(0);
      expect(counts.replica).toBeGreaterThan(0);
    }

    it('(a) should serve reads from the replica once it has replayed the write', async () => {
      await store('RR.A', bars);
      await store('RR.OTHER', other);
      await replicaCaughtUp();
      await readsSinceLastLook();

      const res = await query('RR.A', '2025-07-01T03:00:00Z');

      expect(res.status).toBe(200);
      expect(res.body.data_points).toEqual(bars);
      expectReplicaOnly(await readsSinceLastLook());
      // The replica's own view: the service holds a session there, on this suite's database.
      const { rows } = await replica.query<{ sessions: number }>(
        `SELECT count(*)::int AS sessions FROM pg_stat_activity
          WHERE datname = $1 AND application_name = 'market-data-storage read'`,
        [service.databaseName],
      );
      expect(rows[0].sessions).toBeGreaterThan(0);
    });

    it('should report the replica up and streaming in the health answer', async () => {
      const res = await request(service.baseUrl, 'GET', `${BASE}/health`);

      expect(res.status).toBe(200);
      expect(res.body.status).toBe('healthy');
      expect(res.body.database.read_replicas).toEqual([
        expect.objectContaining({
          name: `127.0.0.1:${REPLICA_PORT}/${service.databaseName}`,
          up: true,
          standby: true,
          replay_paused: false,
          replay_lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
        }),
      ]);
    });

    it('(b) should read its own writes from the primary while replay is paused, then from the replica after catch-up', async () => {
      await replica.query('SELECT pg_wal_replay_pause()');
      await until(
        async () =>
          (await replica.query('SELECT pg_get_wal_replay_pause_state() AS s')).rows[0].s ===
          'paused',
        'replay paused',
      );
      await readsSinceLastLook();

      await store('RR.A', later);
      const deleted = await request(
        service.baseUrl,
        'DELETE',
        `${BASE}/instruments/RR.A?start_time=${bars[0].timestamp}&end_time=${bars[10].timestamp}`,
      );
      expect(deleted.status).toBe(200);
      expect(deleted.body.deleted_count).toBe(10);
      const expected = [...bars.slice(10), ...later];

      const fresh = await query('RR.A', '2025-07-01T04:00:00Z');
      const newest = await request(
        service.baseUrl,
        'GET',
        `${BASE}/instruments/RR.A/latest?timeframe=ONE_MINUTE`,
      );

      expect(fresh.status).toBe(200);
      expect(fresh.body.data_points).toEqual(expected);
      expect(newest.status).toBe(200);
      expect(newest.body).toEqual(later[later.length - 1]);
      const whileBehind = await readsSinceLastLook();
      expect(whileBehind.replica).toBe(0);
      expect(whileBehind.primary).toBeGreaterThanOrEqual(2);
      expect(whileBehind.read_your_writes).toBe(whileBehind.primary);
      // The replica really is behind: its own copy still has the deleted minutes and not the new ones.
      const behind = new Client({ connectionString: onPort(service.databaseUrl, REPLICA_PORT) });
      await behind.connect();
      try {
        const { rows } = await behind.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM market_data_ts WHERE instrument_id = 'RR.A'`,
        );
        expect(rows[0].n).toBe(bars.length);
      } finally {
        await behind.end();
      }
      // Trades written while the replica is behind: read back from the primary too.
      const trades = Array.from({ length: 5 }, (_, i) => ({
        timestamp: `2025-07-01T01:00:00.00000${i}Z`,
        price: 10 + i,
        size: 100,
        trade_id: `T${i}`,
      }));
      const storedTrades = await request(service.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: 'RR.T',
        data_type: 'TRADE',
        data_points: trades,
      });
      expect(storedTrades.body.stored_count).toBe(trades.length);
      const tradesRead = await request<{ data_points: { trade_id: string }[] }>(
        service.baseUrl,
        'GET',
        `${BASE}/query?instrument_id=RR.T&data_type=TRADE&start_time=${DAY}&end_time=2025-07-02T00:00:00Z`,
      );
      expect(tradesRead.status).toBe(200);
      expect(tradesRead.body.data_points.map((p) => p.trade_id)).toEqual(
        trades.map((t) => t.trade_id),
      );
      const tradesWhileBehind = await readsSinceLastLook();
      expect(tradesWhileBehind.replica).toBe(0);
      expect(tradesWhileBehind.read_your_writes).toBeGreaterThan(0);
      // An instrument not written since the replica's position is still read there.
      const unrelated = await query('RR.OTHER', '2025-07-01T04:00:00Z');
      expect(unrelated.body.data_points).toEqual(other);
      expectReplicaOnly(await readsSinceLastLook());
      const health = await request(service.baseUrl, 'GET', `${BASE}/health`);
      expect(health.body.database.read_replicas[0]).toMatchObject({
        up: true,
        replay_paused: true,
      });

      await replica.query('SELECT pg_wal_replay_resume()');
      await replicaCaughtUp();
      const caughtUp = await query('RR.A', '2025-07-01T05:00:00Z');

      expect(caughtUp.body.data_points).toEqual(expected);
      expectReplicaOnly(await readsSinceLastLook());
    });
  });

  describe('with two service processes sharing one Redis', () => {
    let writer: ServiceUnderTest;
    let reader: ServiceUnderTest;
    const env = { REDIS_URL: SHARED_REDIS_URL };

    beforeAll(async () => {
      const redis = new Redis(SHARED_REDIS_URL);
      await redis.flushdb();
      redis.disconnect();
      writer = await startService([REPLICA_PORT], env);
      reader = await startService([REPLICA_PORT], env, writer);
    });

    afterAll(async () => {
      await replica.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await reader?.close();
      await writer?.close();
    });

    const store = (points: BarPoint[]) =>
      request(writer.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: 'RR.SHARED',
        timeframe: 'ONE_MINUTE',
        data_points: points,
      });
    const readThroughReader = (endTime: string) =>
      request(
        reader.baseUrl,
        'GET',
        `${BASE}/query?instrument_id=RR.SHARED&timeframe=ONE_MINUTE&start_time=${DAY}&end_time=${endTime}&limit=1000`,
      );
    /** Reads by target since `before` (both services share the process's metrics; only the reader reads). */
    async function readsSince(before: string) {
      const now = (await request<string>(reader.baseUrl, 'GET', '/metrics')).text;
      const delta = (labels: Record<string, string>) =>
        metricValue(now, 'mds_db_reads_total', labels) -
        metricValue(before, 'mds_db_reads_total', labels);
      return {
        now,
        replica: delta({ target: 'replica' }),
        readYourWrites: delta({ target: 'primary', reason: 'read_your_writes' }),
      };
    }

    it("should read another process's write from the primary while the replica is behind", async () => {
      const first = makeBars(DAY, 30, MINUTE, 71);
      const second = makeBars('2025-07-01T00:30:00.000Z', 30, MINUTE, 72);
      expect((await store(first)).status).toBe(200);
      await replicaCaughtUp();
      let metrics = (await request<string>(reader.baseUrl, 'GET', '/metrics')).text;
      expect((await readThroughReader('2025-07-01T01:00:00Z')).body.data_points).toEqual(first);
      const warm = await readsSince(metrics);
      expect(warm.replica).toBeGreaterThan(0);
      metrics = warm.now;

      await replica.query('SELECT pg_wal_replay_pause()');
      await until(
        async () =>
          (await replica.query('SELECT pg_get_wal_replay_pause_state() AS s')).rows[0].s ===
          'paused',
        'replay paused',
      );
      expect((await store(second)).status).toBe(200);
      const fresh = await readThroughReader('2025-07-01T02:00:00Z');

      // The cache is shared too: the write's new generation made the reader miss, and it read the primary.
      expect(fresh.body.data_points).toEqual([...first, ...second]);
      const behind = await readsSince(metrics);
      expect(behind.replica).toBe(0);
      expect(behind.readYourWrites).toBeGreaterThan(0);
      metrics = behind.now;

      await replica.query('SELECT pg_wal_replay_resume()');
      await replicaCaughtUp();
      expect((await readThroughReader('2025-07-01T03:00:00Z')).body.data_points).toEqual([
        ...first,
        ...second,
      ]);
      const after = await readsSince(metrics);
      expect(after.replica).toBeGreaterThan(0);
    });
  });

  describe('with a read replica that is down', () => {
    let service: ServiceUnderTest;

    beforeAll(async () => {
      service = await startService([CLOSED_PORT]);
    });

    afterAll(async () => {
      await service?.close();
    });

    it('(c) should answer reads from the primary, say degraded in health and stay ready', async () => {
      const bars = makeBars(DAY, 30, MINUTE, 51);
      const stored = await request(service.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: 'RR.DOWN',
        timeframe: 'ONE_MINUTE',
        data_points: bars,
      });
      expect(stored.status).toBe(200);
      const before = (await request<string>(service.baseUrl, 'GET', '/metrics')).text;

      const read = await request(
        service.baseUrl,
        'GET',
        `${BASE}/query?instrument_id=RR.DOWN&timeframe=ONE_MINUTE&start_time=${DAY}&end_time=2025-07-02T00:00:00Z`,
      );
      const health = await request(service.baseUrl, 'GET', `${BASE}/health`);
      const ready = await request(service.baseUrl, 'GET', '/health/ready');

      expect(read.status).toBe(200);
      expect(read.body.data_points).toEqual(bars);
      const after = (await request<string>(service.baseUrl, 'GET', '/metrics')).text;
      const served = (labels: Record<string, string>) =>
        metricValue(after, 'mds_db_reads_total', labels) -
        metricValue(before, 'mds_db_reads_total', labels);
      expect(served({ target: 'primary', reason: 'replica_unavailable' })).toBe(1);
      expect(served({ target: 'replica' })).toBe(0);
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('degraded');
      expect(health.body.database.up).toBe(true);
      expect(health.body.database.read_replicas).toEqual([
        expect.objectContaining({
          name: `127.0.0.1:${CLOSED_PORT}/${service.databaseName}`,
          up: false,
          standby: null,
          error: 'unreachable',
        }),
      ]);
      expect(ready.status).toBe(200);
    });
  });

  describe('with two read replicas, one of them down', () => {
    let service: ServiceUnderTest;

    beforeAll(async () => {
      service = await startService([CLOSED_PORT, REPLICA_PORT]);
    });

    afterAll(async () => {
      await service?.close();
    });

    it('should serve the reads from the one that answers and say degraded', async () => {
      const bars = makeBars(DAY, 20, MINUTE, 61);
      await request(service.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: 'RR.TWO',
        timeframe: 'ONE_MINUTE',
        data_points: bars,
      });
      await replicaCaughtUp();
      const before = (await request<string>(service.baseUrl, 'GET', '/metrics')).text;

      const reads = [];
      for (const hour of ['01', '02', '03', '04']) {
        reads.push(
          await request(
            service.baseUrl,
            'GET',
            `${BASE}/query?instrument_id=RR.TWO&timeframe=ONE_MINUTE&start_time=${DAY}&end_time=2025-07-01T${hour}:00:00Z`,
          ),
        );
      }
      const health = await request(service.baseUrl, 'GET', `${BASE}/health`);

      for (const read of reads) expect(read.body.data_points).toEqual(bars);
      const after = (await request<string>(service.baseUrl, 'GET', '/metrics')).text;
      const served = (labels: Record<string, string>) =>
        metricValue(after, 'mds_db_reads_total', labels) -
        metricValue(before, 'mds_db_reads_total', labels);
      // At most the first read meets the closed port (then it is left out) and runs again on the primary.
      expect(served({ target: 'replica' })).toBeGreaterThanOrEqual(3);
      expect(served({ target: 'primary' })).toBeLessThanOrEqual(1);
      expect(health.body.status).toBe('degraded');
      expect(health.body.database.read_replicas).toEqual([
        expect.objectContaining({ up: false, error: 'unreachable' }),
        expect.objectContaining({ up: true, standby: true }),
      ]);
    });
  });
});
