-- Fractional volumes (crypto bars: 0.00012345), kept exactly (DESIGN 3): a
-- bar's volume is volume + coalesce(volume_fraction, 0). volume (bigint)
-- keeps the integer part, so integers up to 2^63-1 are exact and stored as
-- before; volume_fraction (numeric, null for a whole volume) keeps the
-- fraction, 0 < f < 1, at most 18 digits (the service's bounds). Not one
-- numeric column: measured on TimescaleDB (docs/decisions.md), numeric
-- volume took 1.5 more bytes a compressed bar than bigint's delta encoding
-- and pulled the compression ratio of 1-minute OHLCV under DESIGN's 90 %; a
-- column of nulls costs nothing compressed. Adding a nullable column needs
-- no rewrite and no decompression; existing rows keep their values.
--
-- TimescaleDB: the rollups (20261126150000) sum the fraction too, so they are
-- dropped and created again, with the chunk intervals and compression
-- settings of 20261201120000. They come back empty and real-time, so derived
-- answers stay right (computed from the bars) until the service's refresh
-- task has materialized them again.
--
-- Down refuses, naming how many bars, while a volume has a fraction: it
-- cannot go back without rounding.

-- migrate:up
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    DROP MATERIALIZED VIEW IF EXISTS market_data_1d;
    DROP MATERIALIZED VIEW IF EXISTS market_data_1h;
    DROP MATERIALIZED VIEW IF EXISTS market_data_15m;
    DROP MATERIALIZED VIEW IF EXISTS market_data_5m;
  END IF;
END
$$;

ALTER TABLE market_data_ts ADD COLUMN volume_fraction numeric;

-- The rollups again: the definitions of 20261126150000 with the fraction summed, the
-- settings of 20261201120000.
DO $$
DECLARE
  level record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
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
           sum(volume) + coalesce(sum(volume_fraction), 0) AS volume,
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
  FOR level IN
    SELECT * FROM (VALUES ('market_data_5m', '7 days'),
                          ('market_data_15m', '7 days'),
                          ('market_data_1h', '28 days'),
                          ('market_data_1d', '364 days')) AS l(name, chunk)
  LOOP
    PERFORM set_chunk_time_interval(level.name::regclass, level.chunk::interval);
    EXECUTE format(
      'ALTER MATERIALIZED VIEW %I SET (timescaledb.compress = true,'
      ' timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
      level.name, 'instrument_id', 'bucket');
  END LOOP;
END
$$;

-- migrate:down
DO $$
DECLARE
  fractional bigint;
BEGIN
  SELECT count(*) INTO fractional FROM market_data_ts WHERE volume_fraction IS NOT NULL;
  IF fractional > 0 THEN
    RAISE EXCEPTION 'cannot migrate down: % bar(s) have a fractional volume, which the schema before 20261202120000 cannot hold; delete or correct them first (SELECT * FROM market_data_ts WHERE volume_fraction IS NOT NULL)', fractional;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    DROP MATERIALIZED VIEW IF EXISTS market_data_1d;
    DROP MATERIALIZED VIEW IF EXISTS market_data_1h;
    DROP MATERIALIZED VIEW IF EXISTS market_data_15m;
    DROP MATERIALIZED VIEW IF EXISTS market_data_5m;
  END IF;
END
$$;

ALTER TABLE market_data_ts DROP COLUMN volume_fraction;

-- The rollups as they were: the definitions of 20261126150000, the settings of 20261201120000.
DO $$
DECLARE
  level record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
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
  FOR level IN
    SELECT * FROM (VALUES ('market_data_5m', '7 days'),
                          ('market_data_15m', '7 days'),
                          ('market_data_1h', '28 days'),
                          ('market_data_1d', '364 days')) AS l(name, chunk)
  LOOP
    PERFORM set_chunk_time_interval(level.name::regclass, level.chunk::interval);
    EXECUTE format(
      'ALTER MATERIALIZED VIEW %I SET (timescaledb.compress = true,'
      ' timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
      level.name, 'instrument_id', 'bucket');
  END LOOP;
END
$$;
