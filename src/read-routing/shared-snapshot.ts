import { Pool, PoolClient } from 'pg';
import { ClientSource, inTransaction, withClient } from '../database/sessions';
import { exportSnapshot, importSnapshot } from '../repositories/snapshots';

/** What withSharedSnapshot needs of a pool: its clients, and whether one is free now. */
export type SessionPool = ClientSource &
  Pick<Pool, 'idleCount' | 'totalCount' | 'waitingCount' | 'options'>;

/** pg's Pool default size, when its options give none. */
const PG_DEFAULT_POOL_MAX = 10;
const READ_SNAPSHOT_BEGIN = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

/** A client comes from `pool` at once: one is idle or may be opened, and no one waits in line. */
function hasFreeSession(pool: SessionPool): boolean {
  const max = pool.options.max ?? PG_DEFAULT_POOL_MAX;
  return pool.waitingCount === 0 && (pool.idleCount > 0 || pool.totalCount < max);
}

/**
 * Runs `work` on two sessions of `pool` that see one snapshot (the second
 * imports the first's, pg_export_snapshot): a read split in two then runs
 * on two backends, so on two cores, and still sees the database at one
 * instant. The second session is taken only when it comes at once (checked
 * just before asking, in the same tick): holding one session while waiting
 * in line for another would slow a busy pool and could run a read into the
 * pool's wait timeout. Without it (a busy pool, the embedded engine's one
 * session) `work` gets the first session alone.
 */
export function withSharedSnapshot<T>(
  pool: SessionPool,
  work: (sessions: readonly [PoolClient, PoolClient?]) => Promise<T>,
): Promise<T> {
  return withClient(pool, (first) => {
    if (!hasFreeSession(pool)) return work([first]);
    return inTransaction(
      first,
      async () => {
        const snapshot = await exportSnapshot(first);
        // Others may have taken the free session during the round trips above.
        if (!hasFreeSession(pool)) return work([first]);
        return withClient(pool, (second) =>
          inTransaction(
            second,
            async () => {
              await importSnapshot(second, snapshot);
              return work([first, second]);
            },
            READ_SNAPSHOT_BEGIN,
          ),
        );
      },
      READ_SNAPSHOT_BEGIN,
    );
  });
}
