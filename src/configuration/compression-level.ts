import { CompressionLevel } from '../common/market-data.types';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The level of a series without a configuration (the spec's column default 'medium'). */
export const DEFAULT_COMPRESSION_LEVEL = CompressionLevel.MEDIUM;

/** Strictest first. */
export const COMPRESSION_LEVELS: readonly CompressionLevel[] = [
  CompressionLevel.NONE,
  CompressionLevel.LOW,
  CompressionLevel.MEDIUM,
  CompressionLevel.HIGH,
];

/**
 * What a level does: how long after a chunk's time range has ended the
 * series lets the chunk be compressed; null: never. MEDIUM is the spec's
 * compress_after of 24 hours.
 */
export const COMPRESS_AFTER_MS: Readonly<Record<CompressionLevel, number | null>> = {
  [CompressionLevel.NONE]: null,
  [CompressionLevel.LOW]: 7 * DAY_MS,
  [CompressionLevel.MEDIUM]: DAY_MS,
  [CompressionLevel.HIGH]: HOUR_MS,
};

/** The column value: lower-case, as the spec's default 'medium' is. */
export function toStoredLevel(level: CompressionLevel): string {
  return level.toLowerCase();
}

/** The enum of a stored value; anything else is a corrupt row, not a level to guess. */
export function fromStoredLevel(stored: string): CompressionLevel {
  const level = COMPRESSION_LEVELS.find((l) => l.toLowerCase() === stored);
  if (!level)
    throw new Error(`storage_configurations holds an unknown compression_level "${stored}"`);
  return level;
}

/**
 * The levels whose series keep a chunk uncompressed when its range ended
 * `ageMs` ago: a chunk is compressed only when every series with rows in it
 * allows it (the strictest wins). All of them while the chunk is younger
 * than the most eager level allows; NONE always.
 */
export function levelsBlockingAt(ageMs: number): CompressionLevel[] {
  return COMPRESSION_LEVELS.filter((level) => {
    const after = COMPRESS_AFTER_MS[level];
    return after === null || ageMs < after;
  });
}
