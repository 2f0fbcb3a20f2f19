import { jsonString } from '../common/json-bytes';
import { joinJsonArrays } from './bars.reader';
import { worthHalving, SPLIT_PAGE_ROWS } from './halved-page';

describe('joinJsonArrays', () => {
  it('should join the halves of a page into one array, in order', () => {
    const joined = joinJsonArrays(['[{"a":1},{"a":2}]', '[{"a":3}]']);

    expect(JSON.parse(jsonString(joined))).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    // As pieces, no string of the whole made: the arrays' insides between brackets and commas.
    expect(joined).toEqual(['[', '', '{"a":1},{"a":2}', ',', '{"a":3}', ']']);
  });

  it('should leave out empty arrays and keep one array as it is', () => {
    expect(joinJsonArrays(['[]', '[1]', '[]'])).toBe('[1]');
    expect(joinJsonArrays(['[1,2]'])).toBe('[1,2]');
    expect(joinJsonArrays(['[]', '[]'])).toBe('[]');
    expect(joinJsonArrays([])).toBe('[]');
  });

  it('should join three arrays, and arrays past ASCII, element for element', () => {
    expect(jsonString(joinJsonArrays(['[1,2]', '[3]', '[4,5]']))).toBe('[1,2,3,4,5]');
    expect(jsonString(joinJsonArrays(['["é"]', '[{"s":"日本"}]']))).toBe('["é",{"s":"日本"}]');
  });
});

describe('worthHalving', () => {
  it('should halve a page only when its limit and its range from the offset both reach SPLIT_PAGE_ROWS', () => {
    const long = { limit: SPLIT_PAGE_ROWS, offset: 0 };

    expect(worthHalving(long, SPLIT_PAGE_ROWS)).toBe(true);
    expect(worthHalving(long, SPLIT_PAGE_ROWS - 1)).toBe(false);
    expect(worthHalving({ limit: SPLIT_PAGE_ROWS - 1, offset: 0 }, 1e9)).toBe(false);
    expect(worthHalving({ limit: 100_000, offset: 5_000 }, SPLIT_PAGE_ROWS + 4_999)).toBe(false);
    expect(worthHalving({ limit: 100_000, offset: 5_000 }, SPLIT_PAGE_ROWS + 5_000)).toBe(true);
  });
});
