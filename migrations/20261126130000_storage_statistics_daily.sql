-- storage_statistics becomes one row a day, so that every instance can add its
-- flushed query counters to the day's row (INSERT ... ON CONFLICT (date)), and
-- records when the day's sizes were last measured. storage_metadata_ts gets an
-- index on its measurement time: the statistics endpoint reads the rows of the
-- newest measurement, and the table grows by one row per series per refresh.

-- migrate:up
-- Nothing wrote storage_statistics before this migration; should a day have
-- several rows anyway, its newest one is kept.
DELETE FROM storage_statistics older
 USING storage_statistics newer
 WHERE older.date = newer.date
   AND (older.created_at, older.id) < (newer.created_at, newer.id);

ALTER TABLE storage_statistics
  ADD CONSTRAINT storage_statistics_date_key UNIQUE (date),
  ADD COLUMN measured_at timestamptz;

CREATE INDEX storage_metadata_ts_timestamp_idx ON storage_metadata_ts ("timestamp" DESC);

-- migrate:down
DROP INDEX IF EXISTS storage_metadata_ts_timestamp_idx;
ALTER TABLE storage_statistics
  DROP COLUMN IF EXISTS measured_at,
  DROP CONSTRAINT IF EXISTS storage_statistics_date_key;
