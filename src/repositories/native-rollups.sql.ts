import { TimeFrame, TIMEFRAME_MS } from '../common/market-data.types';

/**
 * The SQL of the rollups on plain PostgreSQL (migrations/
 * 20261203130000_native_rollups.sql): one table holds every level, built
 * from the ONE_MINUTE bars with the continuous aggregates' columns and
 * rules; writes log the minutes they touch (market_data_rollup_changes); a
 * watermark says up to where every bucket is materialized.
 */

/** The table of every level, keyed (instrument_id, timeframe, bucket). */
export const NATIVE_ROLLUPS_TABLE = 'market_data_rollups';

const EPOCH = `TIMESTAMPTZ '1970-01-01T00:00:00Z'`;

/** The finest level, built from the minutes; the coarser ones from it (their buckets are made of whole 5-minute ones). */
const FINEST = TimeFrame.FIVE_MINUTES;
const COARSER = [TimeFrame.FIFTEEN_MINUTES, TimeFrame.ONE_HOUR, TimeFrame.ONE_DAY];

/**
 * The spans of [$3, $4) (bucket-aligned) whose buckets of $1 seconds a
 * read of instrument $2 computes from the minutes: from the watermark on
 * (everything, before the first refresh), and the buckets of every change
 * logged and not yet taken in by a refresh; disjoint, as (lo, hi) pairs.
 * A missing watermark row reads as nothing materialized.
 */
export const NATIVE_RAW_SPANS_SQL = `
  WITH pending AS (
    SELECT c.lo, c.hi + INTERVAL '1 microsecond' AS hi FROM market_data_rollup_changes c
     WHERE c.instrument_id = $2 AND c.lo < $4::timestamptz AND c.hi >= $3::timestamptz
    UNION ALL
    SELECT coalesce((SELECT w.materialized_until FROM market_data_rollup_watermark w), '-infinity'),
           'infinity'),
  clipped AS (
    SELECT greatest(lo, $3::timestamptz) AS lo, least(hi, $4::timestamptz) AS hi FROM pending),
  spans AS (
    SELECT unnest(range_agg(tstzrange(
             date_bin(make_interval(secs => $1), lo, ${EPOCH}),
             date_bin(make_interval(secs => $1), hi - INTERVAL '1 microsecond', ${EPOCH})
               + make_interval(secs => $1)))) AS span
      FROM clipped WHERE lo < hi)
  SELECT lower(span) AS lo, upper(span) AS hi FROM spans ORDER BY 1`;

/**
 * Where a read finds the materialized buckets of `timeframe` for instrument
 * $1 from $2 to $3 (the table aliased r); `timeframe` is a TimeFrame, never input.
 */
export function nativeMaterializedSql(timeframe: TimeFrame): string {
  return `${NATIVE_ROLLUPS_TABLE} r
    WHERE r.instrument_id = $1 AND r.timeframe = '${timeframe}' AND r.bucket >= $2 AND r.bucket < $3`;
}

/** The rows a rebuild reads: the minutes, or the finest level's buckets, of its scope (as m). */
interface RebuildScope {
  /** FROM and WHERE over market_data_ts m, keeping the scope's ONE_MINUTE rows. */
  readonly minutes: string;
  /** FROM and WHERE over the rollups m, keeping the scope's FIVE_MINUTES buckets. */
  readonly finest: string;
  /** WHERE over the rollups r, keeping every level's buckets of the scope. */
  readonly buckets: string;
}

/** The scope of a window: every instrument, [$1, $2). */
const WINDOW: RebuildScope = {
  minutes: `market_data_ts m WHERE m.timeframe = 'ONE_MINUTE' AND m."timestamp" >= $1 AND m."timestamp" < $2`,
  finest: `${NATIVE_ROLLUPS_TABLE} m WHERE m.timeframe = '${FINEST}' AND m.bucket >= $1 AND m.bucket < $2`,
  buckets: `r.bucket >= $1 AND r.bucket < $2`,
};

/** The scope of changed spans: instrument $1[i], [$2[i], $3[i]), day-aligned. */
const SPANS_OF = `unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS s(instrument_id, lo, hi)`;
const SPANS: RebuildScope = {
  minutes: `${SPANS_OF} JOIN market_data_ts m ON m.instrument_id = s.instrument_id
             AND m.timeframe = 'ONE_MINUTE' AND m."timestamp" >= s.lo AND m."timestamp" < s.hi`,
  finest: `${SPANS_OF} JOIN ${NATIVE_ROLLUPS_TABLE} m ON m.instrument_id = s.instrument_id
             AND m.timeframe = '${FINEST}' AND m.bucket >= s.lo AND m.bucket < s.hi`,
  buckets: `EXISTS (SELECT 1 FROM ${SPANS_OF}
                     WHERE r.instrument_id = s.instrument_id AND r.bucket >= s.lo AND r.bucket < s.hi)`,
};

const COLUMNS = `instrument_id, timeframe, bucket, open_price, high_price, low_price, close_price,
  volume, dollar_volume_sum, dollar_volume_count, trade_count_sum, trade_count_count, bar_count`;

/**
 * The statements that build every level of `scope` anew, in order: drop its
 * buckets, the finest level from the minutes (as the raw derivation
 * aggregates them), the coarser ones from the finest (first and last by
 * bucket, sums and counts added: exactly what the minutes would give).
 */
function rebuildSql(scope: RebuildScope): readonly string[] {
  const coarser = COARSER.map((t) => `('${t}', ${TIMEFRAME_MS[t] / 1000})`).join(', ');
  return [
    `DELETE FROM ${NATIVE_ROLLUPS_TABLE} r WHERE ${scope.buckets}`,
    `INSERT INTO ${NATIVE_ROLLUPS_TABLE} (${COLUMNS})
     SELECT m.instrument_id, '${FINEST}',
            date_bin(make_interval(secs => ${TIMEFRAME_MS[FINEST] / 1000}), m."timestamp", ${EPOCH}),
            (array_agg(m.open_price ORDER BY m."timestamp"))[1], max(m.high_price), min(m.low_price),
            (array_agg(m.close_price ORDER BY m."timestamp" DESC))[1],
            sum(m.volume) + coalesce(sum(m.volume_fraction), 0),
            sum(m.dollar_volume::numeric), count(m.dollar_volume),
            sum(m.trade_count)::numeric, count(m.trade_count), count(*)
       FROM ${scope.minutes}
      GROUP BY 1, 3`,
    `INSERT INTO ${NATIVE_ROLLUPS_TABLE} (${COLUMNS})
     SELECT m.instrument_id, l.timeframe,
            date_bin(make_interval(secs => l.secs), m.bucket, ${EPOCH}),
            (array_agg(m.open_price ORDER BY m.bucket))[1], max(m.high_price), min(m.low_price),
            (array_agg(m.close_price ORDER BY m.bucket DESC))[1],
            sum(m.volume), sum(m.dollar_volume_sum), sum(m.dollar_volume_count),
            sum(m.trade_count_sum), sum(m.trade_count_count), sum(m.bar_count)
       FROM (VALUES ${coarser}) AS l(timeframe, secs) CROSS JOIN ${scope.finest}
      GROUP BY 1, 2, 3`,
  ];
}

/** Rebuilds [$1, $2) of every instrument. */
export const REBUILD_WINDOW_SQL = rebuildSql(WINDOW);

/** Rebuilds the changed spans: $1 instruments, $2 starts, $3 ends. */
export const REBUILD_SPANS_SQL = rebuildSql(SPANS);

/**
 * The changes logged before $1 (the watermark), as the day-aligned spans a
 * rebuild redoes (every level's bucket lies within one UTC day), clipped to
 * $1 and merged per instrument.
 */
export const CHANGED_SPANS_SQL = `
  WITH days AS (
    SELECT instrument_id,
           tstzrange(date_bin(INTERVAL '1 day', lo, ${EPOCH}),
                     least(date_bin(INTERVAL '1 day', hi, ${EPOCH}) + INTERVAL '1 day', $1::timestamptz)) AS span
      FROM market_data_rollup_changes WHERE lo < $1::timestamptz),
  merged AS (SELECT instrument_id, unnest(range_agg(span)) AS span FROM days GROUP BY instrument_id)
  SELECT instrument_id, lower(span) AS lo, upper(span) AS hi FROM merged ORDER BY 1, 2`;

/**
 * After the changes before $1 were rebuilt and the window up to $2 was
 * built: forget what lies wholly before $2, keep the rest of what reaches
 * past it. Only the rows this transaction's snapshot sees: a write
 * committing meanwhile keeps its change for the next refresh.
 */
export const TAKE_IN_CHANGES_SQL = [
  `DELETE FROM market_data_rollup_changes WHERE hi < $1::timestamptz`,
  `UPDATE market_data_rollup_changes SET lo = $1::timestamptz WHERE lo < $1::timestamptz`,
];
