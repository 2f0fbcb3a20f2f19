/**
 * Time parsing and formatting. Timestamps are epoch milliseconds in the
 * service; the wire format is ISO-8601 with a zone, answered in UTC.
 */
/** Earliest and latest accepted instants: wide enough for any market history, bounded for partitions. */
export const MIN_TIMESTAMP_MS = Date.UTC(1900, 0, 1);
export const MAX_TIMESTAMP_MS = Date.UTC(2200, 0, 1);

export interface ParsedTime {
  readonly ms: number;
  /** Digits below the millisecond are not zero (bars cannot carry them). */
  readonly subMillisecond: boolean;
  /** Microseconds below `ms` (0-999): trades and quotes keep them. */
  readonly micros: number;
  /** Digits below the microsecond are not zero (nothing stored can carry them). */
  readonly subMicrosecond: boolean;
}

const GREGORIAN_CYCLE_MS = 146_097 * 86_400_000;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** The number in s[start, start+length) when all of it is digits, else -1. */
function digitsAt(s: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/**
 * Parses an ISO-8601 instant with a zone (YYYY-MM-DDTHH:MM[:SS[.fraction]]
 * then Z or ±HH[:]MM); null when it is not one or is not a real calendar date.
 * Hand-written because it runs once per stored point: a regex and a Date per
 * call cost several times more.
 */
export function parseIsoInstant(value: unknown): ParsedTime | null {
  if (typeof value !== 'string' || value.length < 17 || value.length > 40) return null;
  const s = value;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  const hour = digitsAt(s, 11, 2);
  const minute = digitsAt(s, 14, 2);
  const t = s.charCodeAt(10);
  if (
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59
  )
    return null;
  if (s[4] !== '-' || s[7] !== '-' || (t !== 84 && t !== 116) || s[13] !== ':') return null;
  const monthDays = month === 2 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (day > monthDays) return null;

  let i = 16;
  let second = 0;
  let millis = 0;
  let subMillisecond = false;
  let micros = 0;
  let subMicrosecond = false;
  if (s[i] === ':') {
    second = digitsAt(s, i + 1, 2);
    if (second < 0 || second > 59) return null;
    i += 3;
    if (s[i] === '.') {
      const start = ++i;
      while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
      const length = i - start;
      if (length < 1 || length > 9) return null;
      millis = digitsAt(s.slice(start, start + Math.min(length, 3)).padEnd(3, '0'), 0, 3);
      subMillisecond = length > 3 && digitsAt(s, start + 3, length - 3) !== 0;
      if (subMillisecond) {
        micros = digitsAt(s.slice(start + 3, start + Math.min(length, 6)).padEnd(3, '0'), 0, 3);
        subMicrosecond = length > 6 && digitsAt(s, start + 6, length - 6) !== 0;
      }
    }
  }

  let offsetMinutes = 0;
  const zone = s.slice(i);
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '+' ? 1 : zone[0] === '-' ? -1 : 0;
    const colon = zone.length === 6 && zone[3] === ':';
    if (sign === 0 || !(colon || zone.length === 5)) return null;
    const oh = digitsAt(zone, 1, 2);
    const om = digitsAt(zone, colon ? 4 : 3, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  // Date.UTC reads years 0-99 as 1900-1999: shift by 400 years (a whole Gregorian cycle) and back.
  const shifted = year < 100;
  const utc =
    Date.UTC(shifted ? year + 400 : year, month - 1, day, hour, minute, second, millis) -
    (shifted ? GREGORIAN_CYCLE_MS : 0);
  const ms = utc - offsetMinutes * 60_000;
  return { ms, subMillisecond, micros, subMicrosecond };
}

/** Epoch microseconds of a parsed instant; exact as a number (|value| < 2^53 in the accepted range). */
export function epochMicros(time: ParsedTime): number {
  return time.ms * 1000 + time.micros;
}

/** UTC with microseconds, the answer format of trades and quotes: 2025-06-21T10:00:00.000123Z. */
export function formatInstantMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, -1)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

/** UTC with milliseconds, the answer format: 2025-06-21T10:00:00.000Z. */
export function formatInstant(ms: number): string {
  return new Date(ms).toISOString();
}

export function isWithinAcceptedRange(ms: number): boolean {
  return ms >= MIN_TIMESTAMP_MS && ms < MAX_TIMESTAMP_MS;
}
