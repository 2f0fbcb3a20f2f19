import { createHash } from 'node:crypto';

/**
 * Cache key builders (DESIGN 6). Every answer about an instrument carries
 * that instrument's generation in its key: a write or delete sets a new
 * generation, so everything cached before it becomes unreachable at once, on
 * every instance sharing the cache. Derived timeframes read other stored
 * timeframes of the same instrument, so the generation is per instrument.
 */
export const CACHE_TTL_MS = {
  query: 5 * 60_000,
  latest: 60_000,
  agg: 15 * 60_000,
  stats: 60_000,
  /** Outlives every entry that may carry it. */
  generation: 24 * 60 * 60_000,
} as const;

/** The generation of an instrument without a generation key: never written, or the key lost. */
export const FIRST_GENERATION = '0';

export function generationKey(instrumentId: string): string {
  return `gen:${instrumentId}`;
}

function digest(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 32);
}

/** `query:{hash}`: a stored range page. */
export function queryKey(generation: string, parts: readonly unknown[]): string {
  return `query:${digest([generation, ...parts])}`;
}

/** `agg:{instrument_id}:{timeframe}:{period}`: a derived range page; the period hash covers range, fields and page. */
export function aggKey(
  instrumentId: string,
  timeframe: string,
  generation: string,
  parts: readonly unknown[],
): string {
  return `agg:${instrumentId}:${timeframe}:${digest([generation, ...parts])}`;
}

/** `latest:{instrument_id}:{timeframe}`, with the generation and fields after it. */
export function latestKey(
  instrumentId: string,
  timeframe: string,
  generation: string,
  fields: string,
): string {
  return `latest:${instrumentId}:${timeframe}:${generation}:${fields}`;
}

export const STATS_KEY = 'stats:storage:latest';
