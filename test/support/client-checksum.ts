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
 * A volume as the checksum and the answers write it (docs/security.md): its
 * exact decimal without exponent, leading or trailing zeros (1e-7 is
 * 0.0000001, "01.50" is 1.5). The client's own reading, through BigInt.
 */
export function volumeText(volume: number | string): string {
  const [mantissa = '', exponent = '0'] = String(volume).toLowerCase().split('e');
  const [integer = '', fraction = ''] = mantissa.split('.');
  const digits = BigInt(integer + fraction);
  const scale = fraction.length - Number(exponent);
  if (scale <= 0) return (digits * 10n ** BigInt(-scale)).toString();
  const text = digits.toString().padStart(scale + 1, '0');
  const whole = text.slice(0, -scale);
  const decimals = text.slice(-scale).replace(/0+$/, '');
  return decimals ? `${whole}.${decimals}` : whole;
}

const ISO = /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?([Zz]|[+-]\d\d:?\d\d)$/;

/** Epoch ms of an ISO-8601 instant with a zone (the client's own reading, not the service's). */
export function instantOf(iso: string): number {
  const m = ISO.exec(iso);
  if (!m) throw new Error(`not an ISO instant: ${iso}`);
  const [, y = '', mo = '', d = '', h = '', mi = '', s = '0', fraction = '', zone = 'Z'] = m;
  const millis = Number(fraction.padEnd(3, '0').slice(0, 3));
  let offset = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const digits = zone.replace(':', '');
    offset =
      (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
  }
  return Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, millis) - offset * 60_000;
}

/**
 * What a client computes from the points it sent, following docs/security.md
 * ("Integrity check", format mds-ohlcv-v1) and nothing of the service's code:
 * last occurrence per instant wins, ascending by time, one line per bar.
 */
export function clientChecksum(sent: readonly SentPoint[]): string {
  const byInstant = new Map<number, SentPoint>();
  for (const point of sent) byInstant.set(instantOf(point.timestamp), point);
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
          volumeText(p.volume),
          optional(p.dollar_volume),
          optional(p.trade_count),
          String(p.quality_score ?? 1),
          p.source === null || p.source === undefined ? '' : JSON.stringify(p.source),
        ].join('|') + '\n',
    )
    .join('');
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
