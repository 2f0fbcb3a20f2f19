/**
 * Domain errors carry a code; the HTTP exception filter maps each code to a
 * status once, so services never speak HTTP.
 */
export type DomainErrorCode =
  'INVALID_REQUEST' | 'NOT_FOUND' | 'PAYLOAD_TOO_LARGE' | 'DATABASE_UNAVAILABLE';

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
  /** The request field at fault, when there is one. */
  readonly field?: string;
}

/** The request as a whole is wrong: nothing of it is stored. */
export class InvalidRequestError extends DomainError {
  readonly code = 'INVALID_REQUEST';
  constructor(
    override readonly field: string,
    reason: string,
  ) {
    super(`${field} ${reason}`);
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
}

export class PayloadTooLargeError extends DomainError {
  readonly code = 'PAYLOAD_TOO_LARGE';
}

/** Why the database could not serve a request: down or unreachable, or every connection busy. */
export type UnavailableReason = 'unreachable' | 'busy';

const UNAVAILABLE_MESSAGES: Readonly<Record<UnavailableReason, string>> = {
  unreachable: 'The database is unavailable; retry shortly',
  // A busy database is not a down one: the operator's fix differs (pool size, load), and so may the client's.
  busy: 'The database is busy: no connection came free within the wait (DB_POOL_WAIT_MS); retry shortly',
};

/** The database cannot serve the request right now; the client should retry. */
export class DatabaseUnavailableError extends DomainError {
  readonly code = 'DATABASE_UNAVAILABLE';
  constructor(
    override readonly cause?: unknown,
    readonly reason: UnavailableReason = 'unreachable',
  ) {
    super(UNAVAILABLE_MESSAGES[reason]);
  }
}
