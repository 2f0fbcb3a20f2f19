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
import { DatabaseUnavailableError } from '../common/errors';
import { DataType, TimeFrame } from '../common/market-data.types';
import { ConfigurationService } from '../configuration/configuration.service';
import { MarketDataRepository } from '../repositories/market-data.repository';
import { TradesRepository } from '../repositories/trades.repository';
import { IngestService } from '../storage/ingest.service';
import type { StoredPublisher } from '../storage/stored-publisher';
import { EventIngest } from './event-ingest';

const SERIES = { instrumentId: 'AAPL', timeframe: TimeFrame.ONE_MINUTE };

describe('EventIngest', () => {
  let marketData: jest.Mocked<MarketDataRepository>;
  let trades: jest.Mocked<TradesRepository>;
  let cache: jest.Mocked<QueryCache>;
  let metrics: jest.Mocked<MetricsService>;
  let publisher: jest.Mocked<StoredPublisher>;
  let events: EventIngest;

  beforeEach(() => {
    marketData = marketDataMock();
    cache = bypassCacheMock();
    metrics = metricsMock();
    publisher = storedPublisherMock();
    const ticks = unusedTicksMocks();
    trades = ticks.trades;
    events = new EventIngest(
      new IngestService(
        marketData,
        trades,
        ticks.quotes,
        {
          retentionOf: () => Promise.resolve({ days: 730, configured: false }),
        } as unknown as ConfigurationService,
        cache,
        metrics,
        publisher,
        {
          findDeclaredSession: () => Promise.resolve(undefined),
        } as unknown as InstrumentSessionsRepository,
        loadSettings({}),
      ),
    );
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

      const result = await events.storeEvents(
        [
          event('AAPL', '2025-06-21T10:00:00Z', { close: 10.1 }),
          event('MSFT', '2025-06-21T10:00:00Z'),
          event('AAPL', '2025-06-21T10:01:00Z'),
          event('AAPL', '2025-06-21T10:00:00Z', { close: 10.9 }),
        ],
        'nats',
      );

      expect(marketData.upsertSeriesBars).toHaveBeenCalledTimes(1);
      const batches = marketData.upsertSeriesBars.mock.calls[0]?.[0] ?? [];
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
      expect(batches[0]?.bars[0]).toMatchObject({
        qualityScore: 0.8,
        source: 'feed-A',
        volume: '100',
      });
      expect(result).toMatchObject({ storedCount: 3, supersededCount: 1, rejected: [] });
    });

    it('should answer every invalid event by its index and reason, and store the others', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);

      const result = await events.storeEvents(
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
      const batches = marketData.upsertSeriesBars.mock.calls[0]?.[0] ?? [];
      expect(batches.map((b) => b.series.instrumentId)).toEqual(['AAPL']);
    });

    it('should invalidate each written instrument once, record the batch and announce each series', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);

      const result = await events.storeEvents(
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
      expect(publisher.publish.mock.calls.flat(2)).toEqual([
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

    it('should fail as a whole when the write fails: nothing invalidated, nothing published', async () => {
      const failure = new DatabaseUnavailableError(new Error('ECONNREFUSED'));
      marketData.upsertSeriesBars.mockRejectedValue(failure);

      const error = await rejectionOf(
        events.storeEvents([event('AAPL', '2025-06-21T10:00:00Z')], 'nats'),
      );

      expect(error).toBe(failure);
      expect(cache.invalidateInstrument).not.toHaveBeenCalled();
      expect(publisher.publish).not.toHaveBeenCalled();
    });

    it('should store trade events beside bars and publish market_data_stored for both', async () => {
      marketData.upsertSeriesBars.mockResolvedValue(undefined);
      trades.upsertTrades.mockResolvedValue(undefined);

      const result = await events.storeEvents(
        [
          {
            event_id: 't-1',
            timestamp: '2025-06-21T12:00:00Z',
            market_data: {
              instrument_id: 'AAPL',
              data_type: 'TRADE',
              timestamp: '2025-06-21T10:00:00.000001Z',
              trade_data: { price: 10, size: 'x' },
            },
          },
          {
            event_id: 't-2',
            timestamp: '2025-06-21T12:00:00Z',
            market_data: {
              instrument_id: 'AAPL',
              data_type: 'TRADE',
              timestamp: '2025-06-21T10:00:00.000002Z',
              trade_data: { price: 10, size: 5, trade_id: 'a' },
            },
          },
          event('AAPL', '2025-06-21T10:00:00Z'),
        ],
        'nats',
      );

      expect(result.rejected).toEqual([
        { index: 0, reason: expect.stringMatching(/^market_data\.trade_data\.size /) },
      ]);
      expect(result.storedCount).toBe(2);
      expect(trades.upsertTrades).toHaveBeenCalledTimes(1);
      expect(publisher.publish.mock.calls.flat(2)).toEqual([
        expect.objectContaining({ series: SERIES, storedCount: 1 }),
        expect.objectContaining({
          instrumentId: 'AAPL',
          dataType: DataType.TRADE,
          storedCount: 1,
          oldestUs: Date.UTC(2025, 5, 21, 10) * 1000 + 2,
          newestUs: Date.UTC(2025, 5, 21, 10) * 1000 + 2,
        }),
      ]);
      expect(metrics.eventBatchStored).toHaveBeenCalledWith(
        'nats',
        3,
        new Map([
          ['TRADE', 1],
          ['ONE_MINUTE', 1],
        ]),
        new Map([['TRADE', 1]]),
        expect.any(Number),
      );
    });
  });
});
