-- A series may keep its bars forever: storage_configurations.retention_days
-- NULL means no retention (docs/lifecycle.md, "Retention"). There is no cap
-- any more (RETENTION_MAX_DAYS is gone): a value is what the series keeps,
-- 1..36500 days, checked here as well as by the API.

-- migrate:up
ALTER TABLE storage_configurations ALTER COLUMN retention_days DROP NOT NULL;
ALTER TABLE storage_configurations
  ADD CONSTRAINT storage_configurations_retention_days_check
  CHECK (retention_days BETWEEN 1 AND 36500);

-- migrate:down
ALTER TABLE storage_configurations
  DROP CONSTRAINT IF EXISTS storage_configurations_retention_days_check;
-- The longest a number can say: forever becomes 100 years.
UPDATE storage_configurations SET retention_days = 36500 WHERE retention_days IS NULL;
ALTER TABLE storage_configurations ALTER COLUMN retention_days SET NOT NULL;
