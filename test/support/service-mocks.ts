import { QueryCache } from '../../src/cache/query-cache.service';
import { MarketDataRepository } from '../../src/repositories/market-data.repository';
import { BarsReader } from '../../src/repositories/bars.reader';
import { TradesReader } from '../../src/repositories/trades.reader';
import { TradesRepository } from '../../src/repositories/trades.repository';
import { MetricsService } from '../../src/metrics/metrics.service';
import { QuotesRepository } from '../../src/repositories/quotes.repository';
import type { StoredPublisher } from '../../src/storage/stored-publisher';

const unexpected = (name: string) =>
  jest.fn(() => Promise.reject(new Error(`unexpected call to ${name}`)));

/** Strict reader mock for unit tests: every method rejects until the test says what it answers. */
export function barsReaderMock(): jest.Mocked<BarsReader> {
  return {
    findRange: unexpected('findRange'),
    findDerivedRange: unexpected('findDerivedRange'),
    findTimeframesWithData: unexpected('findTimeframesWithData'),
    findLatest: unexpected('findLatest'),
    findNewestInstants: unexpected('findNewestInstants'),
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

/** Trades and quotes repositories of a test that writes none: every write rejects. */
export function unusedTicksMocks(): {
  trades: jest.Mocked<TradesRepository>;
  quotes: jest.Mocked<QuotesRepository>;
} {
  const unexpected = (name: string) =>
    jest.fn(() => Promise.reject(new Error(`unexpected call to ${name}`)));
  return {
    trades: {
      upsertTrades: unexpected('upsertTrades'),
      deleteRange: unexpected('trades.deleteRange'),
    } as unknown as jest.Mocked<TradesRepository>,
    quotes: {
      upsertQuotes: unexpected('upsertQuotes'),
      deleteRange: unexpected('quotes.deleteRange'),
    } as unknown as jest.Mocked<QuotesRepository>,
  };
}

/** A market_data_stored publisher that records what it is told. */
export function storedPublisherMock(): jest.Mocked<StoredPublisher> {
  return { publish: jest.fn((_stored) => Promise.resolve()) };
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}
