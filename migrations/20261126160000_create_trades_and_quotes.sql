-- Trades (a tick is a trade print) and quotes, timestamps kept to the
-- microsecond. TimescaleDB: hypertables compressed per instrument (the
-- service's TickCompressionJob compresses chunks older than 24 hours; the
-- embedded engine has no background workers). Plain PostgreSQL: monthly
-- range partitions created ahead of the data by the repositories. Length
-- limits are CHECK constraints on text (see the first migration).

-- migrate:up
DO $$
DECLARE
  trade_columns text := $cols$
    "timestamp"   timestamptz      NOT NULL,
    instrument_id text             NOT NULL CHECK (char_length(instrument_id) <= 20),
    -- The producer's trade id, or a key derived from the print (see docs/trades-and-quotes.md).
    trade_id      text             COLLATE "C" NOT NULL CHECK (char_length(trade_id) <= 64),
    price         double precision NOT NULL,
    size          double precision NOT NULL,
    conditions    text[],
    quality_score double precision NOT NULL DEFAULT 1.0,
    source        text             CHECK (char_length(source) <= 50),
    -- The only index: the upsert key, and (instrument, time, key) order for keyset pages.
    CONSTRAINT market_trades_ts_key UNIQUE (instrument_id, "timestamp", trade_id)
  $cols$;
  quote_columns text := $cols$
    "timestamp"   timestamptz      NOT NULL,
    instrument_id text             NOT NULL CHECK (char_length(instrument_id) <= 20),
    bid           double precision NOT NULL,
    ask           double precision NOT NULL,
    bid_size      double precision NOT NULL,
    ask_size      double precision NOT NULL,
    -- '' when the producer names none: one quote per instrument, venue and microsecond.
    source        text             COLLATE "C" NOT NULL DEFAULT '' CHECK (char_length(source) <= 50),
    CONSTRAINT market_quotes_ts_key UNIQUE (instrument_id, "timestamp", source)
  $cols$;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    EXECUTE format('CREATE TABLE market_trades_ts (%s)', trade_columns);
    PERFORM create_hypertable('market_trades_ts', by_range('timestamp', INTERVAL '1 day'),
                              create_default_indexes => false);
    ALTER TABLE market_trades_ts SET (
      timescaledb.compress,
      timescaledb.compress_segmentby = 'instrument_id',
      timescaledb.compress_orderby = '"timestamp", trade_id'
    );
    EXECUTE format('CREATE TABLE market_quotes_ts (%s)', quote_columns);
    PERFORM create_hypertable('market_quotes_ts', by_range('timestamp', INTERVAL '1 day'),
                              create_default_indexes => false);
    ALTER TABLE market_quotes_ts SET (
      timescaledb.compress,
      timescaledb.compress_segmentby = 'instrument_id',
      timescaledb.compress_orderby = '"timestamp", source'
    );
  ELSE
    EXECUTE format('CREATE TABLE market_trades_ts (%s) PARTITION BY RANGE ("timestamp")', trade_columns);
    EXECUTE format('CREATE TABLE market_quotes_ts (%s) PARTITION BY RANGE ("timestamp")', quote_columns);
  END IF;
END
$$;

-- migrate:down
DROP TABLE IF EXISTS market_quotes_ts CASCADE;
DROP TABLE IF EXISTS market_trades_ts CASCADE;
