import type { Pool } from 'pg';

/**
 * The WAL positions read-your-writes compares (src/read-routing): the
 * primary's after a commit, a replica's replay position, and what a replica
 * says of itself for health. LSNs travel as their text ('0/16B3740').
 */

/** pg_current_wal_lsn() of the primary: past every commit made before it was asked. */
export async function currentWalLsn(primary: Pool): Promise<string | undefined> {
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0]?.lsn;
}

/** pg_last_wal_replay_lsn() of a replica: null on a server that is not a standby. */
export async function replayedWalLsn(replica: Pool): Promise<string | null | undefined> {
  const { rows } = await replica.query<{ lsn: string | null }>(
    'SELECT pg_last_wal_replay_lsn()::text AS lsn',
  );
  return rows[0]?.lsn;
}

export interface StandbyState {
  readonly standby: boolean;
  /** pg_is_wal_replay_paused(); null on a primary. */
  readonly paused: boolean | null;
  readonly lsn: string | null;
}

/** Whether the server is a standby, its replay paused, and its replay position, in one statement. */
export async function standbyState(replica: Pool): Promise<StandbyState> {
  const { rows } = await replica.query<StandbyState>(
    `SELECT pg_is_in_recovery() AS standby,
            CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused,
            pg_last_wal_replay_lsn()::text AS lsn`,
  );
  const [row] = rows;
  if (!row) throw new Error('no answer to the standby query');
  return row;
}
