import {
  bypassCacheMock,
  marketDataMock,
  metricsMock,
  noTickEventsMock,
} from '../../test/support/service-mocks';
import type { QueryCache } from '../cache/query-cache.service';
import type { MetricsService } from '../metrics/metrics.service';
import { DatabaseUnavailableError, InvalidRequestError } from '../common/errors';
import { CompressionLevel, TimeFrame } from '../common/market-data.types';
import { ConfigurationService } from '../configuration/configuration.service';
import { MarketDataRepository } from '../repositories/market-data.repository';
import { DeleteRequestDto } from './dto/delete-request.dto';
import { StoreRequest } from './dto/store-request.dto';
import { StorageService } from './storage.service';
import { StoredAnnouncer, StoredRecord } from './stored-announcer';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Every method rejects until the test says what it answers: no silent undefined. */

function configurationsMock(): jest.Mocked<ConfigurationService> {
  return {
    recordCompressionLevel: jest.fn(() =>
      Promise.reject(new Error('unexpected call to recordCompressionLevel')),
    ),
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

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const SERIES = { instrumentId: 'AAPL', timeframe: TimeFrame.ONE_MINUTE };

describe('StorageService', () => {
  let marketData: jest.Mocked<MarketDataRepository>;
  let configurations: jest.Mocked<ConfigurationService>;
  let service: StorageService;
  let cache: jest.Mocked<QueryCache>;
  let metrics: jest.Mocked<MetricsService>;

  beforeEach(() => {
    marketData = marketDataMock();
    configurations = configurationsMock();
    cache = bypassCacheMock();
    metrics = metricsMock();
    service = new StorageService(
      marketData,
      configurations,
      cache,
      metrics,
      noTickEventsMock(),
      new StoredAnnouncer(),
    );
  });

  describe('store', () => {
    it('should count stored, failed and superseded points and explain the failures', async () => {
      marketData.upsertBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0.42);

      const response = await service.store(
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
        errors: [{ index: 2, field: 'low', message: 'low must not exceed high' }],
      });
      expect(response.storage_time_ms).toBeGreaterThanOrEqual(0);
    });

    it('should write each timestamp once, with its last valid values', async () => {
      marketData.upsertBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0);

      await service.store(
        storeRequest({
          data_points: [
            point({ close: 187.1 }),
            point({ timestamp: '2025-06-21T10:01:00Z', volume: '9223372036854775807' }),
            point({ close: 187.3 }),
          ],
        }),
      );

      expect(marketData.upsertBars).toHaveBeenCalledTimes(1);
      const [series, rows] = marketData.upsertBars.mock.calls[0];
      expect(series).toEqual(SERIES);
      expect(rows).toEqual([
        expect.objectContaining({ timestampMs: Date.UTC(2025, 5, 21, 10, 0), close: 187.3 }),
        expect.objectContaining({
          timestampMs: Date.UTC(2025, 5, 21, 10, 1),
          volume: '9223372036854775807',
        }),
      ]);
    });

    it('should record the compression level when the request names one', async () => {
      marketData.upsertBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0.9);
      configurations.recordCompressionLevel.mockResolvedValue(undefined);

      const response = await service.store(storeRequest({ compression: CompressionLevel.HIGH }));

      expect(response.stored_count).toBe(1);
      expect(configurations.recordCompressionLevel).toHaveBeenCalledWith(
        SERIES,
        CompressionLevel.HIGH,
      );
    });

    it('should record no compression level when the request names none', async () => {
      marketData.upsertBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0);

      const response = await service.store(storeRequest());

      expect(response.stored_count).toBe(1);
      expect(configurations.recordCompressionLevel).not.toHaveBeenCalled();
    });

    it('should answer a compression ratio of 0 without measuring when nothing was stored', async () => {
      marketData.upsertBars.mockResolvedValue(undefined);

      const response = await service.store(
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
    });

    it('should check the points against the request timeframe', async () => {
      marketData.upsertBars.mockResolvedValue(undefined);

      const response = await service.store(
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
      marketData.upsertBars.mockRejectedValue(failure);

      const error = await rejectionOf(
        service.store(storeRequest({ compression: CompressionLevel.LOW })),
      );

      expect(error).toBe(failure);
      expect(configurations.recordCompressionLevel).not.toHaveBeenCalled();
    });

    it('should give every response its own request_id', async () => {
      marketData.upsertBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0);

      const first = await service.store(storeRequest());
      const second = await service.store(storeRequest());

      expect(first.request_id).not.toBe(second.request_id);
    });
  });

  describe('store announcements', () => {
    it('should tell the listeners of a commit with what it wrote', async () => {
      marketData.upsertBars.mockResolvedValue(undefined);
      marketData.measureCompressionRatio.mockResolvedValue(0.5);
      const heard: StoredRecord[][] = [];
      service.onStored((stored) => {
        heard.push([...stored]);
        return Promise.resolve();
      });

      const response = await service.store(
        storeRequest({
          data_points: [point(), point({ timestamp: '2025-06-21T10:05:00Z' }), point({ low: 999 })],
        }),
      );

      expect(heard).toEqual([
        [
          {
            series: SERIES,
            storedCount: 2,
            newestMs: Date.UTC(2025, 5, 21, 10, 5),
            storageTimeMs: response.storage_time_ms,
            compressionRatio: 0.5,
          },
        ],
      ]);
    });

    it('should tell nobody when nothing was written', async () => {
      const listener = jest.fn(() => Promise.resolve());
      service.onStored(listener);

      const response = await service.store(storeRequest({ data_points: [point({ open: 'x' })] }));

      expect(response.stored_count).toBe(0);
      expect(listener).not.toHaveBeenCalled();
    });
  });

  describe('storeEvents', () => {
    function event(
      instrumentId: string,
      timestamp: string,
      overrides: Record<string, unknown> = {},
    ) {
      return {
        event_id: `${instrumentId}-${timestamp}`,
        timestamp: '2025-06-21T12:00:00Z',
        market_data: {
          instrument_id: instrumentId,
          timeframe: 'ONE_MINUTE',
          timestamp,
          ohlcv_data: { open: 10, high: 11, low: 9, close: 10.5, volume: 100, ...overrides },
          quality_score: 0.8,
          source_attribution: 'feed-A',
        },
      };
    }

    it('should write the valid events of every series in one call, last event per timestamp winning', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);

      const result = await service.storeEvents(
        [
          event('AAPL', '2025-06-21T10:00:00Z', { close: 10.1 }),
          event('MSFT', '2025-06-21T10:00:00Z'),
          event('AAPL', '2025-06-21T10:01:00Z'),
          event('AAPL', '2025-06-21T10:00:00Z', { close: 10.9 }),
        ],
        'nats',
      );

      expect(marketData.upsertSeriesBars).toHaveBeenCalledTimes(1);
      const [batches] = marketData.upsertSeriesBars.mock.calls[0];
      expect(
        batches.map((b) => [b.series.instrumentId, b.bars.map((r) => [r.timestampMs, r.close])]),
      ).toEqual([
        [
          'AAPL',
          [
            [Date.UTC(2025, 5, 21, 10, 0), 10.9],
            [Date.UTC(2025, 5, 21, 10, 1), 10.5],
          ],
        ],
        ['MSFT', [[Date.UTC(2025, 5, 21, 10, 0), 10.5]]],
      ]);
      expect(batches[0].bars[0]).toMatchObject({
        qualityScore: 0.8,
        source: 'feed-A',
        volume: '100',
      });
      expect(result).toMatchObject({ storedCount: 3, supersededCount: 1, rejected: [] });
    });

    it('should answer every invalid event by its index and reason, and store the others', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);

      const result = await service.storeEvents(
        [
          event('AAPL', '2025-06-21T10:00:00Z'),
          'not an event',
          event('AAPL', '2025-06-21T10:01:00Z', { low: 99 }),
          event('AAPL', '2025-06-21T10:02:00Z'),
          event('MSFT', '2025-06-21T10:02:30Z'),
        ],
        'redis',
      );

      expect(result.rejected).toEqual([
        { index: 1, reason: 'event must be a JSON object' },
        { index: 2, reason: 'market_data.ohlcv_data.low must not exceed high' },
        {
          index: 4,
          reason:
            'market_data.timestamp must start a ONE_MINUTE bar (aligned to its length in UTC)',
        },
      ]);
      expect(result.storedCount).toBe(2);
      const [batches] = marketData.upsertSeriesBars.mock.calls[0];
      expect(batches.map((b) => b.series.instrumentId)).toEqual(['AAPL']);
    });

    it('should invalidate each written instrument once, record the batch and announce each series', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      const heard: StoredRecord[] = [];
      service.onStored((stored) => {
        heard.push(...stored);
        return Promise.resolve();
      });

      const result = await service.storeEvents(
        [
          event('AAPL', '2025-06-21T10:00:00Z'),
          event('AAPL', '2025-06-21T10:03:00Z'),
          event('MSFT', '2025-06-21T10:00:00Z'),
        ],
        'nats',
      );

      expect(cache.invalidateInstrument.mock.calls.map((c) => c[0]).sort()).toEqual([
        'AAPL',
        'MSFT',
      ]);
      expect(heard).toEqual([
        {
          series: SERIES,
          storedCount: 2,
          newestMs: Date.UTC(2025, 5, 21, 10, 3),
          storageTimeMs: result.storageTimeMs,
        },
        {
          series: { instrumentId: 'MSFT', timeframe: TimeFrame.ONE_MINUTE },
          storedCount: 1,
          newestMs: Date.UTC(2025, 5, 21, 10, 0),
          storageTimeMs: result.storageTimeMs,
        },
      ]);
      expect(metrics.eventBatchStored).toHaveBeenCalledWith(
        'nats',
        3,
        new Map([['ONE_MINUTE', 3]]),
        new Map(),
        expect.any(Number),
      );
    });

    it('should fail as a whole when the write fails: nothing invalidated, nothing announced', async () => {
      const failure = new DatabaseUnavailableError(new Error('ECONNREFUSED'));
      marketData.upsertSeriesBars.mockRejectedValue(failure);
      const listener = jest.fn(() => Promise.resolve());
      service.onStored(listener);

      const error = await rejectionOf(
        service.storeEvents([event('AAPL', '2025-06-21T10:00:00Z')], 'nats'),
      );

      expect(error).toBe(failure);
      expect(cache.invalidateInstrument).not.toHaveBeenCalled();
      expect(listener).not.toHaveBeenCalled();
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
      expect(marketData.deleteRange.mock.calls[0][1]).toBeUndefined();
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
