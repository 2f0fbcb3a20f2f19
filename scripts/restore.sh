#!/usr/bin/env bash
# Restores an archive of scripts/backup.sh into an EMPTY database (create it
# first: CREATE DATABASE ...), then start the service on it: its migrations
# are already recorded, so it serves the restored data as it was.
#
#   DATABASE_URL=postgres://user:pw@host:5432/market_data_restored scripts/restore.sh backup.dump
#
# On TimescaleDB the extension must be installed on the target server in the
# version the backup was taken with (see OUTPUT_FILE.versions); the restore
# runs between timescaledb_pre_restore() and timescaledb_post_restore() as
# TimescaleDB requires. On plain PostgreSQL it is one transaction: all or nothing.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: DATABASE_URL=postgres://... $0 BACKUP_FILE" >&2
  exit 2
fi
: "${DATABASE_URL:?DATABASE_URL must point at the empty database to restore into}"
file=$1
[ -r "$file" ] || { echo "cannot read $file" >&2; exit 2; }

psql_q() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# Never restore over data: a second copy of every row would fail half-way.
if [ "$(psql_q -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")" != "0" ]; then
  echo "restore refused: the target database already has tables; restore into an empty database" >&2
  exit 1
fi

if pg_restore --list "$file" | grep -q 'EXTENSION - timescaledb'; then
  psql_q -c 'CREATE EXTENSION IF NOT EXISTS timescaledb' -c 'SELECT timescaledb_pre_restore()' >/dev/null
  # post_restore also when pg_restore fails, so the database does not stay in restoring mode.
  status=0
  pg_restore --no-owner --no-privileges --exit-on-error --dbname="$DATABASE_URL" "$file" || status=$?
  psql_q -c 'SELECT timescaledb_post_restore()' >/dev/null
  [ "$status" -eq 0 ] || { echo "pg_restore failed (exit $status)" >&2; exit "$status"; }
else
  pg_restore --no-owner --no-privileges --exit-on-error --single-transaction \
    --dbname="$DATABASE_URL" "$file"
fi
# Planner statistics are not part of a dump.
psql_q -c 'ANALYZE' >/dev/null
echo "restored $file"
