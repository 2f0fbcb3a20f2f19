-- Bars' volume as numeric instead of bigint: fractional volumes (crypto bars,
-- 0.00012345) kept exactly, integers up to 2^63-1 as before (DESIGN 3). The
-- service bounds what it writes (up to 2^63-1, at most 18 fraction digits);
-- the column is unbounded numeric like the prices, so sums never overflow.
-- Existing bigint values convert exactly (bigint -> numeric is lossless).
--
-- TimescaleDB: a column type cannot change while compression is on, nor
-- while continuous aggregates read it: the rollups (20261126150000) are
-- dropped and created again as they were, with the chunk intervals and
-- compression settings of 20261201120000. They come back empty and
-- real-time, so derived answers stay right (computed from the bars) until
-- the service's refresh task has materialized them again. Chunks are
-- decompressed; the compression task compresses them again.
--
-- Down refuses, naming how many bars, when a volume has a fraction or
-- exceeds bigint: it cannot go back to bigint without rounding.

-- migrate:up
DO $$
DECLARE
  timescale boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
  chunk regclass;
BEGIN
  IF timescale THEN
    DROP MATERIALIZED VIEW IF EXISTS market_data_1d;
    DROP MATERIALIZED VIEW IF EXISTS market_data_1h;
    DROP MATERIALIZED VIEW IF EXISTS market_data_15m;
    DROP MATERIALIZED VIEW IF EXISTS market_data_5m;
    FOR chunk IN SELECT c FROM show_chunks('market_data_ts') c LOOP
      PERFORM decompress_chunk(chunk, if_compressed => true);
    END LOOP;
    ALTER TABLE market_data_ts SET (timescaledb.compress = false);
  END IF;
  ALTER TABLE market_data_ts ALTER COLUMN volume TYPE numeric USING volume::numeric;
  IF timescale THEN
    ALTER TABLE market_data_ts SET (
      timescaledb.compress,
      timescaledb.compress_segmentby = 'instrument_id, timeframe',
      timescaledb.compress_orderby = '"timestamp"'
    );
  END IF;
END
$$;

-- The rollups again: the definitions of 20261126150000, the settings of 20261201120000.
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

-- migrate:down
DO $$
DECLARE
  timescale boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
  chunk regclass;
  inexact bigint;
BEGIN
  SELECT count(*) INTO inexact FROM market_data_ts
   WHERE volume <> trunc(volume) OR volume > 9223372036854775807;
  IF inexact > 0 THEN
    RAISE EXCEPTION 'cannot migrate volume back to bigint: % bar(s) have a fractional volume or one above 9223372036854775807; delete or correct them first (SELECT * FROM market_data_ts WHERE volume <> trunc(volume) OR volume > 9223372036854775807)', inexact;
  END IF;
  IF timescale THEN
    DROP MATERIALIZED VIEW IF EXISTS market_data_1d;
    DROP MATERIALIZED VIEW IF EXISTS market_data_1h;
    DROP MATERIALIZED VIEW IF EXISTS market_data_15m;
    DROP MATERIALIZED VIEW IF EXISTS market_data_5m;
    FOR chunk IN SELECT c FROM show_chunks('market_data_ts') c LOOP
      PERFORM decompress_chunk(chunk, if_compressed => true);
    END LOOP;
    ALTER TABLE market_data_ts SET (timescaledb.compress = false);
  END IF;
  ALTER TABLE market_data_ts ALTER COLUMN volume TYPE bigint USING volume::bigint;
  IF timescale THEN
    ALTER TABLE market_data_ts SET (
      timescaledb.compress,
      timescaledb.compress_segmentby = 'instrument_id, timeframe',
      timescaledb.compress_orderby = '"timestamp"'
    );
  END IF;
END
$$;

-- The rollups again: the definitions of 20261126150000, the settings of 20261201120000.
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
