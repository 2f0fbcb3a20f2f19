import { CompressionLevel } from '../common/market-data.types';
import {
  COMPRESS_AFTER_MS,
  COMPRESSION_LEVELS,
  DEFAULT_COMPRESSION_LEVEL,
  fromStoredLevel,
  levelsBlockingAt,
  toStoredLevel,
} from './compression-level';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('compression levels', () => {
  describe('COMPRESS_AFTER_MS', () => {
    it('should map NONE to never, LOW to 7 days, MEDIUM to 24 hours and HIGH to 1 hour', () => {
      expect(COMPRESS_AFTER_MS).toEqual({
        NONE: null,
        LOW: 7 * DAY,
        MEDIUM: DAY,
        HIGH: HOUR,
      });
    });

    it('should make MEDIUM, the spec default of 24 hours, the level of unconfigured series', () => {
      expect(DEFAULT_COMPRESSION_LEVEL).toBe(CompressionLevel.MEDIUM);
      expect(COMPRESS_AFTER_MS[DEFAULT_COMPRESSION_LEVEL]).toBe(DAY);
    });

    it('should list every level, strictest first', () => {
      expect(COMPRESSION_LEVELS).toEqual(['NONE', 'LOW', 'MEDIUM', 'HIGH']);
      expect([...COMPRESSION_LEVELS].sort()).toEqual(Object.values(CompressionLevel).sort());
    });
  });

  describe('toStoredLevel and fromStoredLevel', () => {
    it.each([
      [CompressionLevel.NONE, 'none'],
      [CompressionLevel.LOW, 'low'],
      [CompressionLevel.MEDIUM, 'medium'],
      [CompressionLevel.HIGH, 'high'],
    ])('should store %s as %s and read it back', (level, stored) => {
      expect(toStoredLevel(level)).toBe(stored);
      expect(fromStoredLevel(stored)).toBe(level);
    });

    it.each(['MEDIUM', 'ultra', ''])('should refuse the stored value "%s"', (stored) => {
      expect(() => fromStoredLevel(stored)).toThrow(/unknown compression_level/);
    });
  });

  describe('levelsBlockingAt', () => {
    it.each([
      [-DAY, ['NONE', 'LOW', 'MEDIUM', 'HIGH']],
      [0, ['NONE', 'LOW', 'MEDIUM', 'HIGH']],
      [HOUR - 1, ['NONE', 'LOW', 'MEDIUM', 'HIGH']],
      [HOUR, ['NONE', 'LOW', 'MEDIUM']],
      [DAY - 1, ['NONE', 'LOW', 'MEDIUM']],
      [DAY, ['NONE', 'LOW']],
      [7 * DAY - 1, ['NONE', 'LOW']],
      [7 * DAY, ['NONE']],
      [100 * 365 * DAY, ['NONE']],
    ])('should block a chunk that ended %d ms ago for series at %j', (ageMs, levels) => {
      expect(levelsBlockingAt(ageMs)).toEqual(levels);
    });
  });
});
