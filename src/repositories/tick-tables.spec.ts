import { formatInstantMicros } from '../common/time';
import { isoUs } from './tick-tables';

describe('isoUs', () => {
  it('should write the same text as formatInstantMicros, second after second and back', () => {
    const base = Date.parse('2025-06-23T13:30:59Z') * 1000;
    const instants = [
      base,
      base + 1,
      base + 999_999,
      base + 1_000_000,
      base + 1_000_001,
      base - 1,
      -1,
      0,
      Date.parse('1900-01-01T00:00:00Z') * 1000 + 7,
      base + 42,
    ];

    expect(instants.map(isoUs)).toEqual(instants.map(formatInstantMicros));
  });
});
