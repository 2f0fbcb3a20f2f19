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

/** The database cannot be reached right now; the client should retry. */
export class DatabaseUnavailableError extends DomainError {
  readonly code = 'DATABASE_UNAVAILABLE';
  constructor(override readonly cause?: unknown) {
    super('The database is unavailable; retry shortly');
  }
}
