import { createHash } from 'node:crypto';

/** A point as a client sends it to POST /store. */
export interface SentPoint {
  timestamp: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number | string;
  dollar_volume?: number | null;
  trade_count?: number | null;
  quality_score?: number;
  source?: string | null;
}

/**
 * What a client computes from the points it sent, following docs/security.md
 * ("Integrity check", format mds-ohlcv-v1) and nothing of the service's code:
 * last occurrence per instant wins, ascending by time, one line per bar.
 */
export function clientChecksum(sent: readonly SentPoint[]): string {
  const byInstant = new Map<number, SentPoint>();
  for (const point of sent) byInstant.set(Date.parse(point.timestamp), point);
  const optional = (value: number | null | undefined) =>
    value === null || value === undefined ? '' : String(value);
  const text = [...byInstant.entries()]
    .sort(([a], [b]) => a - b)
    .map(
      ([ms, p]) =>
        [
          new Date(ms).toISOString(),
          String(p.open),
          String(p.high),
          String(p.low),
          String(p.close),
          BigInt(p.volume).toString(),
          optional(p.dollar_volume),
          optional(p.trade_count),
          String(p.quality_score ?? 1),
          p.source === null || p.source === undefined ? '' : JSON.stringify(p.source),
        ].join('|') + '\n',
    )
    .join('');
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
