import { Pool, PoolConfig } from 'pg';
import { DatabaseUnavailableError } from '../common/errors';
import { guardPoolErrors, isUnavailable } from '../database/pg-errors';
import type { SessionPool } from './shared-snapshot';
import { currentWalLsn, replayedWalLsn, standbyState } from '../repositories/wal-positions';
import { withTimeout } from '../common/with-timeout';

/** Where a read of market data was served, and why (the mds_db_reads_total labels). */
export type ReadTarget = 'primary' | 'replica';
export type ReadReason =
  /** No DATABASE_READ_URL: every read is the primary's. */
  | 'no_replicas'
  /** A replica had replayed past every write of the instrument this process made. */
  | 'caught_up'
  /** Every replica that answers is behind a recent write of the instrument. */
  | 'read_your_writes'
  /** No replica answers, or the one chosen failed and the read ran again on the primary. */
  | 'replica_unavailable';

/** The positions of writes shared between service processes (SharedWritePositions, in Redis). */
export interface WritePositions {
  record(instrumentIds: readonly string[], lsn: bigint): Promise<void>;
  positionOf(instrumentId: string): Promise<bigint | undefined>;
  close(): Promise<void>;
}

/** What a read runs its SQL on: a pool, the primary's or a replica's. */
export type ReadSource = Pick<Pool, 'query'> & SessionPool;

/** A replica that failed is left out this long before a read tries it again. */
const RETRY_AFTER_MS = 2_000;
/** A replay position younger than this is trusted without asking the replica again. */
const REPLAY_LSN_MAX_AGE_MS = 5;
/** A write whose WAL position could not be read keeps its instrument on the primary this long. */
const UNKNOWN_POSITION_PIN_MS = 60_000;
/** Caught-up writes are forgotten at most this often (one pass over the map). */
const SWEEP_EVERY_MS = 100;
/** The replica pools give up connecting sooner than the primary's: the primary is the fallback. */
const REPLICA_CONNECT_TIMEOUT_MS = 2_000;
const STATUS_TIMEOUT_MS = 2_000;
const NO_POSITION = -1n;
const UNKNOWN_POSITION = BigInt(Number.MAX_SAFE_INTEGER) ** 2n;

/** One replica's state as /api/v1/storage/health reports it. */
export interface ReadReplicaStatus {
  /** host:port/database, never the credentials. */
  readonly name: string;
  readonly up: boolean;
  /** It is a standby (pg_is_in_recovery); false: a primary, not to be read from for read-your-writes. */
  readonly standby: boolean | null;
  /** pg_is_wal_replay_paused(): replay stopped on purpose (the replica falls behind). */
  readonly replay_paused: boolean | null;
  readonly replay_lsn: string | null;
  /** Bytes of WAL the primary wrote that the replica has not replayed yet. */
  readonly lag_bytes: number | null;
  readonly latency_ms: number;
  readonly pool: { total: number; idle: number; waiting: number };
  readonly error?: string;
}

interface Replica {
  readonly name: string;
  readonly pool: Pool;
  /** The newest replay position this process saw; replay only moves forward. */
  replayLsn: bigint;
  replayLsnAt: number;
  asking?: Promise<void>;
  /** Left out until then after a failure. */
  downUntil: number;
  lastError?: string;
}

/** The WAL position of an instrument's last write; `until`: a write whose position is unknown. */
interface WrittenAt {
  readonly lsn: bigint;
  readonly until?: number;
}

/** '16/B374D848' as a number. */
export function parseLsn(text: string | null | undefined): bigint {
  if (!text) return NO_POSITION;
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** host:port/database of a URL: what health and logs may show. */
function replicaName(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
}

/**
 * Where a read of market data runs: a read replica (DATABASE_READ_URL) unless
 * this process wrote the instrument since the replica's replay position
 * (read-your-writes), or no replica answers; then the primary. Positions are
 * WAL LSNs: pg_current_wal_lsn() on the primary just after a write commits,
 * pg_last_wal_replay_lsn() on the replica. The memory of writes is this
 * process's only (docs/scaling.md says what that means for several service
 * processes).
 *
 * A write is remembered until every replica that answers has replayed past
 * it; `forgottenUpTo` then holds the newest forgotten position, which every
 * replica must have reached before it serves any read (a replica coming back
 * from an outage starts behind).
 */
export class ReadReplicas {
  private readonly written = new Map<string, WrittenAt>();
  private forgottenUpTo = NO_POSITION;
  private lastSweep = 0;
  private next = 0;
  private onRead: (target: ReadTarget, reason: ReadReason) => void = () => undefined;

  private constructor(
    private readonly primary: Pool,
    private readonly replicas: readonly Replica[],
    private readonly shared: WritePositions | undefined,
  ) {}

  /** Pools to `urls` (connected on first use: a replica down at start delays nothing). */
  static open(
    primary: Pool,
    urls: readonly string[],
    config: PoolConfig,
    warn: (message: string) => void,
    shared?: WritePositions,
  ): ReadReplicas {
    const replicas = urls.map((url) => {
      const pool = new Pool({
        ...config,
        connectionString: url,
        application_name: 'market-data-storage read',
        connectionTimeoutMillis: REPLICA_CONNECT_TIMEOUT_MS,
      });
      const name = replicaName(url);
      guardPoolErrors(pool, (message) => warn(`read replica ${name}: ${message}`));
      return { name, pool };
    });
    return ReadReplicas.over(primary, replicas, shared);
  }

  /** Over pools already made (open, and the unit tests' stand-ins). */
  static over(
    primary: Pool,
    replicas: readonly { name: string; pool: Pool }[],
    shared?: WritePositions,
  ): ReadReplicas {
    return new ReadReplicas(
      primary,
      replicas.map(({ name, pool }) => ({
        name,
        pool,
        replayLsn: NO_POSITION,
        replayLsnAt: 0,
        downUntil: 0,
      })),
      replicas.length > 0 ? shared : undefined,
    );
  }

  get configured(): boolean {
    return this.replicas.length > 0;
  }

  /** Called once per read with where it ran (the metrics counter). */
  countReadsWith(onRead: (target: ReadTarget, reason: ReadReason) => void): void {
    this.onRead = onRead;
  }

  /**
   * Runs `work` on a replica fit for reading `instrumentId`, else on the
   * primary. A read that fails on a replica (down, a recovery conflict,
   * anything) runs again on the primary, and an unreachable replica is left
   * out for a moment: a replica never turns a read into an error the primary
   * would not have given.
   */
  async read<T>(instrumentId: string, work: (source: ReadSource) => Promise<T>): Promise<T> {
    let reason: ReadReason = 'no_replicas';
    if (this.configured) {
      const chosen = await this.choose(instrumentId);
      if (chosen.replica) {
        try {
          const result = await work(chosen.replica.pool);
          this.onRead('replica', 'caught_up');
          return result;
        } catch (error) {
          // Lost or refused connections leave the replica out; a failed statement (a
          // recovery conflict) only sends this read to the primary.
          if (isUnavailable(error) || error instanceof DatabaseUnavailableError) {
            this.markFailed(chosen.replica, error);
          }
          reason = 'replica_unavailable';
        }
      } else {
        reason = chosen.reason;
      }
    }
    const result = await work(this.primary);
    this.onRead('primary', reason);
    return result;
  }

  /**
   * After a write of `instrumentIds` committed: the primary's WAL position
   * now is past its commit, so a replica replayed up to it shows the write.
   * Never throws (the write is committed): an unknown position keeps the
   * instruments on the primary for a minute instead.
   */
  async noteWrite(instrumentIds: Iterable<string>): Promise<void> {
    if (!this.configured) return;
    let at: WrittenAt;
    try {
      at = { lsn: parseLsn(await currentWalLsn(this.primary)) };
    } catch {
      at = { lsn: UNKNOWN_POSITION, until: Date.now() + UNKNOWN_POSITION_PIN_MS };
    }
    const ids = [...instrumentIds];
    for (const id of ids) {
      const known = this.written.get(id);
      if (!known || known.lsn < at.lsn) this.written.set(id, at);
    }
    this.sweep();
    if (at.until === undefined) await this.shared?.record(ids, at.lsn);
  }

  /** A replica that has replayed what reads of the instrument must see, or why none. */
  private async choose(instrumentId: string): Promise<{ replica?: Replica; reason: ReadReason }> {
    // Another process's write of the instrument counts as this one's (undefined: none, or Redis down).
    const elsewhere = await this.shared?.positionOf(instrumentId);
    const now = Date.now();
    const local = this.neededFor(instrumentId, now);
    const needed = elsewhere !== undefined && elsewhere > local ? elsewhere : local;
    const up = this.rotation().filter((r) => r.downUntil <= now);
    if (up.length === 0) return { reason: 'replica_unavailable' };
    const known = up.find((r) => r.replayLsn >= needed);
    if (known) return { replica: known, reason: 'caught_up' };
    // Behind as far as this process knows: ask those whose position is older than a few ms.
    await Promise.all(
      up.filter((r) => now - r.replayLsnAt >= REPLAY_LSN_MAX_AGE_MS).map((r) => this.askReplay(r)),
    );
    this.sweep();
    const answering = up.filter((r) => r.downUntil <= now);
    const caughtUp = answering.find((r) => r.replayLsn >= needed);
    if (caughtUp) return { replica: caughtUp, reason: 'caught_up' };
    return { reason: answering.length > 0 ? 'read_your_writes' : 'replica_unavailable' };
  }

  /** The position a replica must have replayed to serve the instrument: its last write, and the floor. */
  private neededFor(instrumentId: string, now: number): bigint {
    const written = this.written.get(instrumentId);
    const pinned = written && (written.until === undefined || written.until > now);
    return pinned && written.lsn > this.forgottenUpTo ? written.lsn : this.forgottenUpTo;
  }

  /** The replicas starting at the next in turn (reads spread over them). */
  private rotation(): Replica[] {
    const start = this.next++ % this.replicas.length;
    return [...this.replicas.slice(start), ...this.replicas.slice(0, start)];
  }

  /** One replay position per replica at a time, however many reads wait for it. */
  private askReplay(replica: Replica): Promise<void> {
    replica.asking ??= (async () => {
      try {
        const lsn = parseLsn(await replayedWalLsn(replica.pool));
        if (lsn > replica.replayLsn) replica.replayLsn = lsn;
        replica.replayLsnAt = Date.now();
      } catch (error) {
        this.markFailed(replica, error);
      } finally {
        replica.asking = undefined;
      }
    })();
    return replica.asking;
  }

  private markFailed(replica: Replica, error: unknown): void {
    replica.downUntil = Date.now() + RETRY_AFTER_MS;
    replica.lastError =
      isUnavailable(error) || error instanceof DatabaseUnavailableError
        ? 'unreachable'
        : 'query failed';
  }

  /** Forgets the writes every answering replica has replayed past. */
  private sweep(): void {
    const now = Date.now();
    if (this.written.size === 0 || now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const up = this.replicas.filter((r) => r.downUntil <= now);
    if (up.length === 0) return;
    const replayedByAll = up.reduce(
      (min, r) => (r.replayLsn < min ? r.replayLsn : min),
      up[0]!.replayLsn,
    );
    for (const [id, at] of this.written) {
      if (at.until !== undefined) {
        if (at.until <= now) this.written.delete(id);
      } else if (at.lsn <= replayedByAll) {
        this.written.delete(id);
        if (at.lsn > this.forgottenUpTo) this.forgottenUpTo = at.lsn;
      }
    }
  }

  /** Each replica pinged (with its replay position and lag); never throws. */
  async status(): Promise<ReadReplicaStatus[]> {
    if (!this.configured) return [];
    const primaryLsn = await withTimeout(currentWalLsn(this.primary), STATUS_TIMEOUT_MS).then(
      (lsn) => parseLsn(lsn),
      () => undefined,
    );
    return Promise.all(this.replicas.map((r) => this.replicaStatus(r, primaryLsn)));
  }

  private async replicaStatus(
    replica: Replica,
    primaryLsn: bigint | undefined,
  ): Promise<ReadReplicaStatus> {
    const started = performance.now();
    const { pool } = replica;
    const pools = { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
    try {
      const row = await withTimeout(standbyState(pool), STATUS_TIMEOUT_MS);
      const lsn = parseLsn(row.lsn);
      if (lsn > replica.replayLsn) {
        replica.replayLsn = lsn;
        replica.replayLsnAt = Date.now();
      }
      const ok = row.standby;
      if (ok) replica.downUntil = 0;
      return {
        name: replica.name,
        up: ok,
        standby: row.standby,
        replay_paused: row.paused,
        replay_lsn: row.lsn,
        lag_bytes:
          primaryLsn === undefined || lsn === NO_POSITION
            ? null
            : Number(primaryLsn > lsn ? primaryLsn - lsn : 0n),
        latency_ms: Math.round((performance.now() - started) * 100) / 100,
        pool: pools,
        ...(ok ? {} : { error: 'not a standby' }),
      };
    } catch (error) {
      this.markFailed(replica, error);
      return {
        name: replica.name,
        up: false,
        standby: null,
        replay_paused: null,
        replay_lsn: replica.replayLsn === NO_POSITION ? null : formatLsn(replica.replayLsn),
        lag_bytes: null,
        latency_ms: Math.round((performance.now() - started) * 100) / 100,
        pool: pools,
        error: replica.lastError ?? 'unreachable',
      };
    }
  }

  async close(): Promise<void> {
    await this.shared?.close();
    await Promise.all(this.replicas.map((r) => r.pool.end()));
  }
}
