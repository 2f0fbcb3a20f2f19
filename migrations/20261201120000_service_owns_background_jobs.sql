-- One owner per background job: the service's maintenance tasks
-- (src/maintenance) refresh the rollups and compress, on every engine,
-- including servers where TimescaleDB's job runner fails. Databases created
-- before this migration had TimescaleDB refresh policies on the rollups;
-- they refreshed the same ranges as the service's task and one of the two
-- failed ("due to a concurrent refresh"). They go.
--
-- The rollups are compressed too, once their range is old (the compression
-- task), segmented by instrument like the bars. Their chunks get intervals
-- short enough that all but the newest chunk of each level compress within
-- a month (TimescaleDB's default, ten times the bars' chunk, left 70 days of
-- every level uncompressed): measured on 20 instruments x 30 days, the
-- rollups took 11.5 bytes a bar compressed this way, 17.2 with chunks of
-- about 2,000 buckets an instrument (7, 21, 84, 2016 days), 53.7 not
-- compressed. Chunks that exist keep their interval.
--
-- storage_statistics records the rollups' size beside the bars'.

-- migrate:up
DO $$
DECLARE
  level record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    RETURN;
  END IF;
  FOR level IN
    SELECT * FROM (VALUES ('market_data_5m', '7 days'),
                          ('market_data_15m', '7 days'),
                          ('market_data_1h', '28 days'),
                          ('market_data_1d', '364 days')) AS l(name, chunk)
  LOOP
    PERFORM remove_continuous_aggregate_policy(level.name::regclass, if_exists => true);
    PERFORM set_chunk_time_interval(level.name::regclass, level.chunk::interval);
    EXECUTE format(
      'ALTER MATERIALIZED VIEW %I SET (timescaledb.compress = true,'
      ' timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
      level.name, 'instrument_id', 'bucket');
  END LOOP;
END
$$;

ALTER TABLE storage_statistics ADD COLUMN rollups_size_gb double precision;

-- migrate:down
ALTER TABLE storage_statistics DROP COLUMN IF EXISTS rollups_size_gb;

DO $$
DECLARE
  level record;
  chunk regclass;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    RETURN;
  END IF;
  FOR level IN SELECT unnest(ARRAY['market_data_5m', 'market_data_15m', 'market_data_1h', 'market_data_1d']) AS name
  LOOP
    FOR chunk IN SELECT c FROM show_chunks(level.name::regclass) c LOOP
      PERFORM decompress_chunk(chunk, if_compressed => true);
    END LOOP;
    EXECUTE format('ALTER MATERIALIZED VIEW %I SET (timescaledb.compress = false)', level.name);
  END LOOP;
END
$$;
