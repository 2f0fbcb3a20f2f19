import { ISO_US_SQL } from './bulk-sql';
import { PointField } from '../common/market-data.types';
import { volumeJsonSql } from './points-json.sql';
import { selectList } from './tick.reader';

/** What a bar counts until it closes (docs/research-reads.md, "Volume, dollar and tick bars"). */
export type InformationBarKind = 'volume' | 'dollar' | 'tick';

/** A bar's fields over `bars`: the start is the first trade's microsecond. */
const BAR_COLUMNS: Readonly<Record<PointField, string>> = {
  timestamp: `to_char(start_ts AT TIME ZONE 'UTC', ${ISO_US_SQL})`,
  open: 'open_price',
  high: 'high_price',
  low: 'low_price',
  close: 'close_price',
  volume: `(${volumeJsonSql('volume')})::json`,
  dollar_volume: 'dollar_volume',
  trade_count: 'trade_count',
};

/** The measure each trade adds to its bar's running total, exact (numeric). */
const MEASURE_SQL: Readonly<Record<InformationBarKind, string>> = {
  volume: 'size::numeric',
  // The traded value's magnitude: a negative price (spreads, 2020's oil) still moves the total forward.
  dollar: 'abs(price::numeric) * size::numeric',
  tick: '1::numeric',
};

/**
 * Volume, dollar and tick bars of one instrument's trades in
 * [$2, $3) (timestamptz), threshold $4 (numeric), page LIMIT $5 OFFSET $6.
 * Window functions only, the same SQL on every engine:
 *
 * - trades in the table's key order, (timestamp, trade_id);
 * - `upto`: the running total of the measure since the range start,
 *   including the trade, summed as numeric (a float running sum of 0.1 +
 *   0.2 misses a threshold of 0.3);
 * - the trade's bar: div(upto - its own measure, N), the total BEFORE it
 *   in whole multiples of N, so the trade that reaches or passes a multiple
 *   of N closes its bar whole and the next trade opens the next one. div is
 *   exact integer division (the / of numeric rounds its quotient to some 16
 *   digits, which can round 99999.99999999999999 up to the next bar); the
 *   measures are never negative, so the totals never fall and each bar's
 *   trades are consecutive;
 * - a bar is complete when its last trade's total reached (bar + 1) * N;
 *   only the last bar of the range can fall short.
 *
 * Answers one row: total_count (every bar of the range) and the page's
 * points as JSON text, each with end_timestamp (the last trade's
 * microsecond) and complete after `fields`.
 */
export function informationBarsSql(
  kind: InformationBarKind,
  fields: readonly PointField[],
): string {
  return `WITH trades AS (
      SELECT "timestamp" AS ts, price, size,
             sum(${MEASURE_SQL[kind]}) OVER (ORDER BY "timestamp", trade_id ROWS UNBOUNDED PRECEDING) AS upto,
             ${MEASURE_SQL[kind]} AS measure,
             row_number() OVER (ORDER BY "timestamp", trade_id) AS seq
        FROM market_trades_ts
       WHERE instrument_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3),
    numbered AS (
      SELECT *, div(upto - measure, $4::numeric) AS bar FROM trades),
    bars AS (
      SELECT bar,
             min(ts) AS start_ts,
             max(ts) AS end_ts,
             (array_agg(price ORDER BY seq))[1] AS open_price,
             max(price) AS high_price,
             min(price) AS low_price,
             (array_agg(price ORDER BY seq DESC))[1] AS close_price,
             sum(size::numeric) AS volume,
             sum(price::numeric * size::numeric)::float8 AS dollar_volume,
             count(*)::int AS trade_count,
             max(upto) >= (bar + 1) * $4::numeric AS complete
        FROM numbered
       GROUP BY bar)
    SELECT (SELECT count(*) FROM bars) AS total_count,
           (SELECT '[' || coalesce(string_agg(p.point, ',' ORDER BY p.bar), '') || ']' FROM (
              SELECT bar, (SELECT row_to_json(x)::text FROM (SELECT ${selectList(fields, BAR_COLUMNS)},
                     to_char(end_ts AT TIME ZONE 'UTC', ${ISO_US_SQL}) AS end_timestamp, complete) x) AS point
                FROM bars ORDER BY bar LIMIT $5 OFFSET $6) p) AS points`;
}
