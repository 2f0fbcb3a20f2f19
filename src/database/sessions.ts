import { ClientBase, Pool, PoolClient } from 'pg';
import { DatabaseUnavailableError } from '../common/errors';
import { isUnavailable } from './pg-errors';

/**
 * Sessions and transactions on checked-out clients, with one failure rule:
 * a client whose session broke (connection lost, or a ROLLBACK or unlock
 * that failed) is released with the error, so the pool drops it; a client
 * whose transaction failed on an ordinary SQL error and was rolled back goes
 * back to the pool; the error thrown is always the original one.
 */

/** Clients whose session broke while checked out, with the error that broke it. */
const brokenSessions = new WeakMap<ClientBase, Error>();

/** The session of `client` is beyond use: withClient releases it with `error` (the first one kept). */
export function markBroken(client: ClientBase, error: unknown): void {
  if (!brokenSessions.has(client)) {
    brokenSessions.set(client, error instanceof Error ? error : new Error(String(error)));
  }
}

/** The connection is gone (the driver's error, or one translatePgErrors already turned into ours). */
export function isLostSession(error: unknown): boolean {
  return isUnavailable(error) || error instanceof DatabaseUnavailableError;
}

/** Where clients come from: a pg Pool, or a wrapper of its connect(). */
export interface ClientSource {
  connect(): Promise<PoolClient>;
}

/** Runs `work` on one pooled client, released to the pool unless its session broke. */
export async function withClient<T>(
  pool: ClientSource,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // A connection dying while checked out emits 'error' on the client; unheard, it would crash the process.
  const onError = (error: Error) => markBroken(client, error);
  client.on('error', onError);
  try {
    return await work(client);
  } catch (error) {
    if (isLostSession(error)) markBroken(client, error);
    throw error;
  } finally {
    client.off('error', onError);
    const broken = brokenSessions.get(client);
    brokenSessions.delete(client);
    client.release(broken);
  }
}

/**
 * Runs `work` in one transaction on a client already checked out (through
 * withClient): COMMIT after it, ROLLBACK when it throws. `begin` may carry an
 * isolation level; a `SET LOCAL` or a transaction lock belongs inside `work`.
 */
export async function inTransaction<C extends ClientBase, T>(
  client: C,
  work: (client: C) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (isLostSession(error)) markBroken(client, error);
    // A session that cannot roll back is dropped; the error to see is still the original one.
    await client.query('ROLLBACK').catch((lost: unknown) => markBroken(client, lost));
    throw error;
  }
}

/** Runs `work` in one transaction on one pooled client (withClient and inTransaction). */
export function withTransaction<T>(
  pool: ClientSource,
  work: (client: PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  return withClient(pool, (client) => inTransaction(client, work, begin));
}

/**
 * Runs `work` in one transaction on a lock's session (AdvisoryLock): on that
 * client itself, or, where the session is the pool (the embedded engine), on
 * one client checked out of it.
 */
export function inSessionTransaction<T>(
  session: Pool | ClientBase,
  work: (client: ClientBase) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  return session instanceof Pool
    ? withTransaction(session, work, begin)
    : inTransaction(session, work, begin);
}
