import { SeriesKey } from '../common/market-data.types';

/** Series remembered at most; past it the memory starts over (it is only a hint). */
const MAX_SERIES = 100_000;

function keyOf(series: SeriesKey): string {
  return `${series.instrumentId}\u0000${series.timeframe}`;
}

/**
 * The newest timestamp known to be stored per series, as this process saw
 * it: from its own writes and from the database after a collision. Only a
 * hint for choosing the write path. A batch that starts after the newest
 * known row is probably new (a plain COPY, which falls back to the merge if
 * another writer stored some of it); a batch that reaches back to it
 * overwrites rows and goes to the merge at once. Stale knowledge costs speed,
 * never correctness.
 */
export class KnownNewest {
  private readonly newest = new Map<string, number>();

  /** True when some series of the batch has a known row at or after the batch's first timestamp. */
  overlaps(series: readonly SeriesKey[], oldestMs: readonly number[]): boolean {
    for (let i = 0; i < series.length; i++) {
      const newest = this.newest.get(keyOf(series[i]));
      if (newest !== undefined && newest >= oldestMs[i]) return true;
    }
    return false;
  }

  /** Rows up to `newestMs` of `series` are stored. */
  record(series: SeriesKey, newestMs: number): void {
    const key = keyOf(series);
    const known = this.newest.get(key);
    if (known !== undefined && known >= newestMs) return;
    if (known === undefined && this.newest.size >= MAX_SERIES) this.newest.clear();
    this.newest.set(key, newestMs);
  }
}
