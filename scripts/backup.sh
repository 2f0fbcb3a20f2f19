#!/usr/bin/env bash
# Logical backup of the service's database (server mode): every table of it in
# one pg_dump archive (custom format): market_data_ts with its partitions or,
# on TimescaleDB, its hypertable chunks (compressed ones included),
# storage_metadata_ts, storage_configurations, storage_statistics and
# schema_migrations. Consistent: pg_dump reads one snapshot while the service
# keeps running. Restore with scripts/restore.sh into an empty database.
#
#   DATABASE_URL=postgres://user:pw@host:5432/market_data scripts/backup.sh backup.dump
#
# The embedded engine (no DATABASE_URL) is backed up by copying DATA_DIR while
# the service is stopped (docs/operations.md).
#
# On TimescaleDB with the rollups (continuous aggregates), pg_dump warns
#   pg_dump: warning: there are circular foreign-key constraints on this table:
#   pg_dump: detail: continuous_agg
# and two hints about --data-only dumps. Expected and harmless: TimescaleDB's
# own catalog tables reference each other, and this is a full dump, restored
# between timescaledb_pre_restore() and timescaledb_post_restore()
# (scripts/restore.sh). Anything else pg_dump prints is worth reading.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: DATABASE_URL=postgres://... $0 OUTPUT_FILE" >&2
  exit 2
fi
: "${DATABASE_URL:?DATABASE_URL must point at the database to back up}"
out=$1

# What the archive needs on restore: the same major PostgreSQL and, on
# TimescaleDB, the same extension version (timescaledb_pre_restore docs;
# restore.sh reads the timescaledb line and refuses a target without it).
versions=$(psql "$DATABASE_URL" -XAt -v ON_ERROR_STOP=1 -c "
  SELECT 'server_version=' || current_setting('server_version')
  UNION ALL
  SELECT 'timescaledb=' || coalesce((SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), 'none')")

# Written beside OUTPUT_FILE first: a failed dump never leaves a file that looks like a backup.
partial="$out.partial"
trap 'rm -f "$partial"' EXIT
pg_dump --format=custom --no-owner --no-privileges --file="$partial" "$DATABASE_URL"
# Readable as restore.sh reads it (its table of contents), or no backup.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$out"
printf '%s\n' "$versions" >"$out.versions"
echo "backup written to $out ($(du -h "$out" | cut -f1)); ${versions//$'\n'/ }"
