import { InvalidRequestError } from '../../common/errors';
import { answerFormat } from './answer-format';
import { columnRows, columnsOf, decimalText, isoOfMicros, isoToMicros, pointRows } from './columns';
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
      csvLines(
        columns,
        pointRows([
          {
            timestamp: '2025-06-21T14:30:00.000001Z',
            price: 1.5,
            trade_id: 'a,"b"',
            conditions: ['@', 'F'],
            source: null,
          },
        ]),
      );

    expect(text).toBe(
      'timestamp,price,trade_id,conditions,source\r\n' +
        '2025-06-21T14:30:00.000001Z,1.5,"a,""b""","[""@"",""F""]",\r\n',
    );
  });
});

describe('rows read as columns', () => {
  it('should write the CSV a JSON point gives, timestamps from µs', () => {
    const columns = columnsOf(['timestamp', 'close', 'volume']);
    const fromPoints = csvLines(
      columns,
      pointRows([
        { timestamp: '2025-06-21T14:30:00.000Z', close: 1.5, volume: 1000 },
        { timestamp: '2025-06-21T14:31:00.000Z', close: null, volume: '0.5' },
      ]),
    );
    const fromColumns = csvLines(
      columns,
      columnRows(
        {
          timestamp: [1750516200000000, 1750516260000000, 1750516320000000],
          close: [1.5, null, 2],
          volume: ['1000', '0.5', null],
        },
        0,
        2,
      ),
    );

    expect(fromColumns).toBe(fromPoints);
    expect(isoOfMicros(1750516200000001)).toBe('2025-06-21T14:30:00.000001Z');
    expect(isoOfMicros(-1)).toBe('1969-12-31T23:59:59.999999Z');
  });
});
