import { Logger } from '@nestjs/common';
import { Pool } from 'pg';
import { TimeFrame } from '../src/common/market-data.types';
import { DatabaseConnection } from '../src/database/database-connection';
import { partitionName } from '../src/repositories/market-data-partitions';
import { BarsReader } from '../src/repositories/bars.reader';
import { MarketDataRepository } from '../src/repositories/market-data.repository';
import { MigrationRunner, readMigrations } from '../src/database/migration-runner';
import { makeBarRows } from './support/bar-rows';
import { capabilitiesOf, createTestDatabase, ENGINES, TestDatabase } from './support/test-database';

const TABLES = [
  'market_data_ts',
  'storage_metadata_ts',
  'storage_configurations',
  'storage_statistics',
  'market_trades_ts',
  'market_quotes_ts',
  'instrument_sessions',
] as const;
const VERSIONS = readMigrations().map((m) => m.version);

async function existingTables(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT t AS name FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL ORDER BY t`,
    [TABLES],
  );
  return rows.map((r) => r.name);
}

async function appliedVersions(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ version: string }>(
    'SELECT version FROM schema_migrations ORDER BY version',
  );
  return rows.map((r) => r.version);
}

describe.each(ENGINES)('MigrationRunner on %s', (engine) => {
  let db: TestDatabase;
  let connection: DatabaseConnection;
  let runner: MigrationRunner;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase(engine);
    // Opening the connection applies every pending migration.
    connection = await DatabaseConnection.open(db.settings);
    runner = new MigrationRunner(connection.pool, undefined, connection.info.embedded);
  });

  afterAll(async () => {
    await connection?.close();
    await db?.drop();
  });

  it('should have applied every migration when the connection opened', async () => {
    await expect(existingTables(connection.pool)).resolves.toEqual([...TABLES].sort());
    await expect(appliedVersions(connection.pool)).resolves.toEqual(VERSIONS);
  });

  it('should do nothing when applied again', async () => {
    await expect(runner.up()).resolves.toEqual([]);

    await expect(appliedVersions(connection.pool)).resolves.toEqual(VERSIONS);
    await expect(existingTables(connection.pool)).resolves.toEqual([...TABLES].sort());
  });

  describe('the fractional volume migration (20261202120000)', () => {
    const VERSION = '20261202120000';
    // Migrations after this one go down first and come back up after it.
    const LATER = VERSIONS.filter((v) => v > VERSION);
    const downToBefore = async () => {
      for (const later of [...LATER].reverse()) await expect(runner.down()).resolves.toBe(later);
    };
    const series = { instrumentId: 'MIG.VOL', timeframe: TimeFrame.ONE_MINUTE };
    const volumeColumns = async () => {
      const { rows } = await connection.pool.query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
          WHERE attrelid = 'market_data_ts'::regclass AND attname LIKE 'volume%' AND NOT attisdropped
          ORDER BY attnum`,
      );
      return rows.map((r) => `${r.name} ${r.type}`);
    };
    const WITH_FRACTION = ['volume bigint', 'volume_fraction numeric'];
    const storedVolumes = async (fraction = true) => {
      const { rows } = await connection.pool.query<{ volume: string }>(
        `SELECT (volume ${fraction ? '+ coalesce(volume_fraction, 0)' : ''})::text AS volume
           FROM market_data_ts WHERE instrument_id = 'MIG.VOL' ORDER BY "timestamp"`,
      );
      return rows.map((r) => r.volume);
    };
    const rollups = async () => {
      const { rows } = await connection.pool.query<{ name: string | null }>(
        `SELECT to_regclass(v)::text AS name
           FROM unnest(ARRAY['market_data_5m', 'market_data_15m', 'market_data_1h', 'market_data_1d']) v`,
      );
      return rows.filter((r) => r.name !== null).length;
    };
    const volumes = ['0', '125000', '9007199254740993', '9223372036854775807'];

    afterAll(async () => {
      await connection.pool.query(`DELETE FROM market_data_ts WHERE instrument_id = 'MIG.VOL'`);
    });

    it('should keep bigint volumes through down and up, compressed chunks and rollups included', async () => {
      const rows = makeBarRows('2025-04-01T00:00:00Z', volumes.length).map((r, i) => ({
        ...r,
        volume: volumes[i],
      }));
      await new MarketDataRepository(connection).upsertBars(series, rows);
      const { timescale } = capabilitiesOf(engine);
      if (timescale) {
        await connection.pool.query(
          `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('market_data_ts') c`,
        );
      }
      expect(await volumeColumns()).toEqual(WITH_FRACTION);

      await downToBefore();
      await expect(runner.down()).resolves.toBe(VERSION);
      expect(await volumeColumns()).toEqual(['volume bigint']);
      expect(await storedVolumes(false)).toEqual(volumes);
      expect(await rollups()).toBe(timescale ? 4 : 0);

      await expect(runner.up()).resolves.toEqual([VERSION, ...LATER]);
      expect(await volumeColumns()).toEqual(WITH_FRACTION);
      expect(await storedVolumes()).toEqual(volumes);
      expect(await rollups()).toBe(timescale ? 4 : 0);
      await expect(appliedVersions(connection.pool)).resolves.toEqual(VERSIONS);
    });

    it('should refuse to go down while a volume has a fraction, changing nothing', async () => {
      const [row] = makeBarRows('2025-04-02T00:00:00Z', 1);
      await new MarketDataRepository(connection).upsertBars(series, [
        { ...row, volume: '0.00012345' },
      ]);

      await downToBefore();
      await expect(runner.down()).rejects.toThrow(
        /cannot migrate down: 1 bar\(s\) have a fractional volume/,
      );
      expect(await volumeColumns()).toEqual(WITH_FRACTION);
      expect(await storedVolumes()).toEqual([...volumes, '0.00012345']);
      await expect(appliedVersions(connection.pool)).resolves.toEqual(
        VERSIONS.filter((v) => !LATER.includes(v)),
      );
      await expect(runner.up()).resolves.toEqual(LATER);
      await expect(appliedVersions(connection.pool)).resolves.toEqual(VERSIONS);
    });
  });

  describe('the stream time migration (20261202140000)', () => {
    const VERSION = '20261202140000';
    const LATER = VERSIONS.filter((v) => v > VERSION);
    const series = { instrumentId: 'MIG.ST', timeframe: TimeFrame.ONE_MINUTE };
    const hasColumn = async () => {
      const { rows } = await connection.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_attribute WHERE attrelid = 'market_data_ts'::regclass
            AND attname = 'stream_time' AND NOT attisdropped`,
      );
      return rows[0]?.n === '1';
    };
    const closes = async () => {
      const { rows } = await connection.pool.query<{ close: number }>(
        `SELECT close_price::float8 AS close FROM market_data_ts
          WHERE instrument_id = 'MIG.ST' ORDER BY "timestamp"`,
      );
      return rows.map((r) => r.close);
    };

    afterAll(async () => {
      await connection.pool.query(`DELETE FROM market_data_ts WHERE instrument_id = 'MIG.ST'`);
    });

    it('should drop and add the column on compressed chunks, keeping every bar, and apply the rule again', async () => {
      const T = Date.parse('2025-04-03T00:00:00Z') * 1000;
      const rows = makeBarRows('2025-04-03T00:00:00Z', 3).map((r) => ({ ...r, streamTimeUs: T }));
      const repository = new MarketDataRepository(connection);
      await repository.upsertBars(series, rows);
      if (capabilitiesOf(engine).timescale) {
        await connection.pool.query(
          `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('market_data_ts') c`,
        );
      }
      const before = await closes();

      for (const later of [...LATER].reverse()) await expect(runner.down()).resolves.toBe(later);
      await expect(runner.down()).resolves.toBe(VERSION);
      expect(await hasColumn()).toBe(false);
      expect(await closes()).toEqual(before);

      await expect(runner.up()).resolves.toEqual([VERSION, ...LATER]);
      expect(await hasColumn()).toBe(true);
      expect(await closes()).toEqual(before);
      // After up, an event older than the stored one loses again.
      await repository.upsertBars(
        series,
        rows.map((r) => ({ ...r, streamTimeUs: T + 1 })),
      );
      await repository.upsertBars(
        series,
        rows.map((r) => ({ ...r, close: r.low, streamTimeUs: T })),
      );
      expect(await closes()).toEqual(before);
    });
  });

  if (!capabilitiesOf(engine).timescale) {
    it('should make market_data_ts a range-partitioned table without TimescaleDB', async () => {
      const { rows } = await connection.pool.query<{ strategy: string; key: string }>(
        `SELECT p.partstrat AS strategy, pg_get_partkeydef(p.partrelid) AS key
           FROM pg_partitioned_table p WHERE p.partrelid = 'market_data_ts'::regclass`,
      );

      expect(rows).toEqual([{ strategy: 'r', key: 'RANGE ("timestamp")' }]);
      expect(connection.info.engine).toBe('postgresql');
    });

    it('should create monthly partitions ahead with preparePartitionsAhead, across a year end', async () => {
      const repository = new MarketDataRepository(connection);

      await repository.preparePartitionsAhead(Date.parse('2030-11-15T12:00:00Z'), 3);
      // A second call, from another repository too, creates nothing twice.
      await repository.preparePartitionsAhead(Date.parse('2030-11-15T12:00:00Z'), 3);
      await new MarketDataRepository(connection).preparePartitionsAhead(
        Date.parse('2030-12-01T00:00:00Z'),
        1,
      );

      const { rows } = await connection.pool.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'market_data_ts'::regclass AND c.relname LIKE 'market_data_ts_y203%'
          ORDER BY 1`,
      );
      expect(rows.map((r) => r.name)).toEqual([
        'market_data_ts_y2030m11',
        'market_data_ts_y2030m12',
        'market_data_ts_y2031m01',
        'market_data_ts_y2031m02',
      ]);
      expect(partitionName(new Date(Date.UTC(2031, 0, 1)))).toBe('market_data_ts_y2031m01');
    });

    it('should route each row to the partition of its UTC month', async () => {
      const repository = new MarketDataRepository(connection);
      const rows = makeBarRows('2030-12-31T23:58:00Z', 4);

      await repository.upsertBars(
        { instrumentId: 'MIG.PART', timeframe: TimeFrame.ONE_MINUTE },
        rows,
      );

      const { rows: placed } = await connection.pool.query<{ ts: string; part: string }>(
        `SELECT to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS ts,
                tableoid::regclass::text AS part
           FROM market_data_ts WHERE instrument_id = 'MIG.PART' ORDER BY "timestamp"`,
      );
      expect(placed).toEqual([
        { ts: '2030-12-31 23:58', part: 'market_data_ts_y2030m12' },
        { ts: '2030-12-31 23:59', part: 'market_data_ts_y2030m12' },
        { ts: '2031-01-01 00:00', part: 'market_data_ts_y2031m01' },
        { ts: '2031-01-01 00:01', part: 'market_data_ts_y2031m01' },
      ]);
    });
  } else {
    it('should make market_data_ts and storage_metadata_ts hypertables with compression on market_data_ts', async () => {
      const { rows } = await connection.pool.query<{ name: string; compression: boolean }>(
        `SELECT hypertable_name AS name, compression_enabled AS compression
           FROM timescaledb_information.hypertables ORDER BY 1`,
      );

      expect(rows).toEqual([
        { name: 'market_data_ts', compression: true },
        { name: 'market_quotes_ts', compression: true },
        { name: 'market_trades_ts', compression: true },
        { name: 'storage_metadata_ts', compression: false },
      ]);
      expect(connection.info.engine).toBe('timescaledb');
    });

    it('should partition market_data_ts by time only, in chunks of 1 day', async () => {
      const { rows } = await connection.pool.query<{ column: string; interval: string }>(
        `SELECT column_name AS column, time_interval::text AS interval
           FROM timescaledb_information.dimensions WHERE hypertable_name = 'market_data_ts'`,
      );

      expect(rows).toEqual([{ column: 'timestamp', interval: '1 day' }]);
    });
  }

  it('should drop every table on down and create them again on up', async () => {
    const reverted: string[] = [];
    for (let v = await runner.down(); v !== undefined; v = await runner.down()) reverted.push(v);

    expect(reverted).toEqual([...VERSIONS].reverse());
    await expect(existingTables(connection.pool)).resolves.toEqual([]);
    await expect(appliedVersions(connection.pool)).resolves.toEqual([]);
    await expect(runner.down()).resolves.toBeUndefined();

    await expect(runner.up()).resolves.toEqual(VERSIONS);

    await expect(existingTables(connection.pool)).resolves.toEqual([...TABLES].sort());
    await expect(appliedVersions(connection.pool)).resolves.toEqual(VERSIONS);
  });

  it('should store and read bars after down and up', async () => {
    const repository = new MarketDataRepository(connection);
    const series = { instrumentId: 'MIG.AGAIN', timeframe: TimeFrame.ONE_MINUTE };
    const rows = makeBarRows('2025-03-03T00:00:00Z', 10);

    await repository.upsertBars(series, rows);

    const page = await new BarsReader(connection).findRange(
      series,
      { fromMs: rows[0].timestampMs, toMs: rows[9].timestampMs + 1 },
      ['timestamp', 'close'],
      { limit: 100, offset: 0 },
    );
    expect(page.totalCount).toBe(10);
    expect(JSON.parse(page.pointsJson)).toEqual(
      rows.map((r) => ({ timestamp: new Date(r.timestampMs).toISOString(), close: r.close })),
    );
    if (capabilitiesOf(engine).timescale) {
      const { rows: hypertables } = await connection.pool.query<{ name: string }>(
        `SELECT hypertable_name AS name FROM timescaledb_information.hypertables
          WHERE hypertable_name = 'market_data_ts'`,
      );
      expect(hypertables).toEqual([{ name: 'market_data_ts' }]);
    }
  });

  it('should roll back a failing migration, record nothing and release the lock', async () => {
    const broken = new MigrationRunner(
      connection.pool,
      [
        {
          version: '99990101000000',
          name: 'broken',
          up: 'CREATE TABLE mig_broken (x int); SELECT 1 / 0;',
          down: 'DROP TABLE IF EXISTS mig_broken;',
        },
      ],
      connection.info.embedded,
    );

    await expect(broken.up()).rejects.toThrow(/division by zero/);

    const { rows } = await connection.pool.query<{ table: string | null }>(
      `SELECT to_regclass('mig_broken')::text AS table`,
    );
    expect(rows).toEqual([{ table: null }]);
    await expect(appliedVersions(connection.pool)).resolves.toEqual(VERSIONS);
    // The advisory lock was released: another run gets through.
    await expect(runner.up()).resolves.toEqual([]);
  });

  // Two sessions at once: only a server has them.
  if (!capabilitiesOf(engine).embedded) {
    describe('with two runners started together on a fresh database', () => {
      let fresh: TestDatabase;
      const pools: Pool[] = [];

      beforeAll(async () => {
        fresh = await createTestDatabase(engine);
        for (let i = 0; i < 2; i++) {
          const pool = new Pool({ connectionString: fresh.settings.databaseUrl, max: 2 });
          // pool.end() resolves before the server has closed the sessions: the drop that
          // follows may terminate one, which is no failure of the migrations.
          pool.on('error', () => undefined);
          pools.push(pool);
        }
      });

      afterAll(async () => {
        await Promise.all(pools.map((p) => p.end()));
        await fresh?.drop();
      });

      it('should apply each migration exactly once', async () => {
        const results = await Promise.all(pools.map((pool) => new MigrationRunner(pool).up()));

        expect(results.flat().sort()).toEqual(VERSIONS);
        expect(results).toContainEqual([]);
        const { rows } = await pools[0].query<{ version: string; n: string }>(
          'SELECT version, count(*) AS n FROM schema_migrations GROUP BY 1 ORDER BY 1',
        );
        expect(rows).toEqual(VERSIONS.map((version) => ({ version, n: '1' })));
        await expect(existingTables(pools[1])).resolves.toEqual([...TABLES].sort());
      });
    });
  }
});
