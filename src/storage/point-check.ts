/**
 * What the rules of every data kind share: the per-point error report, the
 * shape checks of a point object, and the walk over a request's points that
 * collects rows and errors (bar-rules.ts, trade-rules.ts, quote-rules.ts).
 */

/** Why one point of a store request was not stored. */
export interface PointError {
  readonly index: number;
  readonly field: string;
  readonly message: string;
}

/** Errors listed in a response; failed_count always counts them all. */
export const MAX_REPORTED_ERRORS = 1000;

export class PointRejected extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export function reject(field: string, message: string): never {
  throw new PointRejected(field, message);
}

/** The point as an object holding only `known` fields. */
export function pointObject(
  raw: unknown,
  known: ReadonlySet<string>,
  unknownField = 'is not a field of this data type',
): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    reject('data_point', 'must be an object');
  }
  const point = raw as Record<string, unknown>;
  for (const key in point) {
    if (!known.has(key)) reject(key, unknownField);
  }
  return point;
}

/**
 * The first instant a store accepts for a series: before it, retention
 * would delete the point (DESIGN: such a point is refused, naming the
 * series' retention). `message` follows "timestamp ".
 */
export interface RetentionFloor {
  readonly fromMs: number;
  readonly message: string;
}

/** Refuses a point at `timestampMs` that retention would delete. */
export function checkRetention(floor: RetentionFloor | undefined, timestampMs: number): void {
  if (floor && timestampMs < floor.fromMs) reject('timestamp', floor.message);
}

export function required(point: Record<string, unknown>, fields: readonly string[]): void {
  for (const field of fields) if (point[field] == null) reject(field, 'is required');
}

export interface CollectedPoints<R> {
  /** The valid rows, in request order. */
  readonly valid: R[];
  readonly errors: PointError[];
  readonly failedCount: number;
  /** No row's instant is below the one before it. */
  readonly inOrder: boolean;
  /** Every row's instant is above the one before it (no two share one). */
  readonly ascending: boolean;
}

/**
 * Runs `toRow` over every point; a PointRejected becomes an error at the
 * point's index (the first `maxErrors` listed, all counted). `instantOf`
 * tells whether the rows came in time order, so that the caller resolves
 * duplicates only where there can be some. `admit` may refuse a valid row
 * (retention) by throwing PointRejected.
 */
export function collectPoints<R>(
  points: readonly unknown[],
  toRow: (point: unknown) => R,
  instantOf: (row: R) => number,
  maxErrors = MAX_REPORTED_ERRORS,
  admit?: (row: R) => void,
): CollectedPoints<R> {
  const valid: R[] = [];
  const errors: PointError[] = [];
  let failedCount = 0;
  let inOrder = true;
  let ascending = true;
  let last = -Infinity;
  for (let index = 0; index < points.length; index++) {
    try {
      const row = toRow(points[index]);
      admit?.(row);
      const instant = instantOf(row);
      if (instant <= last) {
        ascending = false;
        if (instant < last) inOrder = false;
      }
      last = instant;
      valid.push(row);
    } catch (error) {
      if (!(error instanceof PointRejected)) throw error;
      failedCount++;
      if (errors.length < maxErrors) {
        errors.push({ index, field: error.field, message: `${error.field} ${error.message}` });
      }
    }
  }
  return { valid, errors, failedCount, inOrder, ascending };
}
