import { InstrumentSessionsRepository } from '../repositories/instrument-sessions.repository';
import { loadSettings } from '../settings/settings';
import {
  bypassCacheMock,
  marketDataMock,
  metricsMock,
  storedPublisherMock,
  rejectionOf,
  unusedTicksMocks,
} from '../../test/support/service-mocks';
import type { QueryCache } from '../cache/query-cache.service';
import type { MetricsService } from '../metrics/metrics.service';
import { DatabaseUnavailableError, InvalidRequestError } from '../common/errors';
import { CompressionLevel, DataType, TimeFrame } from '../common/market-data.types';
import { ConfigurationService } from '../configuration/configuration.service';
import { MarketDataRepository } from '../repositories/market-data.repository';
import { DeleteRequestDto } from './dto/delete-request.dto';
import { StoreRequest } from './dto/store-request.dto';
import { IngestService } from './ingest.service';
import type { StoredPublisher } from './stored-publisher';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Every method rejects until the test says what it answers: no silent undefined. */

function configurationsMock(): jest.Mocked<ConfigurationService> {
  return {
    recordCompressionLevel: jest.fn(() =>
      Promise.reject(new Error('unexpected call to recordCompressionLevel')),
    ),
    // The default retention, no configuration: the points of these tests are younger.
    retentionOf: jest.fn(() => Promise.resolve({ days: 730, configured: false })),
  } as unknown as jest.Mocked<ConfigurationService>;
}

function point(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp: '2025-06-21T10:00:00Z',
    open: 187.25,
    high: 187.9,
    low: 186.8,
    close: 187.5,
    volume: 125000,
    ...overrides,
  };
}

function storeRequest(overrides: Partial<StoreRequest> = {}): StoreRequest {
  return {
    instrument_id: 'AAPL',
    timeframe: TimeFrame.ONE_MINUTE,
    data_points: [point()],
    ...overrides,
  };
}

function deleteRequest(overrides: Partial<DeleteRequestDto> = {}): DeleteRequestDto {
  return Object.assign(new DeleteRequestDto(), {
    start_time: '2025-06-21T00:00:00Z',
    end_time: '2025-06-22T00:00:00Z',
    ...overrides,
  });
}

const SERIES = { instrumentId: 'AAPL', timeframe: TimeFrame.ONE_MINUTE };

describe('IngestService (bars)', () => {
  let marketData: jest.Mocked<MarketDataRepository>;
  let configurations: jest.Mocked<ConfigurationService>;
  let service: IngestService;
  let cache: jest.Mocked<QueryCache>;
  let metrics: jest.Mocked<MetricsService>;
  let publisher: jest.Mocked<StoredPublisher>;
  let ticks: ReturnType<typeof unusedTicksMocks>;

  beforeEach(() => {
    marketData = marketDataMock();
    configurations = configurationsMock();
    cache = bypassCacheMock();
    metrics = metricsMock();
    publisher = storedPublisherMock();
    ticks = unusedTicksMocks();
    service = new IngestService(
      marketData,
      ticks.trades,
      ticks.quotes,
      configurations,
      cache,
      metrics,
      publisher,
      {
        findDeclaredSession: () => Promise.resolve(undefined),
      } as unknown as InstrumentSessionsRepository,
      loadSettings({}),
    );
  });

  /** A REST request as the controller hands it over: its series and points, its compression. */
  function store(request: StoreRequest) {
    return service.store(
      {
        series: { instrumentId: request.instrument_id, timeframe: request.timeframe },
        points: request.data_points,
      },
      request.compression,
    );
  }

  describe('store', () => {
    it('should count stored, failed and superseded points and explain the failures', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0.42);

      const response = await store(
        storeRequest({
          data_points: [
            point({ close: 187.1 }),
            point({ timestamp: '2025-06-21T10:01:00Z' }),
            point({ low: 999 }),
            point({ close: 187.3 }),
          ],
        }),
      );

      expect(response).toEqual({
        request_id: expect.stringMatching(UUID),
        stored_count: 2,
        failed_count: 1,
        superseded_count: 1,
        storage_time_ms: expect.any(Number),
        compression_ratio: 0.42,
        // The oldest stored bar, 10:00, plus 730 days.
        retention_days: 730,
        kept_until: '2027-06-21T10:00:00.000Z',
        errors: [{ index: 2, field: 'low', message: 'low must not exceed high' }],
      });
      expect(response.storage_time_ms).toBeGreaterThanOrEqual(0);
    });

    it('should write each timestamp once, with its last valid values', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0);

      await store(
        storeRequest({
          data_points: [
            point({ close: 187.1 }),
            point({ timestamp: '2025-06-21T10:01:00Z', volume: '9223372036854775807' }),
            point({ close: 187.3 }),
          ],
        }),
      );

      expect(marketData.upsertSeriesBars).toHaveBeenCalledTimes(1);
      const written = marketData.upsertSeriesBars.mock.calls[0]?.[0][0];
      expect(written?.series).toEqual(SERIES);
      expect(written?.bars).toEqual([
        expect.objectContaining({ timestampMs: Date.UTC(2025, 5, 21, 10, 0), close: 187.3 }),
        expect.objectContaining({
          timestampMs: Date.UTC(2025, 5, 21, 10, 1),
          volume: '9223372036854775807',
        }),
      ]);
    });

    it('should record the compression level when the request names one', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0.9);
      configurations.recordCompressionLevel.mockResolvedValue(undefined);

      const response = await store(storeRequest({ compression: CompressionLevel.HIGH }));

      expect(response.stored_count).toBe(1);
      expect(configurations.recordCompressionLevel).toHaveBeenCalledWith(
        SERIES,
        CompressionLevel.HIGH,
      );
    });

    it('should record no compression level when the request names none', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0);

      const response = await store(storeRequest());

      expect(response.stored_count).toBe(1);
      expect(configurations.recordCompressionLevel).not.toHaveBeenCalled();
    });

    it('should answer a compression ratio of 0 without measuring when nothing was stored', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);

      const response = await store(
        storeRequest({ data_points: [point({ open: 'x' }), point({ volume: -1 })] }),
      );

      expect(response).toMatchObject({
        stored_count: 0,
        failed_count: 2,
        superseded_count: 0,
        compression_ratio: 0,
      });
      expect(response.errors.map((e) => e.index)).toEqual([0, 1]);
      expect(marketData.measureCompressionRatio).not.toHaveBeenCalled();
      expect(response).toMatchObject({ retention_days: 730, kept_until: null });
    });

    it('should refuse a point retention would delete, naming the retention, and store the others', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0);
      configurations.retentionOf.mockResolvedValue({ days: 30, configured: true });
      const minute = Math.floor(Date.now() / 60_000) * 60_000;
      const old = new Date(minute - 31 * 86_400_000).toISOString();
      const young = new Date(minute - 86_400_000).toISOString();

      const response = await store(
        storeRequest({ data_points: [point({ timestamp: old }), point({ timestamp: young })] }),
      );

      expect(response).toMatchObject({ stored_count: 1, failed_count: 1, retention_days: 30 });
      expect(response.errors).toEqual([
        {
          index: 0,
          field: 'timestamp',
          message: expect.stringMatching(
            /^timestamp is older than this series' retention of 30 days \(points before .+ are deleted\): configure a longer retention_days, or null to keep forever, for ONE_MINUTE bars of AAPL \(PUT \/api\/v1\/storage\/configurations\/AAPL\/ONE_MINUTE\)$/,
          ),
        },
      ]);
    });

    it('should accept any age and answer kept_until null when the series keeps forever', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0);
      configurations.retentionOf.mockResolvedValue({ days: null, configured: true });

      const response = await store(
        storeRequest({ data_points: [point({ timestamp: '1990-01-02T00:00:00Z' })] }),
      );

      expect(response).toMatchObject({ stored_count: 1, retention_days: null, kept_until: null });
    });

    it('should check the points against the request timeframe', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);

      const response = await store(
        storeRequest({ timeframe: TimeFrame.ONE_DAY, data_points: [point()] }),
      );

      expect(response.stored_count).toBe(0);
      expect(response.errors).toEqual([
        {
          index: 0,
          field: 'timestamp',
          message: 'timestamp must start a ONE_DAY bar (aligned to its length in UTC)',
        },
      ]);
    });

    it('should fail as a whole and record no policy when the write fails', async () => {
      const failure = new DatabaseUnavailableError(new Error('ECONNREFUSED'));
      marketData.upsertSeriesBars.mockRejectedValue(failure);

      const error = await rejectionOf(store(storeRequest({ compression: CompressionLevel.LOW })));

      expect(error).toBe(failure);
      expect(configurations.recordCompressionLevel).not.toHaveBeenCalled();
    });

    it('should give every response its own request_id', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0);

      const first = await store(storeRequest());
      const second = await store(storeRequest());

      expect(first.request_id).not.toBe(second.request_id);
    });
  });

  describe('store announcements', () => {
    it('should tell the publisher of a commit with what it wrote', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0.5);

      const response = await store(
        storeRequest({
          data_points: [point(), point({ timestamp: '2025-06-21T10:05:00Z' }), point({ low: 999 })],
        }),
      );

      expect(publisher.publish.mock.calls).toEqual([
        [
          [
            {
              series: SERIES,
              storedCount: 2,
              newestMs: Date.UTC(2025, 5, 21, 10, 5),
              storageTimeMs: response.storage_time_ms,
              compressionRatio: 0.5,
            },
          ],
        ],
      ]);
    });

    it('should tell nobody when nothing was written', async () => {
      const response = await store(storeRequest({ data_points: [point({ open: 'x' })] }));

      expect(response.stored_count).toBe(0);
      expect(publisher.publish).not.toHaveBeenCalled();
    });
  });

  describe('store (trades)', () => {
    it('should write the trades, record the compression under TRADE and publish what was written', async () => {
      ticks.trades.upsertTrades.mockResolvedValue(undefined);
      const measure = jest.fn().mockResolvedValue(0.25);
      Object.assign(ticks.trades, { maintenance: { measureCompressionRatio: measure } });
      configurations.recordCompressionLevel.mockResolvedValue(undefined);
      const series = { instrumentId: 'AAPL', timeframe: DataType.TRADE } as const;

      const response = await service.store(
        {
          series,
          points: [
            { timestamp: '2025-06-21T10:00:00.000002Z', price: 10, size: 1, trade_id: 'b' },
            { timestamp: '2025-06-21T10:00:00.000001Z', price: 10, size: 2, trade_id: 'a' },
            { timestamp: '2025-06-21T10:00:00Z', price: 10, size: 'x' },
          ],
        },
        CompressionLevel.HIGH,
      );

      expect(response).toMatchObject({ stored_count: 2, failed_count: 1, compression_ratio: 0.25 });
      expect(ticks.trades.upsertTrades.mock.calls[0]?.[0]).toEqual([
        { instrumentId: 'AAPL', trades: [expect.any(Object), expect.any(Object)] },
      ]);
      expect(configurations.recordCompressionLevel).toHaveBeenCalledWith(
        series,
        CompressionLevel.HIGH,
      );
      expect(metrics.storeCompleted).toHaveBeenCalledWith(
        'rest',
        'TRADE',
        2,
        1,
        expect.any(Number),
      );
      const base = Date.UTC(2025, 5, 21, 10) * 1000;
      expect(publisher.publish.mock.calls).toEqual([
        [
          [
            {
              instrumentId: 'AAPL',
              dataType: DataType.TRADE,
              storedCount: 2,
              oldestUs: base + 1,
              newestUs: base + 2,
              storageTimeMs: response.storage_time_ms,
              compressionRatio: 0.25,
            },
          ],
        ],
      ]);
    });
  });

  describe('deleteRange', () => {
    it('should answer the deleted count and the range in UTC with milliseconds', async () => {
      marketData.deleteRange.mockResolvedValue(1440);

      const response = await service.deleteRange(
        'AAPL',
        deleteRequest({
          start_time: '2025-06-21T02:00:00+02:00',
          end_time: '2025-06-21T19:30:00.5-04:30',
        }),
      );

      expect(response).toEqual({
        request_id: expect.stringMatching(UUID),
        instrument_id: 'AAPL',
        deleted_count: 1440,
        start_time: '2025-06-21T00:00:00.000Z',
        end_time: '2025-06-22T00:00:00.500Z',
      });
    });

    it('should delete the given instrument, timeframe and range', async () => {
      marketData.deleteRange.mockResolvedValue(3);

      const response = await service.deleteRange(
        'BTC/USD',
        deleteRequest({ timeframe: TimeFrame.FIVE_MINUTES }),
      );

      expect(response.deleted_count).toBe(3);
      expect(marketData.deleteRange).toHaveBeenCalledWith('BTC/USD', TimeFrame.FIVE_MINUTES, {
        fromMs: Date.UTC(2025, 5, 21),
        toMs: Date.UTC(2025, 5, 22),
      });
    });

    it('should delete every timeframe when none is given', async () => {
      marketData.deleteRange.mockResolvedValue(0);

      const response = await service.deleteRange('AAPL', deleteRequest());

      expect(response.deleted_count).toBe(0);
      expect(marketData.deleteRange.mock.calls[0]?.[1]).toBeUndefined();
    });

    it('should refuse an end_time not after start_time and delete nothing', async () => {
      const error = await rejectionOf(
        service.deleteRange('AAPL', deleteRequest({ end_time: '2025-06-21T00:00:00Z' })),
      );

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ field: 'end_time' });
      expect(marketData.deleteRange).not.toHaveBeenCalled();
    });
  });
});
