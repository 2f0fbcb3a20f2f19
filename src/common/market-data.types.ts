/** Enumerations of the spec; they travel as their names. */
export enum TimeFrame {
  ONE_MINUTE = 'ONE_MINUTE',
  FIVE_MINUTES = 'FIVE_MINUTES',
  FIFTEEN_MINUTES = 'FIFTEEN_MINUTES',
  ONE_HOUR = 'ONE_HOUR',
  ONE_DAY = 'ONE_DAY',
}

export enum DataType {
  OHLCV = 'OHLCV',
  TICK = 'TICK',
  QUOTE = 'QUOTE',
  TRADE = 'TRADE',
}

/** Trades (a TICK is a trade print) and quotes: stored per instrument, without a timeframe. */
export type TickDataType = DataType.TICK | DataType.TRADE | DataType.QUOTE;

export function isTickDataType(dataType: unknown): dataType is TickDataType {
  return dataType === DataType.TICK || dataType === DataType.TRADE || dataType === DataType.QUOTE;
}

export enum CompressionLevel {
  NONE = 'NONE',
  LOW = 'LOW',
  MEDIUM = 'MEDIUM',
  HIGH = 'HIGH',
}

const MINUTE_MS = 60_000;

/** Length of each timeframe's bar; every one divides the next, and a day divides into all. */
export const TIMEFRAME_MS: Readonly<Record<TimeFrame, number>> = {
  [TimeFrame.ONE_MINUTE]: MINUTE_MS,
  [TimeFrame.FIVE_MINUTES]: 5 * MINUTE_MS,
  [TimeFrame.FIFTEEN_MINUTES]: 15 * MINUTE_MS,
  [TimeFrame.ONE_HOUR]: 60 * MINUTE_MS,
  [TimeFrame.ONE_DAY]: 1440 * MINUTE_MS,
};

/** Finest first. */
export const TIMEFRAMES_FINEST_FIRST: readonly TimeFrame[] = [
  TimeFrame.ONE_MINUTE,
  TimeFrame.FIVE_MINUTES,
  TimeFrame.FIFTEEN_MINUTES,
  TimeFrame.ONE_HOUR,
  TimeFrame.ONE_DAY,
];

/** Timeframes strictly finer than `timeframe`, finest first: the ones it can be derived from. */
export function finerTimeframes(timeframe: TimeFrame): TimeFrame[] {
  return TIMEFRAMES_FINEST_FIRST.filter((t) => TIMEFRAME_MS[t] < TIMEFRAME_MS[timeframe]);
}

/**
 * 1-20 printable characters (code points, as char_length counts the text
 * column), any script: no control (Cc), format (Cf: bidi overrides,
 * zero-width ones), surrogate (Cs: a lone half) or line/paragraph separator
 * character, and no whitespace first or last. `^GSPC`, `BRK B`, `ES=F`,
 * `EUR/USD` and `株式` are instrument ids; in a path they travel URL-encoded.
 */
export const INSTRUMENT_ID_PATTERN = /^(?!\s)[^\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]{1,20}(?<!\s)$/u;
export const INSTRUMENT_ID_RULE =
  '1-20 printable characters: no control or invisible formatting characters, no leading or trailing space';

/** The OpenAPI text of an instrument_id (the pattern is Unicode-aware, so it is told, not given). */
export const INSTRUMENT_ID_API = {
  example: 'AAPL',
  minLength: 1,
  maxLength: 20,
  description: `${INSTRUMENT_ID_RULE}, any script: e.g. ^GSPC, BRK B, ES=F, EUR/USD`,
} as const;

/** The same for the id in a path, where it travels URL-encoded. */
export const INSTRUMENT_ID_PATH_API = {
  ...INSTRUMENT_ID_API,
  description: `${INSTRUMENT_ID_API.description}; URL-encoded in the path (BRK%20B, EUR%2FUSD, %5EGSPC)`,
} as const;

/** A series is one instrument at one timeframe: the unit of storage, dedup and caching. */
export interface SeriesKey {
  readonly instrumentId: string;
  readonly timeframe: TimeFrame;
}

/** The data type trades and quotes are stored as (a TICK is a trade). */
export type StoredTickType = DataType.TRADE | DataType.QUOTE;

/**
 * What storage_configurations is keyed by: a bar series, or an instrument's
 * trades or quotes (their data type in the timeframe column).
 */
export interface ConfiguredSeries {
  readonly instrumentId: string;
  readonly timeframe: TimeFrame | StoredTickType;
}

/** The MarketDataPoint fields a query may project, in response order. */
export const POINT_FIELDS = [
  'timestamp',
  'open',
  'high',
  'low',
  'close',
  'volume',
  'dollar_volume',
  'trade_count',
] as const;
export type PointField = (typeof POINT_FIELDS)[number];
