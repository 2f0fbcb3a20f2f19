import { Logger } from '@nestjs/common';
import { Client, Pool, PoolClient } from 'pg';
import { DatabaseConnection } from '../src/database/database-connection';
import { JoinSecondSession, withSharedSnapshot } from '../src/read-routing/shared-snapshot';
import { createTestDatabase, ENGINES, TestDatabase } from './support/test-database';

const SERVER_ENGINES = ENGINES.filter((engine) => engine !== 'embedded');

async function countOf(session: PoolClient | Client): Promise<number> {
  const { rows } = await session.query<{ n: string }>('SELECT count(*) AS n FROM snapshot_probe');
  return Number(rows[0].n);
}

async function backendOf(session: PoolClient): Promise<number> {
  const { rows } = await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0].pid;
}

describe.each(SERVER_ENGINES)('withSharedSnapshot on %s', (engine) => {
  let db: TestDatabase;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase(engine);
    url = db.settings.databaseUrl!;
    const setup = new Client({ connectionString: url });
    await setup.connect();
    await setup.query('CREATE TABLE snapshot_probe (n int)');
    await setup.query('INSERT INTO snapshot_probe VALUES (1)');
    await setup.end();
  });

  afterAll(() => db?.drop());

  async function withPool<T>(max: number, work: (pool: Pool) => Promise<T>): Promise<T> {
    const pool = new Pool({ connectionString: url, max });
    try {
      return await work(pool);
    } finally {
      await pool.end();
    }
  }

  it('should join a second backend that sees the database as the first saw it, not as it is now', async () => {
    await withPool(4, async (pool) => {
      const writer = new Client({ connectionString: url });
      await writer.connect();
      try {
        const seen = await withSharedSnapshot(pool, async (first, joinSecond) => {
          const before = await countOf(first);
          // A row committed by a third session after the first's snapshot, before the second joins.
          await writer.query('INSERT INTO snapshot_probe VALUES (2)');
          return joinSecond!(async (second) => ({
            counts: [before, await countOf(first), await countOf(second!)],
            backends: new Set([await backendOf(first), await backendOf(second!)]).size,
          }));
        });

        expect(seen).toEqual({ counts: [1, 1, 1], backends: 2 });
        await expect(countOf(writer)).resolves.toBe(2);
      } finally {
        await writer.query('DELETE FROM snapshot_probe WHERE n = 2');
        await writer.end();
      }
    });
  });

  it('should take no second session when the work does not ask for one', async () => {
    await withPool(4, async (pool) => {
      const count = await withSharedSnapshot(pool, (first) => countOf(first));

      expect({ count, total: pool.totalCount }).toEqual({ count: 1, total: 1 });
    });
  });

  it('should offer no second session when the pool has room for one only', async () => {
    await withPool(1, async (pool) => {
      const offered = await withSharedSnapshot(pool, (_first, joinSecond) =>
        Promise.resolve(joinSecond !== undefined),
      );

      expect(offered).toBe(false);
    });
  });

  it('should offer no second session, not wait in line, when the rest of the pool is in use', async () => {
    await withPool(2, async (pool) => {
      const held = await pool.connect();
      try {
        const offered = await withSharedSnapshot(pool, (_first, joinSecond) =>
          Promise.resolve(joinSecond !== undefined),
        );

        expect(offered).toBe(false);
      } finally {
        held.release();
      }
    });
  });

  it('should run the rest on the first session alone when the free session went to another meanwhile', async () => {
    await withPool(3, async (pool) => {
      const held = await pool.connect();
      let other: PoolClient | undefined;
      try {
        const answer = await withSharedSnapshot(pool, async (first, joinSecond) => {
          await countOf(first);
          other = await pool.connect(); // the pool's last free session
          return joinSecond!(async (second) => ({ second, count: await countOf(first) }));
        });

        expect(answer).toEqual({ second: undefined, count: 1 });
      } finally {
        other?.release();
        held.release();
      }
    });
  });

  it('should read on one session when the server refuses the second connection', async () => {
    // A real refusal: the server lets this role hold one connection at a time.
    const role = `snapshot_probe_${process.pid}`;
    const admin = new Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`);
    await admin.query(`GRANT SELECT ON snapshot_probe TO ${role}`);
    const limited = new URL(url);
    limited.username = role;
    const pool = new Pool({ connectionString: limited.toString(), max: 4 });
    pool.on('error', () => undefined);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const answer = await withSharedSnapshot(pool, async (first, joinSecond) => {
        await countOf(first);
        return joinSecond!(async (second) => ({ second, count: await countOf(first) }));
      });

      expect(answer).toEqual({ second: undefined, count: 1 });
      expect(pool.totalCount).toBe(1);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('too many connections for role'));
    } finally {
      warn.mockRestore();
      await pool.end();
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
      await admin.end();
    }
  });

  it('should give both sessions back to the pool after the work, and after it throws', async () => {
    await withPool(4, async (pool) => {
      const join = (_first: PoolClient, joinSecond?: JoinSecondSession) =>
        joinSecond!(async (second) => {
          await countOf(second!);
        });
      await withSharedSnapshot(pool, join);
      await expect(
        withSharedSnapshot(pool, (first, joinSecond) =>
          join(first, joinSecond).then(() => Promise.reject(new Error('work failed'))),
        ),
      ).rejects.toThrow('work failed');
      await expect(
        withSharedSnapshot(pool, (_first, joinSecond) =>
          joinSecond!(() => Promise.reject(new Error('second failed'))),
        ),
      ).rejects.toThrow('second failed');

      expect({ total: pool.totalCount, idle: pool.idleCount }).toEqual({ total: 2, idle: 2 });
    });
  });
});

describe.each(ENGINES.filter((engine) => engine === 'embedded'))(
  'withSharedSnapshot on %s',
  (engine) => {
    let db: TestDatabase;
    let connection: DatabaseConnection;

    beforeAll(async () => {
      Logger.overrideLogger(['error']);
      db = await createTestDatabase(engine);
      connection = await DatabaseConnection.open(db.settings);
    });

    afterAll(async () => {
      await connection?.close();
      await db?.drop();
    });

    it("should run the work on the engine's one session", async () => {
      const answer = await withSharedSnapshot(connection.pool, async (first, joinSecond) => {
        const { rows } = await first.query<{ one: number }>('SELECT 1 AS one');
        return { offered: joinSecond !== undefined, one: rows[0].one };
      });

      expect(answer).toEqual({ offered: false, one: 1 });
    });
  },
);
