import { Logger } from '@nestjs/common';
import { Pool, PoolClient } from 'pg';
import { ClientSource, inTransaction, withClient } from '../database/sessions';
import { exportSnapshot, importSnapshot } from '../repositories/snapshots';
import { RareWarning } from '../common/rare-warning';

/** What withSharedSnapshot needs of a pool: its clients, and whether one is free now. */
export type SessionPool = ClientSource &
  Pick<Pool, 'idleCount' | 'totalCount' | 'waitingCount' | 'options'>;

/**
 * Runs `rest` with a second session that sees the first's snapshot, or
 * with none (undefined) when the pool cannot hand one out at once.
 */
export type JoinSecondSession = <R>(rest: (second?: PoolClient) => Promise<R>) => Promise<R>;

/** pg's Pool default size, when its options give none. */
const PG_DEFAULT_POOL_MAX = 10;
const READ_SNAPSHOT_BEGIN = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';
const logger = new Logger('SharedSnapshot');
/** Per pool: a server at its connection limit would refuse a second session on every long read. */
const refusedWarnings = new WeakMap<SessionPool, RareWarning>();

function refusedWarning(pool: SessionPool): RareWarning {
  let warning = refusedWarnings.get(pool);
  if (!warning) refusedWarnings.set(pool, (warning = new RareWarning(logger, 60_000)));
  return warning;
}

/** A client comes from `pool` at once: one is idle or may be opened, and no one waits in line. */
function hasFreeSession(pool: SessionPool): boolean {
  const max = pool.options.max ?? PG_DEFAULT_POOL_MAX;
  return pool.waitingCount === 0 && (pool.idleCount > 0 || pool.totalCount < max);
}

/**
 * Runs `work` on one session of `pool`, with a way to join a second session
 * that sees the same snapshot (pg_export_snapshot): a read split in two then
 * runs on two backends, so on two cores, and still sees the database at one
 * instant. The second session is taken lazily, only when `work` finds it
 * worth it, and only when it comes at once (checked just before asking, in
 * the same tick): holding one session while waiting in line for another
 * would slow a busy pool and could run a read into the pool's wait timeout.
 * `joinSecond` is undefined when no session was free at the start (a busy
 * pool, the embedded engine's one session): `work` then runs on the first
 * session alone, outside any transaction, as a plain read would.
 */
export function withSharedSnapshot<T>(
  pool: SessionPool,
  work: (first: PoolClient, joinSecond?: JoinSecondSession) => Promise<T>,
): Promise<T> {
  return withClient(pool, (first) => {
    if (!hasFreeSession(pool)) return work(first);
    // REPEATABLE READ: the snapshot `work`'s first statement takes is the one a second session joins.
    return inTransaction(
      first,
      () => work(first, (rest) => joinSnapshot(pool, first, rest)),
      READ_SNAPSHOT_BEGIN,
    );
  });
}

async function joinSnapshot<R>(
  pool: SessionPool,
  first: PoolClient,
  rest: (second?: PoolClient) => Promise<R>,
): Promise<R> {
  if (!hasFreeSession(pool)) return rest();
  const snapshot = await exportSnapshot(first);
  // Others may have taken the free session during the round trip above.
  if (!hasFreeSession(pool)) return rest();
  const second = await pool.connect().catch((error: unknown) => {
    // A refused connection (max_connections, say) costs the split, not the read.
    refusedWarning(pool).warn(`a second session was refused, reading on one: ${String(error)}`);
    return undefined;
  });
  if (!second) return rest();
  return withClient({ connect: () => Promise.resolve(second) }, (session) =>
    inTransaction(
      session,
      async () => {
        await importSnapshot(session, snapshot);
        return rest(session);
      },
      READ_SNAPSHOT_BEGIN,
    ),
  );
}
