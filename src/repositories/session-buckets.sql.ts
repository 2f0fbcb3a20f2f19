import { SUMMED_VOLUME_SQL } from './points-json.sql';

/**
 * `WITH buckets AS (...)` of session-aligned bars from the source rows of
 * `market_data_ts` ($1 instrument, $2 source timeframe, $3..$4 the source
 * rows' range). $5 the zone, $6 the opening and $7 the length of the
 * session in minutes, $8 the end of the range of bucket starts.
 *
 * A row's session opens at the last local opening time at or before it
 * (shift by the opening, truncate to the local day, shift back); the row
 * belongs to it while it is less than the session's length past that
 * opening in local wall time, else (the pause between sessions) to no
 * bucket. The opening, read back in the zone, is an instant: DST moves it.
 * `daily`: one bucket per session at its opening; otherwise 60-minute
 * buckets from the opening (date_bin with the opening as origin), the last
 * one cut by the close. Plain PostgreSQL (AT TIME ZONE, date_bin): the same
 * on every engine.
 */
export function sessionBucketsSql(daily: boolean): string {
  const bucket = daily ? 'opening' : `date_bin(INTERVAL '1 hour', "timestamp", opening)`;
  return `WITH local_rows AS (
       SELECT "timestamp", open_price, high_price, low_price, close_price, volume, volume_fraction,
              dollar_volume, trade_count, local,
              date_trunc('day', local - make_interval(mins => $6)) + make_interval(mins => $6) AS opening_local
         FROM (SELECT *, ("timestamp" AT TIME ZONE $5) AS local FROM market_data_ts
                WHERE instrument_id = $1 AND timeframe = $2 AND "timestamp" >= $3 AND "timestamp" < $4) r),
     in_session AS (
       SELECT *, (opening_local AT TIME ZONE $5) AS opening FROM local_rows
        WHERE local - opening_local < make_interval(mins => $7)),
     buckets AS (
       SELECT ${bucket} AS bucket,
              (array_agg(open_price ORDER BY "timestamp"))[1] AS open_price,
              max(high_price) AS high_price,
              min(low_price) AS low_price,
              (array_agg(close_price ORDER BY "timestamp" DESC))[1] AS close_price,
              ${SUMMED_VOLUME_SQL} AS volume,
              -- As findDerivedRange: a sum with a missing value would pass for the whole; null instead.
              CASE WHEN count(dollar_volume) = count(*) THEN sum(dollar_volume::numeric)::float8 END AS dollar_volume,
              CASE WHEN count(trade_count) = count(*) THEN sum(trade_count) END AS trade_count
         FROM in_session
        GROUP BY 1
       HAVING ${bucket} >= $3 AND ${bucket} < $8)`;
}

/**
 * How far past the range's end the source rows of its last bucket may lie:
 * a session is at most 24 hours of wall time, 25 on the day clocks go back.
 */
export const SESSION_SOURCE_SLACK_MS = 26 * 3_600_000;
