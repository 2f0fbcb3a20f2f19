-- Rollups on plain PostgreSQL (issue 16, item 3; docs/rollups.md "Plain
-- PostgreSQL"): the same four levels as the continuous aggregates of
-- 20261126150000_rollups.sql, kept in one ordinary table by the service's
-- rollup refresh task, with the same columns and exactness rules. Every
-- answer stays the raw derivation: buckets at or past the watermark, and
-- those of a change the refresh has not taken in yet, are computed from the
-- minutes at read time. A change is logged by statement triggers on
-- market_data_ts (per statement, one row per instrument and UTC day it
-- touched: the span of its minutes there), in the writing transaction, so a read sees a write and its
-- log row together. TimescaleDB gets nothing here: its invalidation logs do
-- this job.

-- migrate:up
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    RETURN;
  END IF;

  -- One row per (instrument, level, bucket), built from the ONE_MINUTE bars.
  CREATE TABLE market_data_rollups (
    instrument_id       text        NOT NULL,
    timeframe           text        NOT NULL,
    bucket              timestamptz NOT NULL,
    open_price          numeric     NOT NULL,
    high_price          numeric     NOT NULL,
    low_price           numeric     NOT NULL,
    close_price         numeric     NOT NULL,
    volume              numeric     NOT NULL,
    dollar_volume_sum   numeric,
    dollar_volume_count bigint      NOT NULL,
    trade_count_sum     numeric,
    trade_count_count   bigint      NOT NULL,
    bar_count           bigint      NOT NULL,
    PRIMARY KEY (instrument_id, timeframe, bucket)
  );

  -- Minutes written, corrected or deleted: [lo, hi] of one instrument, until a refresh takes them in.
  CREATE TABLE market_data_rollup_changes (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instrument_id text        NOT NULL,
    lo            timestamptz NOT NULL,
    hi            timestamptz NOT NULL
  );
  CREATE INDEX market_data_rollup_changes_instrument ON market_data_rollup_changes (instrument_id, lo);

  -- Every bucket before materialized_until is in market_data_rollups (save logged changes).
  CREATE TABLE market_data_rollup_watermark (
    only_row           boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    materialized_until timestamptz
  );
  INSERT INTO market_data_rollup_watermark (materialized_until) VALUES (NULL);

  CREATE FUNCTION market_data_log_rollup_changes() RETURNS trigger LANGUAGE plpgsql AS $fn$
  BEGIN
    INSERT INTO market_data_rollup_changes (instrument_id, lo, hi)
    SELECT instrument_id, min("timestamp"), max("timestamp")
      FROM changed_rows WHERE timeframe = 'ONE_MINUTE'
     GROUP BY instrument_id, date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '1970-01-01T00:00:00Z');
    RETURN NULL;
  END
  $fn$;

  -- A TRUNCATE leaves nothing to roll up.
  CREATE FUNCTION market_data_truncate_rollups() RETURNS trigger LANGUAGE plpgsql AS $fn$
  BEGIN
    TRUNCATE market_data_rollups, market_data_rollup_changes;
    UPDATE market_data_rollup_watermark SET materialized_until = NULL;
    RETURN NULL;
  END
  $fn$;

  CREATE TRIGGER rollup_changes_insert AFTER INSERT ON market_data_ts
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION market_data_log_rollup_changes();
  -- An update logs where the rows were and where they are.
  CREATE TRIGGER rollup_changes_update_old AFTER UPDATE ON market_data_ts
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION market_data_log_rollup_changes();
  CREATE TRIGGER rollup_changes_update_new AFTER UPDATE ON market_data_ts
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION market_data_log_rollup_changes();
  CREATE TRIGGER rollup_changes_delete AFTER DELETE ON market_data_ts
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION market_data_log_rollup_changes();
  CREATE TRIGGER rollup_truncate AFTER TRUNCATE ON market_data_ts
    FOR EACH STATEMENT EXECUTE FUNCTION market_data_truncate_rollups();
END
$$;

-- migrate:down
DROP TRIGGER IF EXISTS rollup_changes_insert ON market_data_ts;
DROP TRIGGER IF EXISTS rollup_changes_update_old ON market_data_ts;
DROP TRIGGER IF EXISTS rollup_changes_update_new ON market_data_ts;
DROP TRIGGER IF EXISTS rollup_changes_delete ON market_data_ts;
DROP TRIGGER IF EXISTS rollup_truncate ON market_data_ts;
DROP FUNCTION IF EXISTS market_data_log_rollup_changes();
DROP FUNCTION IF EXISTS market_data_truncate_rollups();
DROP TABLE IF EXISTS market_data_rollup_watermark;
DROP TABLE IF EXISTS market_data_rollup_changes;
DROP TABLE IF EXISTS market_data_rollups;
