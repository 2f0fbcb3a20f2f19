import type { BucketGrid, FillMode } from '../common/bucket-grid';
import { PointField } from '../common/market-data.types';

export type { BucketGrid, FillMode, Filling } from '../common/bucket-grid';

/** SQL expressions (parameter placeholders) the fill is built from. */
export interface FillParams {
  /** The first bucket (timestamptz). */
  readonly first: string;
  /** The last bucket (timestamptz). */
  readonly last: string;
  /** The bucket width in seconds. */
  readonly stepSecs: string;
  /** The close of the last source bar before the first bucket, or null (a scalar subquery). */
  readonly closeBefore: string;
}

/** The values the parameters of FillParams take, in the order `fillParamsAt` numbers them. */
export function fillValues(grid: BucketGrid): unknown[] {
  return [
    new Date(grid.firstMs).toISOString(),
    // Before the first when the grid is empty: generate_series then yields nothing.
    new Date(grid.firstMs + (grid.count - 1) * grid.stepMs).toISOString(),
    grid.stepMs / 1000,
  ];
}

/** $n, $n+1, $n+2 for fillValues; `closeBefore` given by the reader (it knows the source). */
export function fillParamsAt(n: number, closeBefore: string): FillParams {
  return {
    first: `$${n}::timestamptz`,
    last: `$${n + 1}::timestamptz`,
    stepSecs: `$${n + 2}`,
    closeBefore,
  };
}

/**
 * `, grid AS (...), filled AS (...)` after a `buckets` CTE of bar rows
 * (bucket, open_price, high_price, low_price, close_price, volume,
 * dollar_volume, trade_count): one row per bucket of the grid, the bar
 * where there is one, otherwise a filled row (`filled` true). `null`: every
 * value null. `prev`: a flat candle at the close carried from the last bar
 * before it (in the answer, else `closeBefore`), volume, dollar volume and
 * trade count 0; all null while there is no such close. Plain window
 * functions: the same SQL on every engine (no time_bucket_gapfill).
 */
export function filledBucketsSql(mode: FillMode, p: FillParams): string {
  const grid = `, grid AS (
       SELECT g AS bucket FROM generate_series(${p.first}, ${p.last}, make_interval(secs => ${p.stepSecs})) g)`;
  if (mode === 'null') {
    return `${grid}, filled AS (
       SELECT grid.bucket, b.open_price, b.high_price, b.low_price, b.close_price, b.volume,
              b.dollar_volume, b.trade_count, b.bucket IS NULL AS filled
         FROM grid LEFT JOIN buckets b ON b.bucket = grid.bucket)`;
  }
  // A run: a bar and the empty buckets after it, which carry its close (run 0: before the first bar).
  return `${grid}, runs AS (
       SELECT grid.bucket, b.open_price, b.high_price, b.low_price, b.close_price, b.volume,
              b.dollar_volume, b.trade_count, b.bucket IS NULL AS filled,
              count(b.bucket) OVER (ORDER BY grid.bucket) AS run
         FROM grid LEFT JOIN buckets b ON b.bucket = grid.bucket),
     carried AS (
       SELECT runs.*,
              CASE WHEN run = 0 THEN ${p.closeBefore}
                   ELSE first_value(close_price) OVER (PARTITION BY run ORDER BY bucket) END AS carried_close
         FROM runs),
     filled AS (
       SELECT bucket, filled,
              CASE WHEN filled THEN carried_close ELSE open_price END AS open_price,
              CASE WHEN filled THEN carried_close ELSE high_price END AS high_price,
              CASE WHEN filled THEN carried_close ELSE low_price END AS low_price,
              CASE WHEN filled THEN carried_close ELSE close_price END AS close_price,
              CASE WHEN NOT filled THEN volume WHEN carried_close IS NOT NULL THEN 0 END AS volume,
              CASE WHEN NOT filled THEN dollar_volume WHEN carried_close IS NOT NULL THEN 0 END AS dollar_volume,
              CASE WHEN NOT filled THEN trade_count WHEN carried_close IS NOT NULL THEN 0 END AS trade_count
         FROM carried)`;
}

/** The fields over the `filled` rows (the bar column names of barColumns). */
export const FILLED_COLUMNS: Readonly<Record<PointField, string>> = {
  timestamp: 'filled.bucket',
  open: 'open_price',
  high: 'high_price',
  low: 'low_price',
  close: 'close_price',
  volume: 'volume',
  dollar_volume: 'dollar_volume',
  trade_count: 'trade_count',
};
