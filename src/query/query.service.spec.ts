import {
  bypassCacheMock,
  barsReaderMock,
  metricsMock,
  noTradesMock,
} from '../../test/support/service-mocks';
import { CACHE_TTL_MS } from '../cache/cache-keys';
import { InvalidRequestError, NotFoundError } from '../common/errors';
import { DataType, POINT_FIELDS, TimeFrame } from '../common/market-data.types';
import { BarsReader } from '../repositories/bars.reader';
import { QuotesReader } from '../repositories/quotes.reader';
import { RollupsRepository } from '../repositories/rollups.repository';
import { loadSettings } from '../settings/settings';
import { StatisticsService } from '../statistics/statistics.service';
import { LatestRequestDto, QueryRequestDto } from './dto/query-request.dto';
import { TradingSessionsService } from './trading-sessions.service';
import { QueryService } from './query.service';

/** The answer's bytes as the client's JSON.parse reads them. */
const parseJson = (bytes: Buffer): any => JSON.parse(bytes.toString('utf8'));

/** Every method rejects until the test says what it answers: no silent undefined. */

/** Keeps what recordQuery was told, to check the counts a query leaves. */
function statisticsFake(): { service: StatisticsService; recorded: [number, boolean][] } {
  const recorded: [number, boolean][] = [];
  const service = {
    recordQuery: (durationMs: number, cacheHit: boolean) => recorded.push([durationMs, cacheHit]),
  } as unknown as StatisticsService;
  return { service, recorded };
}

function queryRequest(overrides: Partial<QueryRequestDto> = {}): QueryRequestDto {
  return Object.assign(new QueryRequestDto(), {
    instrument_id: 'AAPL',
    timeframe: TimeFrame.ONE_HOUR,
    start_time: '2025-06-21T10:30:00Z',
    end_time: '2025-06-21T12:30:00Z',
    ...overrides,
  });
}

function latestRequest(overrides: Partial<LatestRequestDto> = {}): LatestRequestDto {
  return Object.assign(new LatestRequestDto(), { timeframe: TimeFrame.ONE_MINUTE, ...overrides });
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const HOUR_POINTS =
  '[{"timestamp":"2025-06-21T11:00:00.000Z","open":1,"high":2,"low":0.5,"close":1.5,"volume":10,"dollar_volume":null,"trade_count":null}]';

/** No instrument declares a session (the unit tests read UTC-aligned bars). */
function noDeclaredSessions(): TradingSessionsService {
  return {
    sessionOfRead: jest.fn().mockResolvedValue(undefined),
  } as unknown as TradingSessionsService;
}

describe('QueryService', () => {
  let bars: jest.Mocked<BarsReader>;
  let rollups: jest.Mocked<RollupsRepository>;
  let recorded: [number, boolean][];
  let service: QueryService;

  beforeEach(() => {
    bars = barsReaderMock();
    const statistics = statisticsFake();
    recorded = statistics.recorded;
    // No rollup serves unless a test says so (plain PostgreSQL).
    rollups = {
      findDerivedRange: jest.fn().mockResolvedValue(undefined),
    } as unknown as jest.Mocked<RollupsRepository>;
    service = new QueryService(
      bars,
      rollups,
      noTradesMock(),
      {} as QuotesReader,
      bypassCacheMock(),
      metricsMock(),
      statistics.service,
      loadSettings({}),
      noDeclaredSessions(),
    );
  });

  describe('query', () => {
    it('should answer the stored timeframe when the range holds rows of it', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 5, pointsJson: HOUR_POINTS });

      const body = parseJson(await service.query(queryRequest()));

      expect(body).toEqual({
        instrument_id: 'AAPL',
        timeframe: 'ONE_HOUR',
        data_points: JSON.parse(HOUR_POINTS),
        total_count: 5,
        query_time_ms: expect.any(Number),
        cache_hit: false,
      });
      expect(body).not.toHaveProperty('derived_from');
      expect(bars.findTimeframesWithData).not.toHaveBeenCalled();
    });

    it('should answer a miss without waiting for the cache write, which carries the generation read first', async () => {
      const cache = bypassCacheMock();
      cache.generation.mockResolvedValue('g1');
      // A store that never confirms the write.
      cache.set.mockImplementation(() => new Promise<void>(() => undefined));
      bars.findRange.mockResolvedValue({ totalCount: 5, pointsJson: HOUR_POINTS });
      const cached = new QueryService(
        bars,
        rollups,
        noTradesMock(),
        {} as QuotesReader,
        cache,
        metricsMock(),
        statisticsFake().service,
        loadSettings({}),
        noDeclaredSessions(),
      );

      const body = parseJson(await cached.query(queryRequest()));

      expect(body).toMatchObject({ total_count: 5, cache_hit: false });
      expect(cache.set).toHaveBeenCalledWith(
        expect.stringMatching(/^query:/),
        expect.stringContaining(HOUR_POINTS),
        CACHE_TTL_MS.query,
        'g1',
      );
    });

    it('should read the requested series, range, fields and page', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([]);

      await service.query(
        queryRequest({
          timeframe: TimeFrame.ONE_MINUTE,
          start_time: '2025-06-21T12:00:00+02:00',
          end_time: '2025-06-21T11:00:00Z',
          fields: 'close',
          limit: 50,
          offset: 100,
        }),
      );

      expect(bars.findRange).toHaveBeenCalledWith(
        { instrumentId: 'AAPL', timeframe: TimeFrame.ONE_MINUTE },
        { fromMs: Date.UTC(2025, 5, 21, 10), toMs: Date.UTC(2025, 5, 21, 11) },
        ['timestamp', 'close'],
        { limit: 50, offset: 100 },
      );
    });

    it('should default to a page of 1000 from offset 0', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 1, pointsJson: HOUR_POINTS });

      await service.query(queryRequest());

      expect(bars.findRange.mock.calls[0]?.[3]).toEqual({ limit: 1000, offset: 0 });
    });

    it('should derive the bars from the finest stored timeframe when none are stored', async () => {
      const derived =
        '[{"timestamp":"2025-06-21T11:00:00.000Z","open":1,"high":3,"low":0.5,"close":2,"volume":120}]';
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([
        TimeFrame.FIFTEEN_MINUTES,
        TimeFrame.ONE_MINUTE,
        TimeFrame.FIVE_MINUTES,
      ]);
      bars.findDerivedRange.mockResolvedValue({ totalCount: 2, pointsJson: derived });

      const body = parseJson(await service.query(queryRequest()));

      expect(body).toMatchObject({
        instrument_id: 'AAPL',
        timeframe: 'ONE_HOUR',
        derived_from: 'ONE_MINUTE',
        data_points: JSON.parse(derived),
        total_count: 2,
        cache_hit: false,
      });
      expect(bars.findDerivedRange).toHaveBeenCalledWith(
        'AAPL',
        TimeFrame.ONE_MINUTE,
        TimeFrame.ONE_HOUR,
        { fromMs: Date.UTC(2025, 5, 21, 11), toMs: Date.UTC(2025, 5, 21, 13) },
        [...POINT_FIELDS],
        { limit: 1000, offset: 0 },
      );
    });

    it('should answer from the rollups when they serve a series stored by the minute', async () => {
      const derived = '[{"timestamp":"2025-06-21T11:00:00.000Z","close":2}]';
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([TimeFrame.ONE_MINUTE]);
      rollups.findDerivedRange.mockResolvedValue({ totalCount: 2, pointsJson: derived });

      const body = parseJson(await service.query(queryRequest({ fields: 'close' })));

      expect(body).toMatchObject({
        derived_from: 'ONE_MINUTE',
        data_points: JSON.parse(derived),
        total_count: 2,
      });
      expect(rollups.findDerivedRange).toHaveBeenCalledWith(
        'AAPL',
        TimeFrame.ONE_HOUR,
        { fromMs: Date.UTC(2025, 5, 21, 11), toMs: Date.UTC(2025, 5, 21, 13) },
        ['timestamp', 'close'],
        { limit: 1000, offset: 0 },
      );
      expect(bars.findDerivedRange).not.toHaveBeenCalled();
    });

    it('should not ask the rollups when the finest stored timeframe is coarser than the minute', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([TimeFrame.FIVE_MINUTES]);
      bars.findDerivedRange.mockResolvedValue({ totalCount: 1, pointsJson: '[]' });

      const body = parseJson(await service.query(queryRequest()));

      expect(body.derived_from).toBe('FIVE_MINUTES');
      expect(rollups.findDerivedRange).not.toHaveBeenCalled();
      expect(bars.findDerivedRange.mock.calls[0]?.[1]).toBe(TimeFrame.FIVE_MINUTES);
    });

    it('should look for the finer timeframes over the range rounded up to the target on both ends', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([]);

      await service.query(queryRequest());

      expect(bars.findTimeframesWithData).toHaveBeenCalledWith(
        'AAPL',
        [TimeFrame.ONE_MINUTE, TimeFrame.FIVE_MINUTES, TimeFrame.FIFTEEN_MINUTES],
        { fromMs: Date.UTC(2025, 5, 21, 11), toMs: Date.UTC(2025, 5, 21, 13) },
      );
    });

    it('should leave a range already on target boundaries as it is', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([]);

      await service.query(
        queryRequest({
          timeframe: TimeFrame.ONE_DAY,
          start_time: '2025-06-21T00:00:00Z',
          end_time: '2025-06-23T00:00:00Z',
        }),
      );

      expect(bars.findTimeframesWithData).toHaveBeenCalledWith(
        'AAPL',
        [
          TimeFrame.ONE_MINUTE,
          TimeFrame.FIVE_MINUTES,
          TimeFrame.FIFTEEN_MINUTES,
          TimeFrame.ONE_HOUR,
        ],
        { fromMs: Date.UTC(2025, 5, 21), toMs: Date.UTC(2025, 5, 23) },
      );
    });

    it('should round a daily range given with an offset to UTC day boundaries', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([TimeFrame.ONE_HOUR]);
      bars.findDerivedRange.mockResolvedValue({ totalCount: 1, pointsJson: '[]' });

      const body = parseJson(
        await service.query(
          queryRequest({
            timeframe: TimeFrame.ONE_DAY,
            start_time: '2025-06-21T00:00:00+02:00',
            end_time: '2025-06-22T00:00:00+02:00',
          }),
        ),
      );

      expect(body.derived_from).toBe('ONE_HOUR');
      expect(bars.findDerivedRange.mock.calls[0]?.[3]).toEqual({
        fromMs: Date.UTC(2025, 5, 21),
        toMs: Date.UTC(2025, 5, 22),
      });
    });

    it('should answer an empty page without derived_from when no finer timeframe has data', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([]);

      const body = parseJson(await service.query(queryRequest()));

      expect(body).toMatchObject({ data_points: [], total_count: 0 });
      expect(body).not.toHaveProperty('derived_from');
      expect(bars.findDerivedRange).not.toHaveBeenCalled();
    });

    it('should have nothing to derive ONE_MINUTE from', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 0, pointsJson: '[]' });
      bars.findTimeframesWithData.mockResolvedValue([]);

      const body = parseJson(
        await service.query(queryRequest({ timeframe: TimeFrame.ONE_MINUTE })),
      );

      expect(body).not.toHaveProperty('derived_from');
      expect(bars.findTimeframesWithData.mock.calls[0]?.[1]).toEqual([]);
    });

    it('should keep volumes above 2^53 exact in the answer', async () => {
      bars.findRange.mockResolvedValue({
        totalCount: 1,
        pointsJson: '[{"timestamp":"2025-06-21T11:00:00.000Z","volume":9223372036854775807}]',
      });

      const text = (await service.query(queryRequest())).toString('utf8');

      expect(text).toContain('"volume":9223372036854775807');
    });

    it.each([
      ['before', '2025-06-21T10:00:00Z'],
      ['equal to', '2025-06-21T10:30:00Z'],
      ['the same instant with an offset as', '2025-06-21T12:30:00+02:00'],
    ])('should refuse an end_time %s start_time', async (_name, endTime) => {
      const error = await rejectionOf(service.query(queryRequest({ end_time: endTime })));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({
        field: 'end_time',
        message: 'end_time must be after start_time',
      });
      expect(bars.findRange).not.toHaveBeenCalled();
    });

    it('should refuse unknown fields before reading anything', async () => {
      const error = await rejectionOf(service.query(queryRequest({ fields: 'open,bid' })));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ field: 'fields' });
      expect(bars.findRange).not.toHaveBeenCalled();
    });

    it('should let a repository error through', async () => {
      const failure = new Error('boom');
      bars.findRange.mockRejectedValue(failure);

      expect(await rejectionOf(service.query(queryRequest()))).toBe(failure);
    });

    it('should count the answered query with its time and cache result for the statistics', async () => {
      bars.findRange.mockResolvedValue({ totalCount: 1, pointsJson: HOUR_POINTS });

      const body = parseJson(await service.query(queryRequest()));

      expect(recorded).toEqual([[body.query_time_ms, false]]);
    });

    it('should not count a refused query', async () => {
      await rejectionOf(service.query(queryRequest({ fields: 'bid' })));

      expect(recorded).toEqual([]);
    });
  });

  describe('query with fill', () => {
    const HOUR_MS = 3_600_000;
    /** 10:30-12:30 holds the 11:00 and 12:00 hours. */
    const GRID = { firstMs: Date.UTC(2025, 5, 21, 11), stepMs: HOUR_MS, count: 2 };

    it('should read the stored timeframe over every bucket of the range when it has bars there', async () => {
      bars.findTimeframesWithData.mockResolvedValue([TimeFrame.ONE_HOUR, TimeFrame.ONE_MINUTE]);
      bars.findRange.mockResolvedValue({ totalCount: 2, pointsJson: HOUR_POINTS });

      const body = parseJson(await service.query(queryRequest({ fill: 'prev' })));

      expect(body).toMatchObject({ total_count: 2, data_points: JSON.parse(HOUR_POINTS) });
      expect(body.derived_from).toBeUndefined();
      expect(bars.findRange).toHaveBeenCalledWith(
        { instrumentId: 'AAPL', timeframe: TimeFrame.ONE_HOUR },
        { fromMs: Date.UTC(2025, 5, 21, 10, 30), toMs: Date.UTC(2025, 5, 21, 12, 30) },
        [...POINT_FIELDS],
        { limit: 1000, offset: 0 },
        { mode: 'prev', grid: GRID },
      );
    });

    it('should derive from the finest finer timeframe with bars in the range, the fill passed on', async () => {
      bars.findTimeframesWithData.mockResolvedValue([TimeFrame.FIVE_MINUTES, TimeFrame.ONE_MINUTE]);
      bars.findDerivedRange.mockResolvedValue({ totalCount: 2, pointsJson: '[]' });

      const body = parseJson(await service.query(queryRequest({ fill: 'null' })));

      expect(body.derived_from).toBe('ONE_MINUTE');
      expect(bars.findRange).not.toHaveBeenCalled();
      expect(bars.findDerivedRange.mock.calls[0]?.[6]).toEqual({ mode: 'null', grid: GRID });
    });

    it('should answer an empty range under fill=prev from the timeframe holding the last bar before it', async () => {
      bars.findTimeframesWithData
        .mockResolvedValueOnce([])
        .mockResolvedValueOnce([TimeFrame.FIFTEEN_MINUTES]);
      bars.findDerivedRange.mockResolvedValue({ totalCount: 2, pointsJson: '[]' });

      const body = parseJson(await service.query(queryRequest({ fill: 'prev' })));

      expect(body.derived_from).toBe('FIFTEEN_MINUTES');
      expect(bars.findTimeframesWithData).toHaveBeenLastCalledWith(
        'AAPL',
        [
          TimeFrame.ONE_HOUR,
          TimeFrame.ONE_MINUTE,
          TimeFrame.FIVE_MINUTES,
          TimeFrame.FIFTEEN_MINUTES,
        ],
        { fromMs: -62_135_596_800_000, toMs: GRID.firstMs },
      );
    });

    it('should answer an empty range under fill=null from the stored timeframe without looking back', async () => {
      bars.findTimeframesWithData.mockResolvedValue([]);
      bars.findRange.mockResolvedValue({ totalCount: 2, pointsJson: '[]' });

      await service.query(queryRequest({ fill: 'null' }));

      expect(bars.findTimeframesWithData).toHaveBeenCalledTimes(1);
      expect(bars.findRange.mock.calls[0]?.[4]).toEqual({ mode: 'null', grid: GRID });
    });

    it('should refuse a range of more buckets than a page may hold, naming fill', async () => {
      const error = await rejectionOf(
        service.query(
          queryRequest({
            timeframe: TimeFrame.ONE_MINUTE,
            start_time: '2025-01-01T00:00:00Z',
            end_time: '2025-03-12T00:00:00Z',
            fill: 'prev',
          }),
        ),
      );

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ field: 'fill' });
      expect(bars.findTimeframesWithData).not.toHaveBeenCalled();
    });

    it('should refuse a fill of trades, naming fill', async () => {
      const error = await rejectionOf(
        service.query(queryRequest({ data_type: DataType.TRADE, fill: 'null' })),
      );

      expect(error).toMatchObject({ field: 'fill' });
    });
  });

  describe('latest', () => {
    it('should answer the newest point as the repository serialized it', async () => {
      const point =
        '{"timestamp":"2025-06-21T10:00:00.000Z","close":187.5,"volume":9007199254740993}';
      bars.findLatest.mockResolvedValue(point);

      const answer = await service.latest('AAPL', latestRequest({ fields: 'close,volume' }));

      expect(answer).toBe(point);
      expect(bars.findLatest).toHaveBeenCalledWith(
        { instrumentId: 'AAPL', timeframe: TimeFrame.ONE_MINUTE },
        ['timestamp', 'close', 'volume'],
      );
    });

    it('should ask for every field by default', async () => {
      bars.findLatest.mockResolvedValue('{}');

      await service.latest('AAPL', latestRequest());

      expect(bars.findLatest.mock.calls[0]?.[1]).toEqual([...POINT_FIELDS]);
    });

    it('should answer NotFoundError when neither the timeframe nor a finer one has a point', async () => {
      bars.findLatest.mockResolvedValue(null);
      bars.findNewestInstants.mockResolvedValue(new Map());

      const error = await rejectionOf(
        service.latest('MSFT', latestRequest({ timeframe: TimeFrame.ONE_DAY })),
      );

      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toBe(
        'No ONE_DAY data stored for MSFT, nor any finer timeframe to derive it from',
      );
      expect(bars.findNewestInstants).toHaveBeenCalledWith('MSFT', [
        TimeFrame.ONE_MINUTE,
        TimeFrame.FIVE_MINUTES,
        TimeFrame.FIFTEEN_MINUTES,
        TimeFrame.ONE_HOUR,
      ]);
    });

    it('should not look for finer timeframes than ONE_MINUTE', async () => {
      bars.findLatest.mockResolvedValue(null);
      bars.findNewestInstants.mockResolvedValue(new Map());

      const error = await rejectionOf(service.latest('MSFT', latestRequest()));

      expect((error as Error).message).toBe('No ONE_MINUTE data stored for MSFT');
    });

    it('should derive the newest bucket from the finest finer timeframe, as /query derives', async () => {
      bars.findLatest.mockResolvedValue(null);
      bars.findNewestInstants.mockResolvedValue(
        new Map([
          [TimeFrame.FIFTEEN_MINUTES, Date.parse('2025-06-21T12:45:00Z')],
          [TimeFrame.FIVE_MINUTES, Date.parse('2025-06-21T11:35:00Z')],
        ]),
      );
      bars.findDerivedRange.mockResolvedValue({ totalCount: 1, pointsJson: HOUR_POINTS });

      const answer = await service.latest(
        'AAPL',
        latestRequest({ timeframe: TimeFrame.ONE_HOUR, fields: 'close' }),
      );

      expect(JSON.parse(answer)).toEqual({
        ...JSON.parse(HOUR_POINTS)[0],
        derived_from: 'FIVE_MINUTES',
      });
      expect(bars.findDerivedRange).toHaveBeenCalledWith(
        'AAPL',
        TimeFrame.FIVE_MINUTES,
        TimeFrame.ONE_HOUR,
        { fromMs: Date.parse('2025-06-21T11:00:00Z'), toMs: Date.parse('2025-06-21T12:00:00Z') },
        ['timestamp', 'close'],
        { limit: 1, offset: 0 },
      );
    });

    it('should answer the stored bar when the timeframe is stored, without deriving', async () => {
      bars.findLatest.mockResolvedValue('{"timestamp":"2025-06-21T11:00:00.000Z"}');

      const answer = await service.latest('AAPL', latestRequest({ timeframe: TimeFrame.ONE_HOUR }));

      expect(answer).toBe('{"timestamp":"2025-06-21T11:00:00.000Z"}');
      expect(bars.findNewestInstants).not.toHaveBeenCalled();
    });

    it('should count an answered latest for the statistics', async () => {
      bars.findLatest.mockResolvedValue('{}');

      await service.latest('AAPL', latestRequest());

      expect(recorded).toEqual([[expect.any(Number), false]]);
      expect(recorded[0]?.[0]).toBeGreaterThanOrEqual(0);
    });

    it('should refuse unknown fields', async () => {
      const error = await rejectionOf(service.latest('AAPL', latestRequest({ fields: 'bid' })));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ field: 'fields' });
      expect(bars.findLatest).not.toHaveBeenCalled();
    });
  });

  describe('query with bar', () => {
    it('should refuse a range cut into more than 1,000,000 bars with a 400 naming bar', async () => {
      const trades = noTradesMock();
      trades.findInformationBars = jest
        .fn()
        .mockResolvedValue({ totalCount: 1_000_001, pointsJson: '[]' });
      const withTrades = new QueryService(
        bars,
        rollups,
        trades,
        {} as QuotesReader,
        bypassCacheMock(),
        metricsMock(),
        statisticsFake().service,
        loadSettings({}),
        noDeclaredSessions(),
      );

      const error = await rejectionOf(
        withTrades.query(queryRequest({ data_type: DataType.TRADE, bar: 'tick:1' })),
      );

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ field: 'bar' });
      expect(String((error as Error).message)).toMatch(/1000001 bars/);
    });
  });
});
