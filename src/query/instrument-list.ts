import { InvalidRequestError } from '../common/errors';
import { INSTRUMENT_ID_PATTERN, INSTRUMENT_ID_RULE } from '../common/market-data.types';

/** Most instruments one request may name (docs/research-reads.md, "Many instruments at once"). */
export const MAX_INSTRUMENTS = 500;
/** Most points one many-instrument answer may hold: instruments x limit. */
export const MAX_POINTS_PER_ANSWER = 1_000_000;

/**
 * `instrument_ids`: a comma list (the parameter may also repeat), spaces
 * around the commas ignored (an instrument_id never starts or ends with one),
 * 1-500 instruments each named once, in the order given. An instrument_id
 * holding a comma cannot be named here: instrument_id takes it.
 */
export function parseInstrumentIds(raw: string | readonly string[]): string[] {
  const ids = (typeof raw === 'string' ? [raw] : raw)
    .flatMap((list) => list.split(','))
    .map((id) => id.trim());
  if (ids.length > MAX_INSTRUMENTS) {
    throw new InvalidRequestError(
      'instrument_ids',
      `names ${ids.length} instruments; at most ${MAX_INSTRUMENTS}`,
    );
  }
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (!INSTRUMENT_ID_PATTERN.test(id)) {
      throw new InvalidRequestError(
        'instrument_ids',
        `entry ${i + 1} (${JSON.stringify(id)}) must be ${INSTRUMENT_ID_RULE}`,
      );
    }
    if (seen.has(id)) throw new InvalidRequestError('instrument_ids', `names ${id} twice`);
    seen.add(id);
  });
  return ids;
}

/** Runs `work` on each item, at most `concurrency` at a time; results in the items' order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const runner = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, runner));
  return results;
}
