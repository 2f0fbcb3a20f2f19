import { formatInstantMicros } from '../common/time';

let cachedSecond = NaN;
let cachedPrefix = '';

/**
 * Row text of an epoch-microsecond instant, for SQL parameters and COPY.
 * Trades come in time order, many in the same second: the
 * `YYYY-MM-DDTHH:MM:SS.` part is reused while the second stays the same.
 */
export function isoUs(us: number): string {
  const second = Math.floor(us / 1_000_000);
  if (second !== cachedSecond) {
    const text = formatInstantMicros(second * 1_000_000);
    cachedSecond = second;
    cachedPrefix = text.slice(0, 20);
  }
  return `${cachedPrefix}${String(us - second * 1_000_000).padStart(6, '0')}Z`;
}
