import { SeriesKey } from '../common/market-data.types';
import { WriteTable } from './bulk-writer';

/**
 * The write shape of each table BulkWriter writes: its rows, columns (in
 * COPY order) and conflict key. Nothing else differs between bars, trades
 * and quotes on the way in.
 */

/** One bar as written: validated, prices finite, volume an exact decimal string. */
export interface BarRow {
  readonly timestampMs: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: string;
  readonly dollarVolume: number | null;
  readonly tradeCount: number | null;
  readonly qualityScore: number;
  readonly source: string | null;
  /** When JetStream stored the event this bar came from (µs); null from REST or Redis. */
  readonly streamTimeUs: number | null;
}

/** Bars of one series; each timestamp once. */
export interface SeriesBars {
  readonly series: SeriesKey;
  readonly bars: readonly BarRow[];
}

/** One trade as written: validated, its key settled (trade_id or a derived key). */
export interface TradeRow {
  readonly timestampUs: number;
  /** The producer's trade_id, or DERIVED_KEY_PREFIX + a key derived from the print. */
  readonly key: string;
  readonly price: number;
  readonly size: number;
  readonly conditions: readonly string[] | null;
  readonly qualityScore: number;
  readonly source: string | null;
}

/** One quote as written: validated, bid <= ask, sizes >= 0. */
export interface QuoteRow {
  readonly timestampUs: number;
  readonly bid: number;
  readonly ask: number;
  readonly bidSize: number;
  readonly askSize: number;
  /** '' when the producer named none: part of the key. */
  readonly source: string;
}

/**
 * A volume is stored as its integer part (volume, bigint: delta-encoded when
 * compressed) and its fraction (volume_fraction, numeric, null for a whole
 * volume; see migration 20261202120000). `volume` is canonical decimal text.
 */
function volumeInteger(volume: string): string {
  const dot = volume.indexOf('.');
  return dot < 0 ? volume : volume.slice(0, dot);
}

function volumeFraction(volume: string): string | null {
  const dot = volume.indexOf('.');
  return dot < 0 ? null : `0${volume.slice(dot)}`;
}

/** created_at is left to its default: it keeps the first write. */
export const BAR_TABLE: WriteTable<BarRow, SeriesKey> = {
  name: 'market_data_ts',
  columns: [
    { name: 'timestamp', kind: 'epochMs', arrayType: 'timestamptz', value: (b) => b.timestampMs },
    { name: 'instrument_id', kind: 'text', arrayType: 'text', value: (_b, s) => s.instrumentId },
    { name: 'timeframe', kind: 'text', arrayType: 'text', value: (_b, s) => s.timeframe },
    // Prices as numeric straight from their shortest decimal text: exact (a float8 step would round).
    { name: 'open_price', kind: 'number', arrayType: 'numeric', value: (b) => b.open },
    { name: 'high_price', kind: 'number', arrayType: 'numeric', value: (b) => b.high },
    { name: 'low_price', kind: 'number', arrayType: 'numeric', value: (b) => b.low },
    { name: 'close_price', kind: 'number', arrayType: 'numeric', value: (b) => b.close },
    { name: 'volume', kind: 'decimal', arrayType: 'bigint', value: (b) => volumeInteger(b.volume) },
    {
      name: 'volume_fraction',
      kind: 'decimal',
      arrayType: 'numeric',
      value: (b) => volumeFraction(b.volume),
    },
    { name: 'dollar_volume', kind: 'number', arrayType: 'numeric', value: (b) => b.dollarVolume },
    { name: 'trade_count', kind: 'integer', arrayType: 'int', value: (b) => b.tradeCount },
    { name: 'quality_score', kind: 'number', arrayType: 'float8', value: (b) => b.qualityScore },
    { name: 'source', kind: 'text', arrayType: 'text', value: (b) => b.source },
    {
      name: 'stream_time',
      kind: 'epochUs',
      arrayType: 'timestamptz',
      value: (b) => b.streamTimeUs,
    },
  ],
  conflictKey: ['instrument_id', 'timeframe', 'timestamp'],
  // An event older in the stream than the one that wrote the bar is stale (a redelivery, or
  // another replica's slower batch); REST and Redis writes carry no stream time and replace.
  replaceOnlyIf: `EXCLUDED.stream_time IS NULL OR market_data_ts.stream_time IS NULL
    OR EXCLUDED.stream_time >= market_data_ts.stream_time`,
  groupColumns: [
    { name: 'instrument_id', value: (s) => s.instrumentId },
    { name: 'timeframe', value: (s) => s.timeframe },
  ],
  instantOf: (b) => b.timestampMs,
  unitsPerMs: 1,
};

/** A tick table: keyed by instrument and microsecond first, grouped by instrument. */
function tickTable<R extends { readonly timestampUs: number }>(
  name: WriteTable<R, string>['name'],
  values: WriteTable<R, string>['columns'],
  conflictKey: readonly string[],
): WriteTable<R, string> {
  return {
    name,
    columns: [
      { name: 'timestamp', kind: 'epochUs', arrayType: 'timestamptz', value: (r) => r.timestampUs },
      { name: 'instrument_id', kind: 'text', arrayType: 'text', value: (_r, id) => id },
      ...values,
    ],
    conflictKey: ['instrument_id', 'timestamp', ...conflictKey],
    groupColumns: [{ name: 'instrument_id', value: (id) => id }],
    instantOf: (r) => r.timestampUs,
    unitsPerMs: 1000,
  };
}

/** Keyed by (instrument_id, timestamp, trade_id): several trades may share a microsecond. */
export const TRADE_TABLE = tickTable<TradeRow>(
  'market_trades_ts',
  [
    { name: 'trade_id', kind: 'text', arrayType: 'text', value: (t) => t.key },
    { name: 'price', kind: 'number', arrayType: 'float8', value: (t) => t.price },
    { name: 'size', kind: 'number', arrayType: 'float8', value: (t) => t.size },
    { name: 'conditions', kind: 'textArray', arrayType: 'text', value: (t) => t.conditions },
    { name: 'quality_score', kind: 'number', arrayType: 'float8', value: (t) => t.qualityScore },
    { name: 'source', kind: 'text', arrayType: 'text', value: (t) => t.source },
  ],
  ['trade_id'],
);

/** Keyed by (instrument_id, timestamp, source): one quote per venue and microsecond. */
export const QUOTE_TABLE = tickTable<QuoteRow>(
  'market_quotes_ts',
  [
    { name: 'bid', kind: 'number', arrayType: 'float8', value: (q) => q.bid },
    { name: 'ask', kind: 'number', arrayType: 'float8', value: (q) => q.ask },
    { name: 'bid_size', kind: 'number', arrayType: 'float8', value: (q) => q.bidSize },
    { name: 'ask_size', kind: 'number', arrayType: 'float8', value: (q) => q.askSize },
    { name: 'source', kind: 'text', arrayType: 'text', value: (q) => q.source },
  ],
  ['source'],
);
