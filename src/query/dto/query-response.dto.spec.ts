import { TimeFrame } from '../../common/market-data.types';
import {
  QueryResponseParts,
  TickPageResponseParts,
  toQueryResponseJson,
  toTickPageResponseJson,
} from './query-response.dto';

/** The answer's bytes as the client's JSON.parse reads them. */
const parseJson = (bytes: Buffer): any => JSON.parse(bytes.toString('utf8'));

function parts(overrides: Partial<QueryResponseParts> = {}): QueryResponseParts {
  return {
    instrumentId: 'AAPL',
    timeframe: TimeFrame.ONE_MINUTE,
    pointsJson: '[{"timestamp":"2025-06-21T10:00:00.000Z","close":187.5,"volume":125000}]',
    totalCount: 390,
    queryTimeMs: 3.25,
    cacheHit: false,
    ...overrides,
  };
}

describe('toQueryResponseJson', () => {
  it('should answer the QueryResponse as valid JSON', () => {
    expect(parseJson(toQueryResponseJson(parts()))).toEqual({
      instrument_id: 'AAPL',
      timeframe: 'ONE_MINUTE',
      data_points: [{ timestamp: '2025-06-21T10:00:00.000Z', close: 187.5, volume: 125000 }],
      total_count: 390,
      query_time_ms: 3.25,
      cache_hit: false,
    });
  });

  it('should keep the spliced points exactly as the database wrote them', () => {
    const pointsJson =
      '[{"timestamp":"2025-06-21T10:00:00.000Z","volume":9007199254740993},' +
      '{"timestamp":"2025-06-21T10:01:00.000Z","volume":9223372036854775807}]';

    const text = toQueryResponseJson(parts({ pointsJson })).toString('utf8');

    expect(text).toContain(`"data_points":${pointsJson}`);
    expect(text).toContain('9007199254740993');
    expect(() => JSON.parse(text) as unknown).not.toThrow();
  });

  it('should add derived_from after timeframe when the bars were derived', () => {
    const text = toQueryResponseJson(
      parts({ timeframe: TimeFrame.ONE_HOUR, derivedFrom: TimeFrame.FIVE_MINUTES }),
    ).toString('utf8');

    expect(JSON.parse(text)).toMatchObject({
      timeframe: 'ONE_HOUR',
      derived_from: 'FIVE_MINUTES',
    });
    expect(Object.keys(JSON.parse(text))).toEqual([
      'instrument_id',
      'timeframe',
      'derived_from',
      'data_points',
      'total_count',
      'query_time_ms',
      'cache_hit',
    ]);
  });

  it('should leave derived_from out when the bars were stored', () => {
    expect(parseJson(toQueryResponseJson(parts()))).not.toHaveProperty('derived_from');
  });

  it('should answer an empty page', () => {
    const body = parseJson(toQueryResponseJson(parts({ pointsJson: '[]', totalCount: 0 })));

    expect(body).toMatchObject({ data_points: [], total_count: 0 });
  });

  it('should report a cache hit', () => {
    expect(parseJson(toQueryResponseJson(parts({ cacheHit: true }))).cache_hit).toBe(true);
  });

  it('should escape an instrument id that JSON needs escaped', () => {
    const instrumentId = 'A"B\\C\u2028';

    expect(parseJson(toQueryResponseJson(parts({ instrumentId }))).instrument_id).toBe(
      instrumentId,
    );
  });
});

describe('toTickPageResponseJson', () => {
  const page = (overrides: Partial<TickPageResponseParts> = {}): TickPageResponseParts => ({
    instrumentId: 'AAPL',
    dataType: 'TRADE',
    pointsJson: '[{"timestamp":"2025-06-21T14:30:00.123456Z","price":187.25}]',
    queryTimeMs: 1.5,
    cacheHit: false,
    ...overrides,
  });

  it('should answer a first page with its total and the next cursor, in this key order', () => {
    const text = toTickPageResponseJson(page({ totalCount: 3, nextCursor: 'dDF8MXxr' })).toString(
      'utf8',
    );

    expect(Object.keys(JSON.parse(text))).toEqual([
      'instrument_id',
      'data_type',
      'data_points',
      'total_count',
      'next_cursor',
      'query_time_ms',
      'cache_hit',
    ]);
    expect(JSON.parse(text)).toMatchObject({ total_count: 3, next_cursor: 'dDF8MXxr' });
  });

  it('should leave total_count out of a later page and answer null as the last cursor', () => {
    const body = parseJson(toTickPageResponseJson(page({ dataType: 'QUOTE', cacheHit: true })));

    expect(body).not.toHaveProperty('total_count');
    expect(body).toMatchObject({ data_type: 'QUOTE', next_cursor: null, cache_hit: true });
  });
});
