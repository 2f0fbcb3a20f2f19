import { ADVISORY_LOCKS } from './advisory-locks';

const keys: number[] = Object.values(ADVISORY_LOCKS);

describe('ADVISORY_LOCKS', () => {
  it('should give every lock a key of its own', () => {
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('should hold keys a bigint parameter carries exactly', () => {
    for (const key of keys) expect(Number.isSafeInteger(key)).toBe(true);
  });

  it('should keep the partitions lock apart from the compression and partitions task locks', () => {
    expect(ADVISORY_LOCKS.partitions).not.toBe(ADVISORY_LOCKS.compression);
    expect(ADVISORY_LOCKS.partitions).not.toBe(ADVISORY_LOCKS.partitionsAhead);
  });
});
