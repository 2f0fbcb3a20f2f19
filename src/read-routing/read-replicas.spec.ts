import type { Pool } from 'pg';
import {
  parseLsn,
  ReadReason,
  ReadReplicas,
  ReadSource,
  ReadTarget,
  WritePositions,
} from './read-replicas';

/**
 * The choice of where a read runs, over stand-in servers whose WAL positions
 * the test sets (test/read-replica.e2e-spec.ts runs the same against a real
 * streaming replica): the cases a real standby cannot be brought into on
 * demand, such as a replica that comes back behind the positions already
 * forgotten.
 */
class StandIn {
  /** pg_current_wal_lsn() on a primary, pg_last_wal_replay_lsn() on a replica. */
  lsn = 0n;
  down = false;
  /** The SQLSTATE or driver code reads fail with; undefined: they succeed. */
  failReads: string | undefined;
  readonly asked: string[] = [];
  readonly pool: Pool;

  constructor(readonly name: string) {
    const query = (sql: string) => this.query(sql);
    this.pool = { query, totalCount: 0, idleCount: 0, waitingCount: 0 } as unknown as Pool;
  }

  private query(sql: string): Promise<{ rows: Record<string, unknown>[] }> {
    this.asked.push(sql);
    if (this.down) {
      return Promise.reject(
        Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      );
    }
    const lsn = `${(this.lsn >> 32n).toString(16)}/${(this.lsn & 0xffffffffn).toString(16)}`;
    if (sql.includes('pg_is_in_recovery')) {
      return Promise.resolve({ rows: [{ standby: true, paused: false, lsn }] });
    }
    if (sql.includes('_lsn()')) return Promise.resolve({ rows: [{ lsn }] });
    if (this.failReads) {
      return Promise.reject(
        Object.assign(new Error(`read failed (${this.failReads})`), { code: this.failReads }),
      );
    }
    return Promise.resolve({ rows: [{ served: this.name }] });
  }

  /** Replay positions asked of this replica so far. */
  get replayQuestions(): number {
    return this.asked.filter((sql) => sql.includes('pg_last_wal_replay_lsn')).length;
  }
}

describe('ReadReplicas', () => {
  let clock: number;
  let primary: StandIn;
  let counted: [ReadTarget, ReadReason][];

  beforeEach(() => {
    clock = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
    primary = new StandIn('primary');
    counted = [];
  });

  afterEach(() => jest.restoreAllMocks());

  function over(...replicas: StandIn[]): ReadReplicas {
    return sharing(undefined, ...replicas);
  }

  function sharing(shared: WritePositions | undefined, ...replicas: StandIn[]): ReadReplicas {
    const reads = ReadReplicas.over(
      primary.pool,
      replicas.map((r) => ({ name: r.name, pool: r.pool })),
      shared,
    );
    reads.countReadsWith((target, reason) => counted.push([target, reason]));
    return reads;
  }

  /** Which stand-in served a read of `instrumentId`. */
  async function servedBy(reads: ReadReplicas, instrumentId: string): Promise<string> {
    const { rows } = await reads.read(instrumentId, (source: ReadSource) =>
      source.query<{ served: string }>('SELECT data'),
    );
    return rows[0]!.served;
  }

  it('should read from the primary and ask nothing more when no replica is configured', async () => {
    const reads = over();

    await reads.noteWrite(['A']);

    expect(await servedBy(reads, 'A')).toBe('primary');
    expect(primary.asked).toEqual(['SELECT data']);
    expect(counted).toEqual([['primary', 'no_replicas']]);
  });

  it('should read an instrument not written by this process from a replica without asking its position', async () => {
    const replica = new StandIn('replica');
    const reads = over(replica);

    expect(await servedBy(reads, 'A')).toBe('replica');
    expect(replica.replayQuestions).toBe(0);
    expect(counted).toEqual([['replica', 'caught_up']]);
  });

  it('should read a written instrument from the primary until the replica has replayed past the write', async () => {
    const replica = new StandIn('replica');
    const reads = over(replica);
    primary.lsn = 0x1_0000_0100n;
    replica.lsn = 0x1_0000_0050n;

    await reads.noteWrite(['A']);

    expect(await servedBy(reads, 'A')).toBe('primary');
    expect(await servedBy(reads, 'B')).toBe('replica');
    // Within a few ms the known position is trusted: not asked again.
    expect(await servedBy(reads, 'A')).toBe('primary');
    expect(replica.replayQuestions).toBe(1);
    replica.lsn = 0x1_0000_0100n;
    clock += 10;
    expect(await servedBy(reads, 'A')).toBe('replica');
    expect(counted.map(([target, reason]) => `${target}:${reason}`)).toEqual([
      'primary:read_your_writes',
      'replica:caught_up',
      'primary:read_your_writes',
      'replica:caught_up',
    ]);
  });

  it('should ask a replica its position once for reads that wait on it together', async () => {
    const replica = new StandIn('replica');
    const reads = over(replica);
    primary.lsn = 200n;
    replica.lsn = 200n;
    await reads.noteWrite(['A']);

    const served = await Promise.all([1, 2, 3, 4].map(() => servedBy(reads, 'A')));

    expect(served).toEqual(['replica', 'replica', 'replica', 'replica']);
    expect(replica.replayQuestions).toBe(1);
  });

  it('should run a read again on the primary when the replica fails, and leave the replica out for 2 s', async () => {
    const replica = new StandIn('replica');
    const reads = over(replica);
    replica.failReads = 'ECONNRESET';

    expect(await servedBy(reads, 'A')).toBe('primary');
    replica.failReads = undefined;
    expect(await servedBy(reads, 'A')).toBe('primary');
    clock += 1_999;
    expect(await servedBy(reads, 'A')).toBe('primary');
    clock += 1;
    expect(await servedBy(reads, 'A')).toBe('replica');
    expect(replica.asked.filter((sql) => sql === 'SELECT data')).toHaveLength(2);
    expect(counted.map(([, reason]) => reason)).toEqual([
      'replica_unavailable',
      'replica_unavailable',
      'replica_unavailable',
      'caught_up',
    ]);
  });

  it('should run a read cancelled by a recovery conflict again on the primary and keep the replica in', async () => {
    const replica = new StandIn('replica');
    const reads = over(replica);
    replica.failReads = '40001';

    expect(await servedBy(reads, 'A')).toBe('primary');
    replica.failReads = undefined;
    expect(await servedBy(reads, 'A')).toBe('replica');
    expect(counted.map(([, reason]) => reason)).toEqual(['replica_unavailable', 'caught_up']);
  });

  it('should keep a replica that comes back behind the forgotten writes out until it catches up', async () => {
    const a = new StandIn('a');
    const b = new StandIn('b');
    const reads = over(a, b);
    b.down = true;
    await reads.status(); // b is found down
    primary.lsn = 100n;
    a.lsn = 100n;
    await reads.noteWrite(['X']);
    clock += 200;
    // a has the write: X is read there and forgotten (every replica that answers has it).
    expect(await servedBy(reads, 'X')).toBe('a');

    clock += 1_900; // b answers again, behind; a is found down now
    a.down = true;
    b.down = false;
    b.lsn = 50n;
    await reads.status();
    counted.length = 0;

    // Y was never written here, yet b is behind the forgotten write of X: not b.
    expect(await servedBy(reads, 'Y')).toBe('primary');
    expect(await servedBy(reads, 'X')).toBe('primary');
    b.lsn = 100n;
    clock += 10;
    expect(await servedBy(reads, 'Y')).toBe('b');
    expect(counted.map(([target, reason]) => `${target}:${reason}`)).toEqual([
      'primary:read_your_writes',
      'primary:read_your_writes',
      'replica:caught_up',
    ]);
  });

  it('should keep an instrument on the primary for a minute when the write position cannot be read', async () => {
    const replica = new StandIn('replica');
    const reads = over(replica);
    replica.lsn = 1_000n;
    primary.down = true;

    await expect(reads.noteWrite(['A'])).resolves.toBeUndefined();
    primary.down = false;

    expect(await servedBy(reads, 'A')).toBe('primary');
    clock += 59_999;
    expect(await servedBy(reads, 'A')).toBe('primary');
    clock += 1;
    expect(await servedBy(reads, 'A')).toBe('replica');
  });

  it("should keep another process's write on the primary through the shared positions", async () => {
    const positions = new Map<string, bigint>();
    let redisUp = true;
    const shared: WritePositions = {
      record: (ids, lsn) => {
        if (redisUp) for (const id of ids) positions.set(id, lsn);
        return Promise.resolve();
      },
      positionOf: (id) => Promise.resolve(redisUp ? positions.get(id) : undefined),
      close: () => Promise.resolve(),
    };
    const replica = new StandIn('replica');
    const writer = sharing(shared, replica);
    const reader = sharing(shared, replica);
    primary.lsn = 500n;
    replica.lsn = 400n;

    await writer.noteWrite(['A']);

    expect(positions.get('A')).toBe(500n);
    expect(await servedBy(reader, 'A')).toBe('primary');
    expect(await servedBy(reader, 'B')).toBe('replica');
    replica.lsn = 500n;
    clock += 10;
    expect(await servedBy(reader, 'A')).toBe('replica');
    // Redis down: the reader knows only its own writes (none), and reads on.
    primary.lsn = 600n;
    await writer.noteWrite(['C']);
    redisUp = false;
    expect(await servedBy(reader, 'C')).toBe('replica');
  });

  it('should report each replica with its lag and the one down as unreachable', async () => {
    const up = new StandIn('up');
    const down = new StandIn('down');
    down.down = true;
    primary.lsn = 0x2_0000_0000n;
    up.lsn = 0x1_ffff_ff00n;

    const [first, second] = await over(up, down).status();

    expect(first).toMatchObject({ name: 'up', up: true, standby: true, lag_bytes: 256 });
    expect(second).toMatchObject({
      name: 'down',
      up: false,
      error: 'unreachable',
      replay_lsn: null,
    });
  });
});

describe('parseLsn', () => {
  it.each([
    ['0/0', 0n],
    ['0/3000060', 0x3000060n],
    ['16/B374D848', (0x16n << 32n) | 0xb374d848n],
  ])('should read %s', (text, value) => {
    expect(parseLsn(text)).toBe(value);
  });

  it('should order positions across the 32-bit boundary', () => {
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
  });
});
