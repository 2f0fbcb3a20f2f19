-- Bytes per compressed 1-minute bar with volume bigint vs numeric (integer and 8-decimal
-- volumes), on a TimescaleDB server: psql -h 127.0.0.1 -p 5433 -U postgres -d postgres -f bench/volume-storage.sql
-- Results and reading: docs/decisions.md ("Volume is numeric"). Creates and drops vol_bench_symbols.
\set ON_ERROR_STOP 1
DROP DATABASE IF EXISTS vol_bench_symbols;
CREATE DATABASE vol_bench_symbols;
\c vol_bench_symbols
CREATE EXTENSION IF NOT EXISTS timescaledb;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['bars_bigint', 'bars_numeric', 'bars_numeric_frac'] LOOP
    EXECUTE format($f$CREATE TABLE %I (
      "timestamp" timestamptz NOT NULL, instrument_id text NOT NULL, timeframe text NOT NULL,
      open_price numeric NOT NULL, high_price numeric NOT NULL, low_price numeric NOT NULL, close_price numeric NOT NULL,
      volume %s NOT NULL, dollar_volume numeric, trade_count integer,
      quality_score double precision NOT NULL DEFAULT 1.0, source text, created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (instrument_id, timeframe, "timestamp"))$f$, t, CASE WHEN t = 'bars_bigint' THEN 'bigint' ELSE 'numeric' END);
    PERFORM create_hypertable(t, by_range('timestamp', INTERVAL '1 day'), create_default_indexes => false);
    EXECUTE format($f$ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_id, timeframe', timescaledb.compress_orderby = '"timestamp"')$f$, t);
  END LOOP;
END $$;
-- 100,000 one-minute bars: 10 instruments x 10,000 minutes (about 7 days), two-decimal prices.
SELECT setseed(0.42);
CREATE TEMP TABLE gen AS
SELECT TIMESTAMPTZ '2025-01-01' + (m || ' minutes')::interval AS ts, 'I' || i AS id,
       round((100 + i + sin(m / 50.0) * 5)::numeric, 2) AS p,
       (1000 + floor(random() * 50000))::bigint AS v,
       round((random() * 10)::numeric, 8) AS vf
  FROM generate_series(0, 9999) m, generate_series(1, 10) i;
INSERT INTO bars_bigint SELECT ts, id, 'ONE_MINUTE', p, p + 0.1, p - 0.1, p + 0.05, v, round(v * p, 2), 100 FROM gen;
INSERT INTO bars_numeric SELECT ts, id, 'ONE_MINUTE', p, p + 0.1, p - 0.1, p + 0.05, v::numeric, round(v * p, 2), 100 FROM gen;
INSERT INTO bars_numeric_frac SELECT ts, id, 'ONE_MINUTE', p, p + 0.1, p - 0.1, p + 0.05, vf, round(vf * p, 2), 100 FROM gen;
SELECT count(compress_chunk(c)) FROM show_chunks('bars_bigint') c;
SELECT count(compress_chunk(c)) FROM show_chunks('bars_numeric') c;
SELECT count(compress_chunk(c)) FROM show_chunks('bars_numeric_frac') c;
SELECT h AS hypertable, sum(before_compression_total_bytes) AS before, sum(after_compression_total_bytes) AS after,
       round(sum(after_compression_total_bytes)::numeric / 100000, 2) AS bytes_per_bar_compressed
  FROM unnest(ARRAY['bars_bigint', 'bars_numeric', 'bars_numeric_frac']) h, chunk_compression_stats(h::regclass) GROUP BY h ORDER BY h;
DO $$
DECLARE h text; c record; total bigint; r record;
BEGIN
  FOREACH h IN ARRAY ARRAY['bars_bigint', 'bars_numeric', 'bars_numeric_frac'] LOOP
    total := 0;
    FOR c IN SELECT format('%I.%I', ch.schema_name, ch.table_name) AS t
               FROM _timescaledb_catalog.chunk ch JOIN _timescaledb_catalog.chunk ch2 ON ch2.compressed_chunk_id = ch.id
               JOIN _timescaledb_catalog.hypertable ht ON ht.id = ch2.hypertable_id WHERE ht.table_name = h LOOP
      EXECUTE format('SELECT coalesce(sum(pg_column_size(volume)), 0) FROM %s', c.t) INTO r;
      total := total + (r.coalesce)::bigint;
    END LOOP;
    RAISE NOTICE '% volume column: % bytes, % bytes/bar', h, total, round(total / 100000.0, 2);
  END LOOP;
END $$;
\c postgres
DROP DATABASE vol_bench_symbols;
