import { Pool } from 'pg';
import { onlyRow } from './rows';

/**
 * Whether the migrations may use TimescaleDB on this server, decided before
 * any of them runs: on a server where TimescaleDB is installed but not in
 * shared_preload_libraries, `CREATE EXTENSION timescaledb` ends the session
 * with a FATAL that no EXCEPTION block catches, so it must never be tried.
 */
export type TimescaleSupport =
  /** The extension exists in this database and the server loads it. */
  | { readonly use: true; readonly created: true }
  /** Not created yet; the first migration creates it. */
  | { readonly use: true; readonly created: false }
  /** Plain PostgreSQL; `warning` says why when TimescaleDB is there but unusable or unused. */
  | { readonly use: false; readonly warning?: string };

/** Start-up refused: the database needs TimescaleDB and the server does not load it. */
export class TimescaleNotLoadedError extends Error {}

export const NOT_PRELOADED_WARNING =
  "TimescaleDB is installed on this server but not preloaded, so the service runs on plain PostgreSQL (native partitions, no compression, rollups in a table of the service's). To use TimescaleDB: add shared_preload_libraries = 'timescaledb' to postgresql.conf, restart PostgreSQL, then start the service on a new, empty database (tables created on plain PostgreSQL stay plain).";

export const CREATED_WITHOUT_TIMESCALE_WARNING =
  'TimescaleDB is available on this server, but this database was created without it: its tables are plain PostgreSQL partitions and stay so (no compression). To use TimescaleDB, start the service on a new, empty database and restore the data into it (docs/operations.md).';

export const EXTENSION_NOT_LOADED_MESSAGE =
  "this database uses TimescaleDB, but the server does not preload it: add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL";

/** Names in a shared_preload_libraries value ('pg_stat_statements, timescaledb'). */
export function preloads(sharedPreloadLibraries: string, library: string): boolean {
  return sharedPreloadLibraries
    .split(',')
    .map((name) => name.trim().replace(/^"|"$/g, ''))
    .some((name) => name === library || name.startsWith(`${library}-`));
}

/**
 * Reads the catalog only (never touches the extension). The embedded engine
 * loads TimescaleDB itself before any statement, as a preload would.
 * Throws TimescaleNotLoadedError where the extension is created in this
 * database but the server does not load it: every hypertable statement
 * would fail there.
 */
export async function probeTimescaleSupport(
  pool: Pool,
  embedded: boolean,
): Promise<TimescaleSupport> {
  const { rows } = await pool.query<{
    available: boolean;
    created: boolean;
    preload: string;
    migrated: boolean;
  }>(
    `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
            EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS created,
            current_setting('shared_preload_libraries') AS preload,
            to_regclass('market_data_ts') IS NOT NULL AS migrated`,
  );
  const { available, created, preload, migrated } = onlyRow(rows);
  const loaded = embedded || preloads(preload, 'timescaledb');
  if (created) {
    if (!loaded) throw new TimescaleNotLoadedError(EXTENSION_NOT_LOADED_MESSAGE);
    return { use: true, created: true };
  }
  if (!available) return { use: false };
  if (!loaded) return { use: false, warning: NOT_PRELOADED_WARNING };
  if (migrated) return { use: false, warning: CREATED_WITHOUT_TIMESCALE_WARNING };
  return { use: true, created: false };
}
