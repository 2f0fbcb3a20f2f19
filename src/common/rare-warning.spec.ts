import { RareWarning } from './rare-warning';

describe('RareWarning', () => {
  it('should log the first warning, leave out repeats within the interval and count them in the next line', () => {
    const lines: string[] = [];
    let now = 1_000;
    const warning = new RareWarning({ warn: (m: string) => lines.push(m) }, 60_000, () => now);

    warning.warn('refused: a');
    now += 10_000;
    warning.warn('refused: b');
    warning.warn('refused: c');
    expect(lines).toEqual(['refused: a']);

    now += 50_000;
    warning.warn('refused: d');
    now += 60_000;
    warning.warn('refused: e');
    expect(lines).toEqual([
      'refused: a',
      'refused: d (2 more like it since the last one)',
      'refused: e',
    ]);
  });
});
