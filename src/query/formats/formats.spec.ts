import { InvalidRequestError } from '../../common/errors';
import { answerFormat } from './answer-format';
import { columnsOf, decimalText, isoToMicros } from './columns';
import { csvHeader, csvLines } from './csv-encoder';

describe('answerFormat', () => {
  it('should take format over Accept, and JSON when neither names one', () => {
    expect(answerFormat('csv', 'application/vnd.apache.arrow.stream')).toBe('csv');
    expect(answerFormat(undefined, 'application/vnd.apache.arrow.stream')).toBe('arrow');
    expect(answerFormat(undefined, 'text/html, text/csv;q=0.9, */*')).toBe('csv');
    expect(answerFormat(undefined, '*/*')).toBe('json');
    expect(answerFormat(undefined, undefined)).toBe('json');
  });

  it('should refuse an unknown format naming format', () => {
    expect(() => answerFormat('xml', undefined)).toThrow(InvalidRequestError);
    expect(() => answerFormat('xml', undefined)).toThrow(/format/);
  });
});

describe('decimalText', () => {
  it('should write numbers positionally and keep decimal strings as they are', () => {
    expect(decimalText(1e-7)).toBe('0.0000001');
    expect(decimalText(1.5e-10)).toBe('0.00000000015');
    expect(decimalText(125000)).toBe('125000');
    expect(decimalText(2.5)).toBe('2.5');
    expect(decimalText('9223372036854775807')).toBe('9223372036854775807');
  });
});

describe('isoToMicros', () => {
  it('should read milliseconds and microseconds exactly, before 1970 too', () => {
    expect(isoToMicros('2025-06-21T14:30:00.123456Z')).toBe(1750516200123456n);
    expect(isoToMicros('2025-06-21T14:30:00.000Z')).toBe(1750516200000000n);
    expect(isoToMicros('1969-12-31T23:59:59.999999Z')).toBe(-1n);
  });
});

describe('csvLines', () => {
  it('should quote cells that need it and leave nulls empty', () => {
    const columns = columnsOf(['timestamp', 'price', 'trade_id', 'conditions', 'source']);
    const text =
      csvHeader(columns) +
      csvLines(columns, [
        {
          timestamp: '2025-06-21T14:30:00.000001Z',
          price: 1.5,
          trade_id: 'a,"b"',
          conditions: ['@', 'F'],
          source: null,
        },
      ]);

    expect(text).toBe(
      'timestamp,price,trade_id,conditions,source\r\n' +
        '2025-06-21T14:30:00.000001Z,1.5,"a,""b""","[""@"",""F""]",\r\n',
    );
  });
});
