import { InvalidRequestError } from '../common/errors';
import { mapBounded, parseInstrumentIds } from './instrument-list';

describe('parseInstrumentIds', () => {
  it('should split comma lists, repeated parameters included, trimming around commas', () => {
    expect(parseInstrumentIds('AAPL, BRK B ,ES=F')).toEqual(['AAPL', 'BRK B', 'ES=F']);
    expect(parseInstrumentIds(['AAPL,MSFT', 'EUR/USD'])).toEqual(['AAPL', 'MSFT', 'EUR/USD']);
  });

  it.each([
    ['AAPL,,MSFT', 'instrument_ids entry 2 ("") must be'],
    ['AAPL,ABCDEFGHIJKLMNOPQRSTU', 'instrument_ids entry 2 ("ABCDEFGHIJKLMNOPQRSTU") must be'],
    ['AAPL,MSFT,AAPL', 'instrument_ids names AAPL twice'],
    [
      Array.from({ length: 501 }, (_, i) => `I${i}`).join(','),
      'names 501 instruments; at most 500',
    ],
  ])('should refuse %s', (raw, message) => {
    expect(() => parseInstrumentIds(raw)).toThrow(InvalidRequestError);
    expect(() => parseInstrumentIds(raw)).toThrow(message);
  });
});

describe('mapBounded', () => {
  it('should keep the order of the items and run at most the given number at once', async () => {
    let running = 0;
    let most = 0;
    const results = await mapBounded([5, 1, 4, 2, 3], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });

    expect(results).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });
});
