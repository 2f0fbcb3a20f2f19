import {
  epochMicros,
  isWithinAcceptedRange,
  MAX_TIMESTAMP_MS,
  MIN_TIMESTAMP_MS,
  parseIsoInstant,
} from '../common/time';
import {
  checkRetention,
  collectPoints,
  MAX_REPORTED_ERRORS,
  PointError,
  reject,
  RetentionFloor,
} from './point-check';

/** What trade-rules and quote-rules share: the point checks and the per-point error report. */

/** Epoch microseconds of the point's timestamp; digits below the microsecond are refused, not cut. */
export function timestampMicros(point: Record<string, unknown>): number {
  const time = parseIsoInstant(point.timestamp);
  if (!time)
    reject('timestamp', 'must be an ISO-8601 time with a zone, e.g. 2025-06-21T10:00:00.123456Z');
  if (!isWithinAcceptedRange(time.ms)) {
    reject(
      'timestamp',
      `must be from ${new Date(MIN_TIMESTAMP_MS).toISOString()} to before ${new Date(MAX_TIMESTAMP_MS).toISOString()}`,
    );
  }
  if (time.subMicrosecond) reject('timestamp', 'must not have digits below the microsecond');
  return epochMicros(time);
}

/** -0 is stored and answered as 0. */
export function finite(point: Record<string, unknown>, field: string): number {
  const v = point[field];
  if (typeof v !== 'number' || !Number.isFinite(v)) reject(field, 'must be a finite number');
  return v === 0 ? 0 : v;
}

export function nonNegative(point: Record<string, unknown>, field: string): number {
  const v = point[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    reject(field, 'must be a finite number >= 0');
  }
  return v === 0 ? 0 : v;
}

export function qualityScore(point: Record<string, unknown>): number {
  const v = point.quality_score;
  if (v === undefined || v === null) return 1;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
    reject('quality_score', 'must be a number between 0 and 1');
  }
  return v;
}

export function source(point: Record<string, unknown>): string | null {
  const v = point.source ?? null;
  if (v !== null && (typeof v !== 'string' || [...v].length > 50 || /[\p{Cc}]/u.test(v))) {
    reject('source', 'must be a string of at most 50 printable characters');
  }
  return v;
}

export interface CheckedPoints<R> {
  /** Valid rows, duplicates already resolved (the last occurrence of a key wins). */
  readonly rows: R[];
  readonly failedCount: number;
  /** Valid points replaced by a later point with the same key. */
  readonly supersededCount: number;
  readonly errors: PointError[];
}

/**
 * Runs `toRow` over every point, collects errors by index, and keeps the
 * last occurrence of each (timestamp, id), in the order of first appearance.
 * Points usually come in time order: then duplicates can only sit among
 * points of the same timestamp, and only such runs are looked at.
 */
export function checkPoints<R extends { readonly timestampUs: number }>(
  points: readonly unknown[],
  toRow: (point: unknown) => R,
  idOf: (row: R) => string,
  maxErrors = MAX_REPORTED_ERRORS,
  floor?: RetentionFloor,
): CheckedPoints<R> {
  const { valid, errors, failedCount, inOrder } = collectPoints(
    points,
    toRow,
    (row) => row.timestampUs,
    maxErrors,
    floor && ((row) => checkRetention(floor, row.timestampUs / 1000)),
  );
  const rows = inOrder ? lastOfEachRun(valid, idOf) : lastOfEach(valid, idOf);
  return { rows, failedCount, supersededCount: valid.length - rows.length, errors };
}

function lastOfEach<R extends { readonly timestampUs: number }>(
  rows: readonly R[],
  idOf: (row: R) => string,
): R[] {
  const byKey = new Map<string, R>();
  for (const row of rows) byKey.set(`${row.timestampUs}|${idOf(row)}`, row);
  return [...byKey.values()];
}

function lastOfEachRun<R extends { readonly timestampUs: number }>(
  rows: R[],
  idOf: (row: R) => string,
): R[] {
  let out: R[] | undefined;
  for (let start = 0; start < rows.length;) {
    const first = rows[start];
    if (!first) break;
    let end = start + 1;
    while (end < rows.length && rows[end]?.timestampUs === first.timestampUs) end++;
    if (end - start > 1) {
      const run = rows.slice(start, end);
      const byId = new Map<string, R>();
      for (const row of run) byId.set(idOf(row), row);
      if (byId.size < run.length) {
        out ??= rows.slice(0, start);
        out.push(...byId.values());
      } else {
        out?.push(...run);
      }
    } else {
      out?.push(first);
    }
    start = end;
  }
  return out ?? rows;
}
