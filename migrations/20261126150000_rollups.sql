-- Rollups: continuous aggregates of the ONE_MINUTE bars of market_data_ts at
-- FIVE_MINUTES, FIFTEEN_MINUTES, ONE_HOUR and ONE_DAY (UTC days), each built
-- from the one below it (5m from the minutes, 15m from 5m, 1h from 15m, 1d
-- from 1h), real-time (materialized_only = false: buckets past the watermark
-- are computed at query time). The columns keep what the derived answer
-- needs and compose exactly level to level: first/last by time, max, min,
-- sums as numeric (dollar volume summed in decimal, so no order of summation
-- changes it), and counts to tell a null sum (a bar of the bucket lacks the
-- value) from a total. See docs/rollups.md. Plain PostgreSQL gets nothing
-- here: derived timeframes are computed from raw bars there.

-- migrate:up
DO $$
DECLARE
  level record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    RAISE NOTICE 'no TimescaleDB: derived timeframes are computed from raw bars';
    RETURN;
  END IF;

  EXECUTE $view$
    CREATE MATERIALIZED VIEW market_data_5m
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT instrument_id,
           time_bucket(INTERVAL '5 minutes', "timestamp") AS bucket,
           first(open_price, "timestamp") AS open_price,
           max(high_price) AS high_price,
           min(low_price) AS low_price,
           last(close_price, "timestamp") AS close_price,
           sum(volume) AS volume,
           sum(dollar_volume::numeric) AS dollar_volume_sum,
           count(dollar_volume) AS dollar_volume_count,
           sum(trade_count)::numeric AS trade_count_sum,
           count(trade_count) AS trade_count_count,
           count(*) AS bar_count
      FROM market_data_ts
     WHERE timeframe = 'ONE_MINUTE'
     GROUP BY instrument_id, time_bucket(INTERVAL '5 minutes', "timestamp")
    WITH NO DATA
  $view$;

  FOR level IN
    SELECT * FROM (VALUES (1, 'market_data_15m', 'market_data_5m', '15 minutes'),
                          (2, 'market_data_1h', 'market_data_15m', '1 hour'),
                          (3, 'market_data_1d', 'market_data_1h', '1 day')) AS l(n, name, source, width)
     ORDER BY n
  LOOP
    EXECUTE format($view$
      CREATE MATERIALIZED VIEW %1$I
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT instrument_id,
             time_bucket(INTERVAL %3$L, bucket) AS bucket,
             first(open_price, bucket) AS open_price,
             max(high_price) AS high_price,
             min(low_price) AS low_price,
             last(close_price, bucket) AS close_price,
             sum(volume) AS volume,
             sum(dollar_volume_sum) AS dollar_volume_sum,
             sum(dollar_volume_count)::bigint AS dollar_volume_count,
             sum(trade_count_sum) AS trade_count_sum,
             sum(trade_count_count)::bigint AS trade_count_count,
             sum(bar_count)::bigint AS bar_count
        FROM %2$I
       GROUP BY instrument_id, time_bucket(INTERVAL %3$L, bucket)
      WITH NO DATA
    $view$, level.name, level.source, level.width);
  END LOOP;

  -- No TimescaleDB refresh policy: the service's rollup refresh task owns the
  -- refresh on every engine (one owner per job; see the migration
  -- 20261201120000_service_owns_background_jobs.sql).
END
$$;

-- migrate:down
DROP MATERIALIZED VIEW IF EXISTS market_data_1d;
DROP MATERIALIZED VIEW IF EXISTS market_data_1h;
DROP MATERIALIZED VIEW IF EXISTS market_data_15m;
DROP MATERIALIZED VIEW IF EXISTS market_data_5m;
