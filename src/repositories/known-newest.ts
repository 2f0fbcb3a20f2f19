/** Groups remembered at most; past it the memory starts over (it is only a hint). */
const MAX_GROUPS = 100_000;

/**
 * The newest instant known to be stored per group of rows (a bar series, an
 * instrument's trades or quotes), as this process saw it: from its own
 * writes and from the database after a collision. Only a hint for choosing
 * the write path. A batch that starts after the newest known row is
 * probably new (a plain COPY, which falls back to the merge if another
 * writer stored some of it); a batch that reaches back to it overwrites rows
 * and goes to the merge at once. Stale knowledge costs speed, never
 * correctness.
 */
export class KnownNewest {
  private readonly newest = new Map<string, number>();

  /** True when some group of the batch has a known row at or after the group's oldest instant. */
  overlaps(groups: readonly { readonly key: string; readonly oldest: number }[]): boolean {
    for (const { key, oldest } of groups) {
      const newest = this.newest.get(key);
      if (newest !== undefined && newest >= oldest) return true;
    }
    return false;
  }

  /** Rows up to `newest` of the group `key` are stored. */
  record(key: string, newest: number): void {
    const known = this.newest.get(key);
    if (known !== undefined && known >= newest) return;
    if (known === undefined && this.newest.size >= MAX_GROUPS) this.newest.clear();
    this.newest.set(key, newest);
  }
}
