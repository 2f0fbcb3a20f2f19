import { EventEmitter } from 'node:events';
import { Pool, PoolClient } from 'pg';
import { DatabaseUnavailableError } from '../common/errors';
import {
  inSessionTransaction,
  inTransaction,
  markBroken,
  withClient,
  withTransaction,
} from './sessions';

/** A checked-out client that records its statements and fails the ones it is told to. */
class FakeClient extends EventEmitter {
  readonly statements: string[] = [];
  readonly failures = new Map<string, Error>();
  released?: { error: Error | undefined };

  query(text: string): Promise<{ rows: [] }> {
    this.statements.push(text);
    const failure = this.failures.get(text);
    return failure ? Promise.reject(failure) : Promise.resolve({ rows: [] });
  }

  release(error?: Error): void {
    if (this.released) throw new Error('released twice');
    this.released = { error };
  }
}

class FakePool {
  readonly clients: FakeClient[] = [];

  connect(): Promise<PoolClient> {
    const client = new FakeClient();
    this.clients.push(client);
    return Promise.resolve(client as unknown as PoolClient);
  }

  get client(): FakeClient {
    const [client] = this.clients;
    if (!client) throw new Error('no client was connected yet');
    return client;
  }
}

/** An ordinary SQL error: the session survives it. */
const uniqueViolation = Object.assign(new Error('duplicate key value'), { code: '23505' });
/** The server went away: the session does not survive it. */
const terminated = Object.assign(new Error('terminating connection due to administrator command'), {
  code: '57P01',
});

describe('withTransaction', () => {
  it('should commit and give the client back to the pool when the work succeeds', async () => {
    const pool = new FakePool();

    const result = await withTransaction(pool, async (client) => {
      await client.query('INSERT 1');
      return 42;
    });

    expect(result).toBe(42);
    expect(pool.client.statements).toEqual(['BEGIN', 'INSERT 1', 'COMMIT']);
    expect(pool.client.released).toEqual({ error: undefined });
  });

  it('should begin with the statement it is given', async () => {
    const pool = new FakePool();

    await withTransaction(pool, () => Promise.resolve(), 'BEGIN ISOLATION LEVEL REPEATABLE READ');

    expect(pool.client.statements).toEqual(['BEGIN ISOLATION LEVEL REPEATABLE READ', 'COMMIT']);
  });

  it('should roll back, throw the original error and give back a client after an SQL error', async () => {
    const pool = new FakePool();

    const run = withTransaction(pool, async (client) => {
      await client.query('INSERT 1');
      throw uniqueViolation;
    });

    await expect(run).rejects.toBe(uniqueViolation);
    expect(pool.client.statements).toEqual(['BEGIN', 'INSERT 1', 'ROLLBACK']);
    expect(pool.client.released).toEqual({ error: undefined });
  });

  it('should throw the original error and drop the client when ROLLBACK fails', async () => {
    const pool = new FakePool();
    const rollbackFailed = new Error('rollback failed');

    const run = withTransaction(pool, async (client) => {
      (client as unknown as FakeClient).failures.set('ROLLBACK', rollbackFailed);
      await client.query('INSERT 1');
      throw uniqueViolation;
    });

    await expect(run).rejects.toBe(uniqueViolation);
    expect(pool.client.released).toEqual({ error: rollbackFailed });
  });

  it('should drop the client whose connection was lost, with that error', async () => {
    const pool = new FakePool();

    const run = withTransaction(pool, async (client) => {
      (client as unknown as FakeClient).failures.set('INSERT 1', terminated);
      await client.query('INSERT 1');
    });

    await expect(run).rejects.toBe(terminated);
    expect(pool.client.released).toEqual({ error: terminated });
  });

  it('should drop the client when the work saw the database unavailable (already translated)', async () => {
    const pool = new FakePool();
    const unavailable = new DatabaseUnavailableError(terminated);

    await expect(withTransaction(pool, () => Promise.reject(unavailable))).rejects.toBe(
      unavailable,
    );
    expect(pool.client.released).toEqual({ error: unavailable });
  });

  it('should drop the client when COMMIT loses the connection', async () => {
    const pool = new FakePool();

    const run = withTransaction(pool, async (client) => {
      (client as unknown as FakeClient).failures.set('COMMIT', terminated);
      await client.query('INSERT 1');
    });

    await expect(run).rejects.toBe(terminated);
    expect(pool.client.released).toEqual({ error: terminated });
  });
});

describe('withClient', () => {
  it('should give the client back after the work throws an ordinary error', async () => {
    const pool = new FakePool();

    await expect(withClient(pool, () => Promise.reject(uniqueViolation))).rejects.toBe(
      uniqueViolation,
    );
    expect(pool.client.released).toEqual({ error: undefined });
  });

  it('should drop a client that emitted an error while checked out', async () => {
    const pool = new FakePool();
    const lost = new Error('Connection terminated unexpectedly');

    await withClient(pool, async (client) => {
      // Unheard, this 'error' would be thrown by the emitter.
      client.emit('error', lost);
      await client.query('SELECT 1');
    });

    expect(pool.client.released).toEqual({ error: lost });
    expect(pool.client.listenerCount('error')).toBe(0);
  });

  it('should drop a client marked broken, with the first error it was marked with', async () => {
    const pool = new FakePool();
    const unlockFailed = new Error('unlock failed');

    const result = await withClient(pool, (client) => {
      markBroken(client, unlockFailed);
      markBroken(client, new Error('later'));
      return Promise.resolve('done');
    });

    expect(result).toBe('done');
    expect(pool.client.released).toEqual({ error: unlockFailed });
  });
});

describe('inTransaction', () => {
  it('should mark the session broken for the enclosing withClient when ROLLBACK fails', async () => {
    const pool = new FakePool();
    const rollbackFailed = new Error('rollback failed');

    // A session lock held around several transactions (the statistics and migrations pattern).
    const run = withClient(pool, async (client) => {
      await inTransaction(client, () => Promise.resolve());
      (client as unknown as FakeClient).failures.set('ROLLBACK', rollbackFailed);
      await inTransaction(client, () => Promise.reject(uniqueViolation)).catch(() => undefined);
      return 'after';
    });

    await expect(run).resolves.toBe('after');
    expect(pool.client.statements).toEqual(['BEGIN', 'COMMIT', 'BEGIN', 'ROLLBACK']);
    expect(pool.client.released).toEqual({ error: rollbackFailed });
  });

  it('should leave a client whose ROLLBACK succeeded healthy for the next transaction', async () => {
    const pool = new FakePool();

    await withClient(pool, async (client) => {
      await inTransaction(client, () => Promise.reject(uniqueViolation)).catch(() => undefined);
      await inTransaction(client, async () => {
        await client.query('INSERT 2');
      });
    });

    expect(pool.client.statements).toEqual(['BEGIN', 'ROLLBACK', 'BEGIN', 'INSERT 2', 'COMMIT']);
    expect(pool.client.released).toEqual({ error: undefined });
  });
});

describe('inSessionTransaction', () => {
  it("should run on a lock's own session itself", async () => {
    const client = new FakeClient();

    await inSessionTransaction(client as unknown as PoolClient, (c) => c.query('INSERT 1'));

    expect(client.statements).toEqual(['BEGIN', 'INSERT 1', 'COMMIT']);
    expect(client.released).toBeUndefined();
  });

  it('should check one client out of a pool (the embedded engine) for the whole transaction', async () => {
    const pool = new Pool();
    const client = new FakeClient();
    const connect = jest.fn(() => Promise.resolve(client as unknown as PoolClient));
    Object.assign(pool, { connect });

    await inSessionTransaction(pool, (c) => c.query('INSERT 1'));

    expect(connect).toHaveBeenCalledTimes(1);
    expect(client.statements).toEqual(['BEGIN', 'INSERT 1', 'COMMIT']);
    expect(client.released).toEqual({ error: undefined });
  });
});
