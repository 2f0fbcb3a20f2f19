-- The later event wins (DESIGN 10): a bar written from a JetStream event keeps
-- the instant the stream stored that event; an event the stream stored
-- earlier (a redelivery, or another replica's slower batch) does not replace
-- it. Null for a bar written over REST or from a Redis event: those replace
-- as before. The stream's time rather than its sequence: a sequence starts
-- again at 1 when the stream is made anew, and would then keep every event
-- from correcting the bars written before (docs/decisions.md).
--
-- A nullable column without a default: no rewrite and no decompression on
-- TimescaleDB; a column of nulls costs nothing compressed. The rollups do
-- not read it.

-- migrate:up
ALTER TABLE market_data_ts ADD COLUMN IF NOT EXISTS stream_time timestamptz;

-- migrate:down
ALTER TABLE market_data_ts DROP COLUMN IF EXISTS stream_time;
