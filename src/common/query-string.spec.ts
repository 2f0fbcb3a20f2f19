import { parseQueryString } from './query-string';

describe('parseQueryString', () => {
  it('should restore the "+" of an offset that form decoding turned into a space', () => {
    expect(
      parseQueryString('start_time=2025-06-23T15:30:00+02:00&end_time=2025-06-23T16:00+05:30'),
    ).toEqual({
      start_time: '2025-06-23T15:30:00+02:00',
      end_time: '2025-06-23T16:00+05:30',
    });
    expect(parseQueryString('t=2025-06-23T15:30:00.123456+02:00').t).toBe(
      '2025-06-23T15:30:00.123456+02:00',
    );
  });

  it('should leave every other value as form decoding reads it', () => {
    expect(
      parseQueryString(
        'instrument_id=BRK+B&a=%2B1&t=2025-06-23T15:30:00%2B02:00&n=2025-06-23 15:30',
      ),
    ).toEqual({
      instrument_id: 'BRK B',
      a: '+1',
      t: '2025-06-23T15:30:00+02:00',
      n: '2025-06-23 15:30',
    });
  });

  it('should give a repeated name as an array, each value restored', () => {
    expect(parseQueryString('t=2025-06-23T15:30:00+02:00&t=x')).toEqual({
      t: ['2025-06-23T15:30:00+02:00', 'x'],
    });
  });

  it('should hold no prototype a name could reach', () => {
    const query = parseQueryString('__proto__=x&constructor=y');
    expect(Object.getPrototypeOf(query)).toBeNull();
    expect(query.constructor).toBe('y');
  });
});
