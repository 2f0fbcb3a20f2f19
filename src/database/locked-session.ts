import { Pool, PoolClient } from 'pg';
import type { AdvisoryLockKey } from './advisory-locks';
import { DatabaseConnection } from './database-connection';
import { translatePgErrors } from './pg-errors';
import { markBroken, withClient } from './sessions';
import { onlyRow } from './rows';

/**
 * Runs `work` on one pooled connection that holds the session advisory lock
 * `lockKey` and has no statement timeout (a background job outlasts the
 * per-request one), so that one replica at a time runs the job; undefined
 * when another one holds it. The embedded engine belongs to one process:
 * there `work` gets the pool, whose single connection interleaves the job's
 * statements with requests.
 */
export async function withLockedSession<T>(
  db: DatabaseConnection,
  lockKey: AdvisoryLockKey,
  work: (sql: Pool | PoolClient) => Promise<T>,
): Promise<T | undefined> {
  if (db.info.embedded) return work(db.pool);
  // Only getting the connection is translated here: `work` reports its own errors.
  const pool = { connect: () => translatePgErrors(() => db.pool.connect()) };
  return withClient(pool, (client) => lockedWork(client, lockKey, work));
}

async function lockedWork<T>(
  client: PoolClient,
  lockKey: AdvisoryLockKey,
  work: (sql: Pool | PoolClient) => Promise<T>,
): Promise<T | undefined> {
  const { rows } = await translatePgErrors(() =>
    client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [lockKey]),
  );
  if (!onlyRow(rows).locked) return undefined;
  try {
    await translatePgErrors(() => client.query('SET statement_timeout = 0'));
    return await work(client);
  } finally {
    await client
      .query('RESET statement_timeout')
      .then(() => client.query('SELECT pg_advisory_unlock($1)', [lockKey]))
      // Closing the session frees the lock as well.
      .catch((error: unknown) => markBroken(client, error));
  }
}
