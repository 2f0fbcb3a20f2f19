import { InvalidRequestError } from '../common/errors';
import type { InformationBarKind } from '../repositories/information-bars.sql';

/** `bar=volume:N|dollar:N|tick:N` (docs/research-reads.md, "Volume, dollar and tick bars"). */
export interface InformationBar {
  readonly kind: InformationBarKind;
  /** The threshold as canonical decimal text: sent to SQL as numeric, never as a float. */
  readonly threshold: string;
}

/**
 * At most this many bars in [start_time, end_time): every bar of the range
 * is computed for each page, so a threshold that cuts the range into more
 * is refused (raise N or narrow the range).
 */
export const MAX_BARS_PER_RANGE = 1_000_000;

const SPEC = /^(volume|dollar|tick):(\d{1,18}(?:\.\d{1,12})?)$/;

/** Parses `bar`; a bad spec is a 400 naming bar and the reason. */
export function parseInformationBar(spec: string): InformationBar {
  const match = SPEC.exec(spec.trim());
  if (!match) {
    throw new InvalidRequestError(
      'bar',
      'must be volume:N, dollar:N or tick:N with N a positive decimal number (at most 18 digits, 12 after the point), e.g. volume:10000',
    );
  }
  const kind = match[1] as InformationBarKind;
  const threshold = canonical(match[2] ?? '');
  if (/^0(\.0*)?$/.test(threshold)) {
    throw new InvalidRequestError('bar', `needs N above 0; got ${spec.trim()}`);
  }
  if (kind === 'tick' && threshold.includes('.')) {
    throw new InvalidRequestError('bar', `tick:N counts trades: N must be a whole number`);
  }
  return { kind, threshold };
}

/** `0010.500` -> `10.5`: one cache key per threshold, whatever its spelling. */
function canonical(decimal: string): string {
  const [whole, fraction = ''] = decimal.split('.');
  const int = (whole ?? '').replace(/^0+(?=\d)/, '');
  const frac = fraction.replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

/** The bars' spec as answered: `volume:10.5`. */
export function barSpecText(bar: InformationBar): string {
  return `${bar.kind}:${bar.threshold}`;
}
