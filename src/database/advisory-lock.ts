import { Inject, Injectable } from '@nestjs/common';
import type { ClientBase, Pool } from 'pg';
import type { AdvisoryLockKey } from './advisory-locks';
import { DatabaseConnection } from './database-connection';
import { DATABASE_CONNECTION } from './database.tokens';
import { translatePgErrors } from './pg-errors';
import { onlyRow } from './rows';

/** Where locked work may run statements that must stay on the lock's session. */
export type LockedSession = Pool | ClientBase;

export interface LockOptions {
  /** Wait for the lock instead of answering undefined at once. */
  readonly wait?: boolean;
}

/**
 * The one advisory-lock helper: runs `work` holding the session lock `key`,
 * so that one replica at a time runs it; without `wait`, undefined at once
 * when another session holds it. The lock lives on a connection of its own
 * outside the pool: the work's other statements use the pool, which may
 * have a single connection, and ending that connection frees the lock
 * whatever state the work left it in, so no broken session ever goes back
 * to the pool and no unlock can fail over the work's own error. `work` gets
 * the session (no statement timeout: a background job outlasts the
 * per-request one). The embedded engine belongs to one process, where the
 * caller's in-process guard is enough: no lock, and `work` gets the pool.
 */
@Injectable()
export class AdvisoryLock {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  async run<T>(
    key: AdvisoryLockKey,
    work: (session: LockedSession) => Promise<T>,
    options: LockOptions = {},
  ): Promise<T | undefined> {
    const client = this.db.info.embedded ? undefined : this.db.lockClient();
    if (!client) return work(this.db.pool);
    // A connection lost while idle must not crash the process; the lock goes with it.
    client.on('error', () => undefined);
    try {
      await translatePgErrors(() => client.connect());
      if (options.wait) {
        await translatePgErrors(() => client.query('SELECT pg_advisory_lock($1)', [key]));
      } else {
        const { rows } = await translatePgErrors(() =>
          client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]),
        );
        if (!onlyRow(rows).locked) return undefined;
      }
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
