import { Inject, Injectable } from '@nestjs/common';
import { Client } from 'pg';
import { MAINTENANCE_TASK_LOCK_CLASS } from '../database/advisory-locks';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';

/**
 * One replica at a time runs a given maintenance task: a session advisory
 * lock per task name, held for the whole run on a connection of its own
 * outside the pool (the task's statements use the pool, which may have a
 * single connection). The embedded engine belongs to one process, where the
 * scheduler's in-process guard is enough.
 */
@Injectable()
export class MaintenanceLock {
  constructor(
    @Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** Runs `work` holding the task's lock; undefined when another replica holds it. */
  async withTaskLock<T>(name: string, work: () => Promise<T>): Promise<T | undefined> {
    if (this.db.info.embedded || !this.settings.databaseUrl) return work();
    const client = new Client({
      connectionString: this.settings.databaseUrl,
      application_name: 'market-data-storage maintenance lock',
      connectionTimeoutMillis: 5_000,
    });
    // A connection lost while idle must not crash the process; the lock goes with it.
    client.on('error', () => undefined);
    try {
      await translatePgErrors(() => client.connect());
      const { rows } = await translatePgErrors(() =>
        client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked',
          [MAINTENANCE_TASK_LOCK_CLASS, name],
        ),
      );
      // Ending the session below frees the lock.
      return rows[0].locked ? await work() : undefined;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
