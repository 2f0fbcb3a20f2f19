import { QueryCache } from '../../src/cache/query-cache.service';
import { MarketDataRepository } from '../../src/repositories/market-data.repository';
import { BarsReader } from '../../src/repositories/bars.reader';
import { TradesReader } from '../../src/repositories/trades.reader';
import { MetricsService } from '../../src/metrics/metrics.service';
import { TickStorageService } from '../../src/storage/tick-storage.service';

const unexpected = (name: string) =>
  jest.fn(() => Promise.reject(new Error(`unexpected call to ${name}`)));

/** Strict reader mock for unit tests: every method rejects until the test says what it answers. */
export function barsReaderMock(): jest.Mocked<BarsReader> {
  return {
    findRange: unexpected('findRange'),
    findDerivedRange: unexpected('findDerivedRange'),
    findTimeframesWithData: unexpected('findTimeframesWithData'),
    findLatest: unexpected('findLatest'),
  } as unknown as jest.Mocked<BarsReader>;
}

/** Strict repository mock for unit tests: every method rejects until the test says what it answers. */
export function marketDataMock(): jest.Mocked<MarketDataRepository> {
  return {
    upsertBars: unexpected('upsertBars'),
    upsertSeriesBars: unexpected('upsertSeriesBars'),
    deleteRange: unexpected('deleteRange'),
    measureCompressionRatio: unexpected('measureCompressionRatio'),
    preparePartitionsAhead: unexpected('preparePartitionsAhead'),
  } as unknown as jest.Mocked<MarketDataRepository>;
}

/** A cache that is never usable: every read goes to the repository. */
export function bypassCacheMock(): jest.Mocked<QueryCache> {
  return {
    generation: jest.fn().mockResolvedValue(undefined),
    get: jest.fn().mockResolvedValue(undefined),
    getFirst: jest.fn().mockResolvedValue(undefined),
    set: jest.fn().mockResolvedValue(undefined),
    invalidateInstrument: jest.fn().mockResolvedValue(undefined),
  } as unknown as jest.Mocked<QueryCache>;
}

export function metricsMock(): jest.Mocked<MetricsService> {
  return {
    storeCompleted: jest.fn(),
    eventBatchStored: jest.fn(),
    queryCompleted: jest.fn(),
    cacheOperation: jest.fn(),
  } as unknown as jest.Mocked<MetricsService>;
}

/** Trades reader of an instrument without trades: bars are never built from trades. */
export function noTradesMock(): jest.Mocked<TradesReader> {
  return {
    hasTradesIn: jest.fn().mockResolvedValue(false),
    findBarsFromTrades: jest.fn(() => Promise.reject(new Error('unexpected findBarsFromTrades'))),
  } as unknown as jest.Mocked<TradesReader>;
}

/** The trade and quote path of a batch holding none: nothing stored, nothing rejected. */
export function noTickEventsMock(): jest.Mocked<TickStorageService> {
  return {
    storeEvents: jest.fn((events: readonly unknown[]) =>
      events.length === 0
        ? Promise.resolve({ storedCount: 0, supersededCount: 0, rejected: [], stored: [] })
        : Promise.reject(new Error('unexpected trade or quote events')),
    ),
  } as unknown as jest.Mocked<TickStorageService>;
}
