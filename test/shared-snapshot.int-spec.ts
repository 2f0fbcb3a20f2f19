import { Logger } from '@nestjs/common';
import { Client, Pool, PoolClient } from 'pg';
import { DatabaseConnection } from '../src/database/database-connection';
import { withSharedSnapshot } from '../src/read-routing/shared-snapshot';
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

  it('should give two backends that both see the database as it was when they began', async () => {
    await withPool(4, async (pool) => {
      const writer = new Client({ connectionString: url });
      await writer.connect();
      try {
        const seen = await withSharedSnapshot(pool, async ([first, second]) => {
          expect(second).toBeDefined();
          // A row committed by a third session while the two read.
          await writer.query('INSERT INTO snapshot_probe VALUES (2)');
          return {
            counts: [await countOf(first), await countOf(second!)],
            backends: new Set([await backendOf(first), await backendOf(second!)]).size,
          };
        });

        expect(seen).toEqual({ counts: [1, 1], backends: 2 });
        await expect(countOf(writer)).resolves.toBe(2);
      } finally {
        await writer.query('DELETE FROM snapshot_probe WHERE n = 2');
        await writer.end();
      }
    });
  });

  it('should give one session when the pool has room for one only', async () => {
    await withPool(1, async (pool) => {
      const sessions = await withSharedSnapshot(pool, (taken) => Promise.resolve(taken.length));

      expect(sessions).toBe(1);
    });
  });

  it('should give one session, not wait in line, when the rest of the pool is in use', async () => {
    await withPool(2, async (pool) => {
      const held = await pool.connect();
      try {
        const second = await withSharedSnapshot(pool, ([, other]) => Promise.resolve(other));

        expect(second).toBeUndefined();
      } finally {
        held.release();
      }
    });
  });

  it('should give both sessions back to the pool after the work, and after it throws', async () => {
    await withPool(4, async (pool) => {
      await withSharedSnapshot(pool, () => Promise.resolve());
      await expect(
        withSharedSnapshot(pool, () => Promise.reject(new Error('work failed'))),
      ).rejects.toThrow('work failed');

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
      const answer = await withSharedSnapshot(connection.pool, async (sessions) => {
        const { rows } = await sessions[0].query<{ one: number }>('SELECT 1 AS one');
        return { sessions: sessions.length, one: rows[0].one };
      });

      expect(answer).toEqual({ sessions: 1, one: 1 });
    });
  },
);
