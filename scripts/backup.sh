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
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: DATABASE_URL=postgres://... $0 OUTPUT_FILE" >&2
  exit 2
fi
: "${DATABASE_URL:?DATABASE_URL must point at the database to back up}"
out=$1

# What the archive needs on restore: the same major PostgreSQL and, on
# TimescaleDB, the same extension version (timescaledb_pre_restore docs).
versions=$(psql "$DATABASE_URL" -XAt -v ON_ERROR_STOP=1 -c "
  SELECT 'server_version=' || current_setting('server_version')
  UNION ALL
  SELECT 'timescaledb=' || coalesce((SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), 'none')")

pg_dump --format=custom --no-owner --no-privileges --file="$out" "$DATABASE_URL"
printf '%s\n' "$versions" >"$out.versions"
echo "backup written to $out ($(du -h "$out" | cut -f1)); $(echo "$versions" | tr '\n' ' ')"
