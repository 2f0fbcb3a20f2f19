#!/usr/bin/env bash
# Restores an archive of scripts/backup.sh into an EMPTY database (create it
# first: CREATE DATABASE ...), then start the service on it: its migrations
# are already recorded, so it serves the restored data as it was.
#
#   DATABASE_URL=postgres://user:pw@host:5432/market_data_restored scripts/restore.sh backup.dump
#
# Whether the archive is of a TimescaleDB database is read from the archive
# itself (its table of contents creates the extension) and, when backup.sh's
# BACKUP_FILE.versions lies beside it, checked against that file. On
# TimescaleDB the extension must be installed and preloaded on the target
# server in the version the backup was taken with (BACKUP_FILE.versions); the
# restore runs between timescaledb_pre_restore() and timescaledb_post_restore()
# as TimescaleDB requires. On plain PostgreSQL it is one transaction: all or
# nothing. Every refusal is one line on stderr, before the target is touched.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: DATABASE_URL=postgres://... $0 BACKUP_FILE" >&2
  exit 2
fi
: "${DATABASE_URL:?DATABASE_URL must point at the empty database to restore into}"
file=$1
refuse() {
  echo "restore refused: $2" >&2
  exit "$1"
}
[ -r "$file" ] || refuse 2 "cannot read $file"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The table of contents goes to a file before anything reads it. Piped into
# `grep -q`, grep stopped at the first match, pg_restore died of SIGPIPE
# writing the rest, and under pipefail the pipeline failed: most TimescaleDB
# archives were then restored as plain PostgreSQL, without
# timescaledb_pre_restore(), and failed half-way ("could not find hypertable").
if ! pg_restore --list "$file" >"$tmp/toc" 2>"$tmp/err"; then
  reason=$(sed -n 's/^pg_restore: error: //p' "$tmp/err" | head -n 1)
  refuse 2 "cannot list $file as a pg_dump archive: ${reason:-pg_restore --list failed}"
fi
# The extension's entry: "<dump id>; <catalog oid> <oid> EXTENSION - timescaledb <owner>".
found=0
grep -Eq '^[0-9]+; [0-9]+ [0-9]+ EXTENSION - timescaledb( |$)' "$tmp/toc" || found=$?
case $found in
  0) timescale=yes ;;
  1) timescale=no ;;
  *) refuse 2 "cannot read the table of contents of $file" ;;
esac

# What backup.sh recorded, when its versions file is there: it must agree with the archive.
version=
if [ -r "$file.versions" ]; then
  recorded=$(sed -n 's/^timescaledb=//p' "$file.versions")
  if [ "$timescale" = yes ] && [ "$recorded" = none ]; then
    refuse 2 "$file creates the timescaledb extension, but $file.versions says timescaledb=none: not the versions file of this archive"
  elif [ "$timescale" = no ] && [ -n "$recorded" ] && [ "$recorded" != none ]; then
    refuse 2 "$file.versions says timescaledb=$recorded, but $file has no timescaledb extension: not the versions file of this archive"
  elif [ "$timescale" = yes ]; then
    [[ $recorded =~ ^[0-9]+(\.[0-9]+)*(-[A-Za-z0-9.]+)?$ ]] ||
      refuse 2 "$file.versions has no readable timescaledb=VERSION line"
    version=$recorded
  fi
fi

# No NOTICE chatter (CREATE EXTENSION IF NOT EXISTS, ...): only what goes wrong is printed.
psql_q() { PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# Never restore over data: a second copy of every row would fail half-way.
# (An assignment, so that a failed connection stops here with psql's own line.)
tables=$(psql_q -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")
[ "$tables" = 0 ] || refuse 1 "the target database already has tables; restore into an empty database"

if [ "$timescale" = yes ]; then
  # The server must offer the backup's version and load the library at start
  # (without the preload, CREATE EXTENSION ends the session with a FATAL).
  # shared_preload_libraries is visible to superusers and pg_read_all_settings
  # only; for other roles that check is left to CREATE EXTENSION.
  server=$(psql_q -c "
    SELECT coalesce((SELECT string_agg(version, ',' ORDER BY version) FROM pg_available_extension_versions
                      WHERE name = 'timescaledb'), ''),
           coalesce((SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'), '?')")
  IFS='|' read -r available preload <<<"$server"
  [ -n "$available" ] ||
    refuse 1 "$file is a TimescaleDB backup, but the target server has no TimescaleDB: install TimescaleDB${version:+ $version} there"
  preloaded='(^|,)"?timescaledb(-[^,"]*)?"?(,|$)'
  if [ "$preload" != '?' ] && ! [[ ${preload// /} =~ $preloaded ]]; then
    refuse 1 "$file is a TimescaleDB backup, but the target server does not preload TimescaleDB: add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL"
  fi
  if [ -n "$version" ] && [[ ",$available," != *",$version,"* ]]; then
    refuse 1 "$file was taken with TimescaleDB $version; the target server offers $available: install TimescaleDB $version there"
  fi
  psql_q -c "CREATE EXTENSION IF NOT EXISTS timescaledb${version:+ VERSION '$version'}" >/dev/null
  created=$(psql_q -c "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
  if [ -n "$version" ] && [ "$created" != "$version" ]; then
    refuse 1 "the target database has TimescaleDB $created, but $file was taken with $version; restore into a database without the extension"
  fi
  psql_q -c 'SELECT timescaledb_pre_restore()' >/dev/null
  # post_restore also when pg_restore fails, so the database does not stay in restoring mode.
  status=0
  pg_restore --no-owner --no-privileges --exit-on-error --dbname="$DATABASE_URL" "$file" || status=$?
  psql_q -c 'SELECT timescaledb_post_restore()' >/dev/null
  if [ "$status" -ne 0 ]; then
    echo "restore failed: pg_restore exit $status; the target database is incomplete: drop it and restore into a new one" >&2
    exit "$status"
  fi
  engine="TimescaleDB $created"
else
  pg_restore --no-owner --no-privileges --exit-on-error --single-transaction \
    --dbname="$DATABASE_URL" "$file" || {
    status=$?
    echo "restore failed: pg_restore exit $status; nothing was restored (one transaction)" >&2
    exit "$status"
  }
  engine="PostgreSQL"
fi
# Planner statistics are not part of a dump.
psql_q -c 'ANALYZE' >/dev/null
echo "restored $file ($engine)"
