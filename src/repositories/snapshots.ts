import { escapeLiteral, type ClientBase } from 'pg';

/**
 * Snapshots shared between sessions (src/read-routing/shared-snapshot.ts):
 * one session exports the snapshot of its REPEATABLE READ transaction, others
 * import it as their first statement and see the same instant.
 */

/** pg_export_snapshot() of the session's transaction: its identifier. */
export async function exportSnapshot(session: ClientBase): Promise<string> {
  const { rows } = await session.query<{ snapshot: string }>(
    'SELECT pg_export_snapshot() AS snapshot',
  );
  return rows[0]!.snapshot;
}

/** The session's transaction sees `snapshot` (before any other statement in it). */
export async function importSnapshot(session: ClientBase, snapshot: string): Promise<void> {
  // SET TRANSACTION takes no parameters: the identifier goes in as an escaped literal.
  await session.query(`SET TRANSACTION SNAPSHOT ${escapeLiteral(snapshot)}`);
}
