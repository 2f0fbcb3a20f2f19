import { createHash, Hash } from 'node:crypto';
import type { StoredBar } from '../repositories/integrity.repository';

/** Names the canonical text below; a change of it gets a new name. */
export const CHECKSUM_FORMAT = 'mds-ohlcv-v1';

/** A number as ECMAScript's Number#toString writes it (shortest exact; -0 as "0"; NaN, Infinity). */
function numberText(value: number | null): string {
  return value === null ? '' : String(value);
}

/**
 * One bar as a line of the checksum text (docs/security.md, "Integrity
 * check"): `timestamp|open|high|low|close|volume|dollar_volume|trade_count|quality_score|source`
 * then "\n"; timestamp in UTC with milliseconds, absent values empty, source
 * as a JSON string.
 */
export function canonicalLine(bar: StoredBar): string {
  return (
    [
      new Date(bar.timestampMs).toISOString(),
      numberText(bar.open),
      numberText(bar.high),
      numberText(bar.low),
      numberText(bar.close),
      bar.volume,
      numberText(bar.dollarVolume),
      numberText(bar.tradeCount),
      numberText(bar.qualityScore),
      bar.source === null ? '' : JSON.stringify(bar.source),
    ].join('|') + '\n'
  );
}

/** sha256 over the canonical lines of the bars in ascending time order, fed piece by piece. */
export class BarsChecksum {
  private readonly hash: Hash = createHash('sha256');

  add(bar: StoredBar): void {
    this.hash.update(canonicalLine(bar), 'utf8');
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}
