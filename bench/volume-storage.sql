-- Bytes per compressed 1-minute bar by volume layout, on a TimescaleDB server:
--   psql -h 127.0.0.1 -p 5433 -U postgres -d postgres -f bench/volume-storage.sql
-- bigint volume (before 20261202120000), one numeric column (the layout not
-- taken), and the layout taken: bigint integer part + numeric fraction
-- (null for whole volumes), with whole and with 8-decimal volumes. Results
-- and reading: docs/decisions.md. Creates and drops vol_bench.
\set ON_ERROR_STOP 1
DROP DATABASE IF EXISTS vol_bench;
CREATE DATABASE vol_bench;
\c vol_bench
CREATE EXTENSION IF NOT EXISTS timescaledb;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['bigint_whole', 'numeric_whole', 'split_whole', 'numeric_fractional', 'split_fractional'] LOOP
    EXECUTE format($f$CREATE TABLE %I (
      "timestamp" timestamptz NOT NULL, instrument_id text NOT NULL, timeframe text NOT NULL,
      open_price numeric NOT NULL, high_price numeric NOT NULL, low_price numeric NOT NULL, close_price numeric NOT NULL,
      volume %s NOT NULL, volume_fraction numeric, dollar_volume numeric, trade_count integer,
      quality_score double precision NOT NULL DEFAULT 1.0, source text, created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (instrument_id, timeframe, "timestamp"))$f$, t, CASE WHEN t LIKE 'numeric%' THEN 'numeric' ELSE 'bigint' END);
    PERFORM create_hypertable(t, by_range('timestamp', INTERVAL '1 day'), create_default_indexes => false);
    EXECUTE format($f$ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_id, timeframe', timescaledb.compress_orderby = '"timestamp"')$f$, t);
  END LOOP;
END $$;
-- 100,000 one-minute bars: 10 instruments x 10,000 minutes (about 7 days), two-decimal prices,
-- whole volumes 1,000-50,000 or 8-decimal volumes 0-50,000.
SELECT setseed(0.42);
CREATE TEMP TABLE gen AS
SELECT TIMESTAMPTZ '2025-01-01' + (m || ' minutes')::interval AS ts, 'I' || i AS id,
       round((100 + i + sin(m / 50.0) * 5)::numeric, 2) AS p,
       (1000 + floor(random() * 50000))::bigint AS v,
       round((random() * 50000)::numeric, 8) AS vf
  FROM generate_series(0, 9999) m, generate_series(1, 10) i;
INSERT INTO bigint_whole ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count)
  SELECT ts, id, 'ONE_MINUTE', p, p + 0.1, p - 0.1, p + 0.05, v, round(v * p, 2), 100 FROM gen;
INSERT INTO numeric_whole ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count)
  SELECT ts, id, 'ONE_MINUTE', p, p + 0.1, p - 0.1, p + 0.05, v, round(v * p, 2), 100 FROM gen;
INSERT INTO split_whole ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, volume_fraction, dollar_volume, trade_count)
  SELECT ts, id, 'ONE_MINUTE', p, p + 0.1, p - 0.1, p + 0.05, v, NULL, round(v * p, 2), 100 FROM gen;
INSERT INTO numeric_fractional ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count)
  SELECT ts, id, 'ONE_MINUTE', p, p + 0.1, p - 0.1, p + 0.05, vf, round(vf * p, 2), 100 FROM gen;
INSERT INTO split_fractional ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, volume_fraction, dollar_volume, trade_count)
  SELECT ts, id, 'ONE_MINUTE', p, p + 0.1, p - 0.1, p + 0.05, trunc(vf), nullif(vf - trunc(vf), 0), round(vf * p, 2), 100 FROM gen;
SELECT h, count(compress_chunk(c)) FROM unnest(ARRAY['bigint_whole', 'numeric_whole', 'split_whole', 'numeric_fractional', 'split_fractional']) h,
       show_chunks(h::regclass) c GROUP BY h;
-- Whole chunks (8 kB pages) per layout, and the volume columns alone (pg_column_size of their compressed values).
CREATE TEMP TABLE volume_bytes (h text, bytes bigint);
DO $$
DECLARE c record; n bigint;
BEGIN
  FOR c IN SELECT ht.table_name AS h, format('%I.%I', cc.schema_name, cc.table_name) AS t
             FROM _timescaledb_catalog.chunk ch JOIN _timescaledb_catalog.chunk cc ON ch.compressed_chunk_id = cc.id
             JOIN _timescaledb_catalog.hypertable ht ON ht.id = ch.hypertable_id LOOP
    EXECUTE format('SELECT coalesce(sum(pg_column_size(volume)), 0) + coalesce(sum(pg_column_size(volume_fraction)), 0) FROM %s', c.t) INTO n;
    INSERT INTO volume_bytes VALUES (c.h, n);
  END LOOP;
END $$;
SELECT s.h AS layout, round(s.after / 100000.0, 2) AS bytes_per_bar,
       round(1 - s.after::numeric / s.before, 4) AS ratio,
       round((SELECT sum(bytes) FROM volume_bytes v WHERE v.h = s.h) / 100000.0, 2) AS volume_bytes_per_bar
  FROM (SELECT h, sum(before_compression_total_bytes) AS before, sum(after_compression_total_bytes) AS after
          FROM unnest(ARRAY['bigint_whole', 'numeric_whole', 'split_whole', 'numeric_fractional', 'split_fractional']) h,
               chunk_compression_stats(h::regclass) GROUP BY h) s
 ORDER BY 1;
\c postgres
DROP DATABASE vol_bench;
