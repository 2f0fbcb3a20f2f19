import { pageTotal } from './bars.reader';

describe('pageTotal', () => {
  it('should be offset + rows for a page shorter than its limit', () => {
    expect(pageTotal({ limit: 1000, offset: 0 }, 999)).toBe(999);
    expect(pageTotal({ limit: 1440, offset: 0 }, 1439)).toBe(1439);
    expect(pageTotal({ limit: 100, offset: 200 }, 40)).toBe(240);
  });

  it('should be 0 for an empty first page', () => {
    expect(pageTotal({ limit: 100, offset: 0 }, 0)).toBe(0);
  });

  it('should be unknown for a full page: more rows may follow', () => {
    expect(pageTotal({ limit: 100, offset: 0 }, 100)).toBeUndefined();
    expect(pageTotal({ limit: 100, offset: 300 }, 100)).toBeUndefined();
  });

  it('should be unknown for an empty page past the start: the range may end before the offset', () => {
    expect(pageTotal({ limit: 100, offset: 300 }, 0)).toBeUndefined();
  });

  it('should be offset + rows for a full page with nothing of the range after it', () => {
    expect(pageTotal({ limit: 100, offset: 0 }, 100, true)).toBe(100);
    expect(pageTotal({ limit: 100, offset: 300 }, 100, true)).toBe(400);
  });

  it('should stay unknown for an empty page past the start, whatever lies after it', () => {
    expect(pageTotal({ limit: 100, offset: 300 }, 0, true)).toBeUndefined();
  });
});
