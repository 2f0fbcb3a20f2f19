import { InvalidRequestError } from '../common/errors';
import { POINT_FIELDS } from '../common/market-data.types';
import { TRADE_FIELDS } from '../repositories/trades.reader';
import { parseFields, QUOTE_FIELD_SET, TRADE_FIELD_SET } from './fields';

describe('parseFields', () => {
  it.each([undefined, '', '   '])('should answer every field for %p', (fields) => {
    expect(parseFields(fields)).toEqual([...POINT_FIELDS]);
  });

  it('should always include timestamp', () => {
    expect(parseFields('close')).toEqual(['timestamp', 'close']);
  });

  it('should answer the fields in response order whatever order they are asked in', () => {
    expect(parseFields('volume,close,open')).toEqual(['timestamp', 'open', 'close', 'volume']);
  });

  it('should ignore spaces around names and repeated names', () => {
    expect(parseFields(' open , open,high ')).toEqual(['timestamp', 'open', 'high']);
  });

  it('should accept timestamp itself', () => {
    expect(parseFields('timestamp')).toEqual(['timestamp']);
  });

  it.each(['price', 'Open', 'open,quality_score', 'open;close'])(
    'should refuse %p with an error naming fields',
    (fields) => {
      let error: unknown;
      try {
        parseFields(fields);
      } catch (e) {
        error = e;
      }

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ field: 'fields' });
      expect((error as Error).message).toMatch(
        /^fields has unknown field ".*"; allowed: timestamp,/,
      );
    },
  );

  it('should quote the unknown name cut to 40 characters', () => {
    const long = 'x'.repeat(100);

    expect(() => parseFields(long)).toThrow(`fields has unknown field "${'x'.repeat(40)}";`);
  });

  it('should answer the trade defaults, without the prevailing quote, for no fields', () => {
    const fields = parseFields(undefined, TRADE_FIELD_SET);

    expect(fields).toEqual([...TRADE_FIELDS]);
    expect(fields).not.toContain('prevailing_bid');
  });

  it('should answer the prevailing quote of trades only when asked for', () => {
    expect(parseFields('prevailing_ask,price', TRADE_FIELD_SET)).toEqual([
      'timestamp',
      'price',
      'prevailing_ask',
    ]);
  });

  it.each([
    [TRADE_FIELD_SET, 'open', 'timestamp, price, size'],
    [QUOTE_FIELD_SET, 'price', 'timestamp, bid, ask'],
  ])('should refuse a name of another kind with the same error', (set, fields, allowed) => {
    expect(() => parseFields(fields, set)).toThrow(
      `fields has unknown field "${fields}"; allowed: ${allowed}`,
    );
  });
});
