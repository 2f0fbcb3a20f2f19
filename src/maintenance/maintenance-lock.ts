import { Inject, Injectable } from '@nestjs/common';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/market-data.repository';
import { translatePgErrors } from '../database/pg-errors';

/** First key of the two-key advisory locks of maintenance tasks; the second is hashtext(name). */
const MAINTENANCE_LOCK_CLASS = 734_011;

/**
 * One replica at a time runs a given maintenance task: a session advisory
 * lock per task name, held on a connection of its own for the whole run.
 * The embedded engine belongs to one process (one connection), where the
 * scheduler's in-process guard is enough.
 */
@Injectable()
export class MaintenanceLock {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  /** Runs `work` holding the task's lock; undefined when another replica holds it. */
  async withTaskLock<T>(name: string, work: () => Promise<T>): Promise<T | undefined> {
    if (this.db.info.embedded) return work();
    const client = await translatePgErrors(() => this.db.pool.connect());
    let broken: Error | undefined;
    try {
      const { rows } = await translatePgErrors(() =>
        client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked',
          [MAINTENANCE_LOCK_CLASS, name],
        ),
      );
      if (!rows[0].locked) return undefined;
      try {
        return await work();
      } finally {
        await client
          .query('SELECT pg_advisory_unlock($1, hashtext($2))', [MAINTENANCE_LOCK_CLASS, name])
          // Closing the session frees the lock as well.
          .catch((error: Error) => (broken = error));
      }
    } finally {
      client.release(broken);
    }
  }
}
