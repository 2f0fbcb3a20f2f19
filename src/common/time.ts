/**
 * Time parsing and formatting. Timestamps are epoch milliseconds in the
 * service; the wire format is ISO-8601 with a zone, answered in UTC.
 */
const ISO_WITH_ZONE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Earliest and latest accepted instants: wide enough for any market history, bounded for partitions. */
export const MIN_TIMESTAMP_MS = Date.UTC(1900, 0, 1);
export const MAX_TIMESTAMP_MS = Date.UTC(2200, 0, 1);

export interface ParsedTime {
  readonly ms: number;
  /** Digits below the millisecond are not zero (bars cannot carry them). */
  readonly subMillisecond: boolean;
}

/** Parses an ISO-8601 instant with a zone; null when it is not one or is not a real calendar date. */
export function parseIsoInstant(value: unknown): ParsedTime | null {
  if (typeof value !== 'string') return null;
  const m = ISO_WITH_ZONE.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s = '0', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return null;
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls 2025-02-30 over into March: reject what does not map back.
  if (new Date(local).getUTCDate() !== day) return null;
  let offsetMs = 0;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2));
    if (oh > 23 || om > 59) return null;
    offsetMs = sign * (oh * 60 + om) * 60_000;
  }
  const padded = frac.padEnd(9, '0');
  const ms = local - offsetMs + Number(padded.slice(0, 3));
  return { ms, subMillisecond: Number(padded.slice(3)) !== 0 };
}

/** UTC with milliseconds, the answer format: 2025-06-21T10:00:00.000Z. */
export function formatInstant(ms: number): string {
  return new Date(ms).toISOString();
}

export function isWithinAcceptedRange(ms: number): boolean {
  return ms >= MIN_TIMESTAMP_MS && ms < MAX_TIMESTAMP_MS;
}
