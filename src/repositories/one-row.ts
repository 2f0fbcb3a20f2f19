/**
 * The row of a statement that always answers exactly one (an aggregate
 * without GROUP BY, a SELECT of scalar subqueries, SELECT EXISTS).
 */
export function oneRow<R>(rows: readonly R[]): R {
  const [row] = rows;
  if (row === undefined) throw new Error('a one-row statement answered no row');
  return row;
}
