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

/** Repositories run their SQL through this so callers see a domain error, not a driver one. */
export async function translatePgErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUnavailable(error)) throw new DatabaseUnavailableError(error);
    throw error;
  }
}
