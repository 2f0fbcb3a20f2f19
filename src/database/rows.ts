/**
 * The row of a statement that always returns exactly one (an aggregate, a
 * SELECT without FROM, an INSERT ... RETURNING of one row): a missing row is
 * a bug, reported as such rather than as a TypeError further on.
 */
export function onlyRow<T>(rows: readonly T[]): T {
  const row = rows[0];
  if (row === undefined) throw new Error('the statement returned no row');
  return row;
}
