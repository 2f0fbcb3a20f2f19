import { ADVISORY_LOCKS, MAINTENANCE_TASK_LOCK_CLASS } from './advisory-locks';

const INT4_MAX = 2 ** 31 - 1;
const keys: number[] = Object.values(ADVISORY_LOCKS);

describe('ADVISORY_LOCKS', () => {
  it('should give every lock a key of its own', () => {
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('should hold keys a bigint parameter carries exactly', () => {
    for (const key of keys) expect(Number.isSafeInteger(key)).toBe(true);
  });

  it('should keep the partitions lock apart from the compression job lock', () => {
    expect(ADVISORY_LOCKS.partitions).not.toBe(ADVISORY_LOCKS.compressionJob);
  });
});

describe('MAINTENANCE_TASK_LOCK_CLASS', () => {
  it('should be an int4, the first key of a two-key lock', () => {
    expect(Number.isInteger(MAINTENANCE_TASK_LOCK_CLASS)).toBe(true);
    expect(Math.abs(MAINTENANCE_TASK_LOCK_CLASS)).toBeLessThanOrEqual(INT4_MAX);
  });

  // pg keeps one-bigint and two-int4 keys apart (pg_locks.objsubid 1 and 2), so
  // they could not collide anyway; a distinct number keeps pg_locks readable.
  it('should not reuse a one-key lock number', () => {
    expect(keys).not.toContain(MAINTENANCE_TASK_LOCK_CLASS);
  });
});
