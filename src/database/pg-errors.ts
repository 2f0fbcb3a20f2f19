import type { Pool, PoolClient } from 'pg';
import { DatabaseUnavailableError } from '../common/errors';

/** SQLSTATE classes and driver codes that mean "the database is not there right now". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '57014']);
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout|Client was closed and is not queryable/i;
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
]);

export function isUnavailable(error: unknown): boolean {
  // Not `instanceof Error`: Node's network errors may come from another realm (Jest's VM).
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (
      code.startsWith('08') ||
      UNAVAILABLE_SQLSTATES.has(code) ||
      UNAVAILABLE_NODE_CODES.has(code)
    ) {
      return true;
    }
  }
  // pg's own wording for a pool that cannot get or keep a connection.
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/** pg-pool's error when no connection came free within connectionTimeoutMillis (DB_POOL_WAIT_MS). */
function isPoolWaitTimeout(error: unknown): boolean {
  const { message } = error as { message?: unknown };
  return typeof message === 'string' && /timeout exceeded when trying to connect/i.test(message);
}

/** Repositories run their SQL through this so callers see a domain error, not a driver one. */
export async function translatePgErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUnavailable(error)) {
      throw new DatabaseUnavailableError(error, isPoolWaitTimeout(error) ? 'busy' : 'unreachable');
    }
    throw error;
  }
}

/**
 * A connection that dies (the server restarts, a FATAL, a network cut) must
 * never kill the process: pg emits 'error' on the pool for an idle client
 * and on the client itself while it is checked out, and an 'error' without
 * a listener is thrown. The statement in flight fails on its own; these
 * listeners only keep the event from crashing the process.
 */
export function guardPoolErrors(pool: Pool, warn: (message: string) => void): void {
  pool.on('error', (error) => warn(`idle connection lost: ${error.message}`));
  // On every checkout, not on 'connect': connections opened before this call
  // (TypeORM's own at initialize) are guarded too.
  const guarded = new WeakSet<PoolClient>();
  pool.on('acquire', (client) => {
    if (guarded.has(client)) return;
    guarded.add(client);
    client.on('error', (error) => warn(`connection lost: ${error.message}`));
  });
}
