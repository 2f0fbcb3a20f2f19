import type { CacheResult } from '../metrics/metrics.service';
import type { QueryCache } from './query-cache.service';

/** A place an answer may be cached: its key and how long an answer stays there. */
export interface CacheSlot {
  readonly key: string;
  readonly ttlMs: number;
}

/** One cached read about an instrument (DESIGN 6). */
export interface CacheAsideRead<A> {
  readonly instrumentId: string;
  /**
   * The places the answer may be cached under the instrument's generation,
   * read in one round trip (the first cached wins); at least one.
   */
  readonly slots: (generation: string) => readonly [CacheSlot, ...CacheSlot[]];
  /** The answer from the database; a rejection is not cached and reaches the caller. */
  readonly compute: () => Promise<A>;
  /** Which of the slots a computed answer is stored in; the first when not given. */
  readonly slotOf?: (answer: A) => number;
  readonly encode: (answer: A) => string;
  readonly decode: (text: string) => A;
}

export interface CacheAsideResult<A> {
  readonly answer: A;
  /** 'bypass': the cache could not be trusted or reached, the answer came from the database. */
  readonly cacheResult: CacheResult;
}

/**
 * The cache-aside sequence of every read: generation, keys, get, compute on
 * a miss, set. The generation is read before the database: an answer
 * computed while a write commits is then cached under the generation that
 * write replaces. The set is not awaited: the answer need not wait for Redis
 * (QueryCache.set says why that is safe). A cache failure degrades to the
 * database (QueryCache answers undefined, never an error).
 */
export async function cacheAside<A>(
  cache: QueryCache,
  read: CacheAsideRead<A>,
): Promise<CacheAsideResult<A>> {
  const generation = await cache.generation(read.instrumentId);
  if (generation === undefined) return { answer: await read.compute(), cacheResult: 'bypass' };
  const slots = read.slots(generation);
  const [first] = slots;
  const cached =
    slots.length === 1
      ? await cache.get(first.key, generation)
      : await cache.getFirst(
          slots.map((s) => s.key),
          generation,
        );
  if (cached !== undefined) return { answer: read.decode(cached), cacheResult: 'hit' };
  const answer = await read.compute();
  const slot = slots[read.slotOf?.(answer) ?? 0] ?? first;
  void cache.set(slot.key, read.encode(answer), slot.ttlMs, generation);
  return { answer, cacheResult: 'miss' };
}
