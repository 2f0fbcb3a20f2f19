-- The trading session an instrument declares (docs/research-reads.md
-- "Session bars"): its ONE_HOUR and ONE_DAY reads are session-aligned by
-- default, and its daily bars may be stored at the session's opening. Either
-- a calendar name (resolved at read time, so a changed SESSION_CALENDARS
-- applies) or a zone with local opening and closing minutes. Metadata, read
-- with raw SQL by one repository; no entity.

-- migrate:up
CREATE TABLE IF NOT EXISTS instrument_sessions (
  instrument_id text PRIMARY KEY,
  tz text,
  open_minutes integer CHECK (open_minutes BETWEEN 0 AND 1439),
  close_minutes integer CHECK (close_minutes BETWEEN 1 AND 1440),
  calendar text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((calendar IS NULL) = (tz IS NOT NULL AND open_minutes IS NOT NULL AND close_minutes IS NOT NULL))
);

-- migrate:down
DROP TABLE IF EXISTS instrument_sessions;
