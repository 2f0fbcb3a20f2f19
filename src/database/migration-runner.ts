import { Logger } from '@nestjs/common';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Pool } from 'pg';
import { ADVISORY_LOCKS } from './advisory-locks';
import { inTransaction, markBroken, withClient } from './sessions';
import { probeTimescaleSupport } from './timescale-support';

/** migrations/ at the project root, from src/ (ts-node) and dist/ alike. */
export const MIGRATIONS_DIR = resolve(__dirname, '..', '..', 'migrations');

export interface Migration {
  readonly version: string;
  readonly name: string;
  readonly up: string;
  readonly down: string;
}

/** Reads `NNNN_name.sql` files split by `-- migrate:up` and `-- migrate:down`. */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d+_[\w-]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const sql = readFileSync(join(dir, file), 'utf8');
      const upAt = sql.indexOf('-- migrate:up');
      const downAt = sql.indexOf('-- migrate:down');
      if (upAt < 0 || downAt < upAt)
        throw new Error(`${file}: needs "-- migrate:up" then "-- migrate:down"`);
      // The filter above guarantees digits, an underscore and a name.
      const separator = file.indexOf('_');
      return {
        version: file.slice(0, separator),
        name: file.slice(separator + 1).replace(/\.sql$/, ''),
        up: sql.slice(upAt, downAt),
        down: sql.slice(downAt),
      };
    });
}

/**
 * Applies pending migrations, each in its own transaction, under a
 * session advisory lock so that several instances starting together apply
 * each one exactly once.
 */
export class MigrationRunner {
  private readonly logger = new Logger('Migrations');

  /** `embedded`: the embedded engine, which loads TimescaleDB itself (probeTimescaleSupport). */
  constructor(
    private readonly pool: Pool,
    private readonly migrations: Migration[] = readMigrations(),
    private readonly embedded = false,
  ) {}

  /**
   * Decides first whether the migrations may create TimescaleDB (one
   * warning line where it is installed but unusable), then applies them.
   */
  async up(): Promise<string[]> {
    const timescale = await probeTimescaleSupport(this.pool, this.embedded);
    if (!timescale.use && timescale.warning) this.logger.warn(timescale.warning);
    return this.underLock(timescale.use, async (applied, run) => {
      const done: string[] = [];
      for (const migration of this.migrations) {
        if (applied.has(migration.version)) continue;
        await run(migration.up, 'INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        this.logger.log(`applied ${migration.version}_${migration.name}`);
        done.push(migration.version);
      }
      return done;
    });
  }

  /** Reverts the newest applied migration. */
  async down(): Promise<string | undefined> {
    return this.underLock(false, async (applied, run) => {
      const newest = [...this.migrations].reverse().find((m) => applied.has(m.version));
      if (!newest) return undefined;
      await run(newest.down, 'DELETE FROM schema_migrations WHERE version = $1', [newest.version]);
      this.logger.log(`reverted ${newest.version}_${newest.name}`);
      return newest.version;
    });
  }

  private async underLock<T>(
    useTimescale: boolean,
    work: (
      applied: Set<string>,
      run: (sql: string, record: string, params: string[]) => Promise<void>,
    ) => Promise<T>,
  ): Promise<T> {
    // A session that broke (lost, or it could not roll back or unlock) goes, not back to the pool.
    return withClient(this.pool, async (client) => {
      // Read by the first migration: it creates the extension only when told to.
      await client.query(`SELECT set_config('mds.timescaledb', $1, false)`, [
        useTimescale ? 'on' : 'off',
      ]);
      await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCKS.migrations]);
      try {
        await client.query(
          `CREATE TABLE IF NOT EXISTS schema_migrations (
             version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        const { rows } = await client.query<{ version: string }>(
          'SELECT version FROM schema_migrations',
        );
        const applied = new Set(rows.map((r) => r.version));
        return await work(applied, (sql, record, params) =>
          inTransaction(client, async () => {
            await client.query(sql);
            await client.query(record, params);
          }),
        );
      } finally {
        await client
          .query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCKS.migrations])
          // Ending the session frees the lock as well.
          .catch((error: unknown) => markBroken(client, error));
      }
    });
  }
}
