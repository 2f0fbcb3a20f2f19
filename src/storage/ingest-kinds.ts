import {
  ConfiguredSeries,
  DataType,
  SeriesKey,
  StoredTickType,
  TimeFrame,
} from '../common/market-data.types';
import { BarRow, MarketDataRepository, TimeRange } from '../repositories/market-data.repository';
import { QuotesRepository } from '../repositories/quotes.repository';
import { TradesRepository } from '../repositories/trades.repository';
import type { TradingSession } from '../common/trading-session';
import { checkBars } from './bar-rules';
import { RetentionFloor } from './point-check';
import { checkQuotes } from './quote-rules';
import { StoredRecord } from './stored-publisher';
import { CheckedPoints } from './tick-point-rules';
import { checkTrades } from './trade-rules';

/** Rows of one series as the rules let them through. */
export interface SeriesRows<R> {
  readonly series: ConfiguredSeries;
  readonly rows: readonly R[];
}

/**
 * What differs between bars, trades and quotes on the way in: their rules,
 * their table (the columns and conflict keys are the repositories'
 * write-tables.ts), and how a commit of them is reported.
 */
export interface IngestKind<R> {
  /** `maxErrors`: how many errors to list (event batches list them all). */
  /** `floor`: points before it are refused (retention would delete them). */
  /** `session`: the instrument's declared session (ONE_DAY bars may open with it). */
  check(
    series: ConfiguredSeries,
    points: readonly unknown[],
    maxErrors?: number,
    floor?: RetentionFloor,
    session?: TradingSession,
  ): CheckedPoints<R>;
  /** The oldest instant of the rows, in ms (for when they become due for deletion). */
  oldestMs(rows: readonly R[]): number;
  /** Writes the series' rows in one commit. */
  write(batches: readonly SeriesRows<R>[]): Promise<void>;
  measureCompressionRatio(series: ConfiguredSeries): Promise<number>;
  /** What market_data_stored says of the series' rows. */
  stored(rows: SeriesRows<R>, storageTimeMs: number, compressionRatio?: number): StoredRecord;
  /** Deletes the instrument's rows in `range` (of one timeframe, or all: bars only). */
  deleteRange(
    instrumentId: string,
    timeframe: TimeFrame | undefined,
    range: TimeRange,
  ): Promise<number>;
}

/** A bar series always has a timeframe; the tick kinds never reach the bar rules. */
function barSeries({ instrumentId, timeframe }: ConfiguredSeries): SeriesKey {
  if (timeframe === DataType.TRADE || timeframe === DataType.QUOTE) {
    throw new Error(`${timeframe} is not a bar timeframe`);
  }
  return { instrumentId, timeframe };
}

function tickKind<R extends { readonly timestampUs: number }>(
  dataType: StoredTickType,
  check: (
    points: readonly unknown[],
    maxErrors?: number,
    floor?: RetentionFloor,
  ) => CheckedPoints<R>,
  repository: TradesRepository | QuotesRepository,
  write: (batches: readonly SeriesRows<R>[]) => Promise<void>,
): IngestKind<R> {
  return {
    check: (_series, points, maxErrors, floor) => check(points, maxErrors, floor),
    oldestMs: (rows) => {
      let oldestUs = Infinity;
      for (const { timestampUs } of rows) if (timestampUs < oldestUs) oldestUs = timestampUs;
      return Math.floor(oldestUs / 1000);
    },
    write,
    measureCompressionRatio: (series) =>
      repository.maintenance.measureCompressionRatio(series.instrumentId),
    stored: ({ series, rows }, storageTimeMs, compressionRatio) => {
      let oldestUs = Infinity;
      let newestUs = -Infinity;
      for (const { timestampUs } of rows) {
        if (timestampUs < oldestUs) oldestUs = timestampUs;
        if (timestampUs > newestUs) newestUs = timestampUs;
      }
      return {
        instrumentId: series.instrumentId,
        dataType,
        storedCount: rows.length,
        oldestUs,
        newestUs,
        storageTimeMs,
        compressionRatio,
      };
    },
    deleteRange: (instrumentId, _timeframe, range) => repository.deleteRange(instrumentId, range),
  };
}

/** The kinds, by what a series' timeframe says: TRADE, QUOTE, or a bar timeframe. */
export interface IngestKinds {
  readonly bars: IngestKind<unknown>;
  readonly [DataType.TRADE]: IngestKind<unknown>;
  readonly [DataType.QUOTE]: IngestKind<unknown>;
}

export function ingestKinds(
  marketData: MarketDataRepository,
  trades: TradesRepository,
  quotes: QuotesRepository,
): IngestKinds {
  const bars: IngestKind<BarRow> = {
    check: (series, points, maxErrors, floor, session) =>
      checkBars(points, barSeries(series).timeframe, maxErrors, floor, session),
    oldestMs: (rows) => {
      let oldestMs = Infinity;
      for (const { timestampMs } of rows) if (timestampMs < oldestMs) oldestMs = timestampMs;
      return oldestMs;
    },
    write: (batches) =>
      marketData.upsertSeriesBars(
        batches.map(({ series, rows }) => ({ series: barSeries(series), bars: rows })),
      ),
    measureCompressionRatio: (series) => marketData.measureCompressionRatio(barSeries(series)),
    stored: ({ series, rows }, storageTimeMs, compressionRatio) => {
      let newestMs = -Infinity;
      for (const { timestampMs } of rows) if (timestampMs > newestMs) newestMs = timestampMs;
      return {
        series: barSeries(series),
        storedCount: rows.length,
        newestMs,
        storageTimeMs,
        compressionRatio,
      };
    },
    deleteRange: (instrumentId, timeframe, range) =>
      marketData.deleteRange(instrumentId, timeframe, range),
  };
  return {
    bars,
    [DataType.TRADE]: tickKind(DataType.TRADE, checkTrades, trades, (batches) =>
      trades.upsertTrades(
        batches.map((b) => ({ instrumentId: b.series.instrumentId, trades: b.rows })),
      ),
    ),
    [DataType.QUOTE]: tickKind(DataType.QUOTE, checkQuotes, quotes, (batches) =>
      quotes.upsertQuotes(
        batches.map((b) => ({ instrumentId: b.series.instrumentId, quotes: b.rows })),
      ),
    ),
  };
}

/** The kind of a series. */
export function kindOf(kinds: IngestKinds, series: ConfiguredSeries): IngestKind<unknown> {
  return series.timeframe === DataType.TRADE || series.timeframe === DataType.QUOTE
    ? kinds[series.timeframe]
    : kinds.bars;
}
