#!/usr/bin/env bash
# A streaming read replica of the PostgreSQL 15 cluster on 127.0.0.1:5432,
# made with `pg_basebackup -R` and served on 127.0.0.1:5435 (hot standby), for
# DATABASE_READ_URL and test/read-replica.e2e-spec.ts. Idempotent; run as root
# (the server runs as user postgres). About 1 s when the replica already
# streams (then it does nothing), a few seconds to build it.
#
#   scripts/start-read-replica.sh          # prints postgres://postgres@127.0.0.1:5435/postgres
#   scripts/start-read-replica.sh --stop
#
# What the primary must allow: wal_level replica or logical (the default;
# changing it needs a restart, which this script never does: it fails
# instead), max_wal_senders > 0, and a `replication` entry in pg_hba.conf for
# 127.0.0.1. When that entry is missing the script appends
# `host replication all 127.0.0.1/32 trust` to the primary's pg_hba.conf and
# reloads it (pg_reload_conf(): no restart, no dropped session).
#
# Environment (optional): PRIMARY_PORT (5432), REPLICA_PORT (5435),
# REPLICA_DATA (/var/lib/postgresql/replica-$REPLICA_PORT).
set -euo pipefail

PRIMARY_PORT=${PRIMARY_PORT:-5432}
PORT=${REPLICA_PORT:-5435}
DATA=${REPLICA_DATA:-/var/lib/postgresql/replica-$PORT}
BIN=/usr/lib/postgresql/15/bin
LOGFILE=/var/log/postgresql/replica-$PORT.log
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

log() { echo "[read-replica] $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
[ "$(id -u)" -eq 0 ] || die "run as root"
as_pg() { runuser -u postgres -- "$@"; }
primary() { PGCONNECT_TIMEOUT=3 psql -X -q -At -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres "$@"; }
replica() { PGCONNECT_TIMEOUT=3 psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }
running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
stop() { if running; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi; }

# A standby that replays from the primary right now.
streaming() {
  [ "$(replica -c "SELECT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')" 2>/dev/null)" = t ]
}

if [ "${1:-}" = --stop ]; then
  stop
  log "stopped"
  exit 0
fi

if streaming; then
  log "the replica on 127.0.0.1:$PORT already streams from 127.0.0.1:$PRIMARY_PORT"
  echo "$URL"
  exit 0
fi

[ -x "$BIN/pg_basebackup" ] || die "$BIN/pg_basebackup is missing (apt-get install postgresql-15)"
primary -c 'SELECT 1' >/dev/null || die "the primary on 127.0.0.1:$PRIMARY_PORT does not answer"

wal_level=$(primary -c 'SHOW wal_level')
case "$wal_level" in
  replica | logical) ;;
  *) die "the primary's wal_level is $wal_level: set it to replica and restart the primary (this script does not)" ;;
esac
[ "$(primary -c 'SHOW max_wal_senders')" -gt 0 ] || die "the primary's max_wal_senders is 0"

# The replication entry: tried with a replication connection, added when refused.
replication_allowed() {
  PGCONNECT_TIMEOUT=3 psql -X -q -At "host=127.0.0.1 port=$PRIMARY_PORT user=postgres dbname=postgres replication=true" \
    -c IDENTIFY_SYSTEM >/dev/null 2>&1
}
if ! replication_allowed; then
  hba=$(primary -c 'SHOW hba_file')
  log "adding 'host replication all 127.0.0.1/32 trust' to $hba and reloading the primary"
  printf '\n# Added by scripts/start-read-replica.sh: the local streaming replica on %s.\nhost replication all 127.0.0.1/32 trust\n' "$PORT" >>"$hba"
  primary -c 'SELECT pg_reload_conf()' >/dev/null
  for _ in $(seq 1 20); do
    replication_allowed && break
    sleep 0.2
  done
  replication_allowed || die "the primary still refuses replication connections from 127.0.0.1 (see $hba)"
fi

# A standby must allow at least as much as its primary (else it refuses to start).
settings=$(primary -F ' ' -c "SELECT name, setting FROM pg_settings WHERE name IN
  ('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction')")

start() {
  mkdir -p "$(dirname "$LOGFILE")"
  touch "$LOGFILE" && chown postgres: "$LOGFILE"
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 30 start >/dev/null
}

wait_streaming() {
  for _ in $(seq 1 50); do
    streaming && return 0
    sleep 0.2
  done
  return 1
}

# A replica already built: started again (it catches up from the primary's WAL).
if [ -f "$DATA/standby.signal" ]; then
  running || start || true
  if wait_streaming; then
    log "restarted the replica on 127.0.0.1:$PORT"
    echo "$URL"
    exit 0
  fi
  # The WAL it needs is gone from the primary, or the directory is broken: build it again.
  log "the replica in $DATA does not stream (see $LOGFILE): building it again"
  stop || true
fi

log "building the replica in $DATA with pg_basebackup -R from 127.0.0.1:$PRIMARY_PORT"
rm -rf "$DATA"
mkdir -p "$DATA"
chown postgres: "$DATA"
chmod 700 "$DATA"
as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$DATA" -R -X stream -c fast
# Debian keeps the primary's configuration in /etc: the copy has none of its own.
{
  echo "# Written by scripts/start-read-replica.sh"
  echo "port = $PORT"
  echo "listen_addresses = '127.0.0.1'"
  echo "unix_socket_directories = '/var/run/postgresql'"
  echo "hot_standby = on"
  # Fewer read queries cancelled by the primary's vacuum.
  echo "hot_standby_feedback = on"
  echo "hba_file = '$DATA/pg_hba.conf'"
  echo "ident_file = '$DATA/pg_ident.conf'"
  echo "$settings" | while read -r name value; do echo "$name = $value"; done
} >"$DATA/postgresql.conf"
printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$DATA/pg_hba.conf"
: >"$DATA/pg_ident.conf"
chown postgres: "$DATA/postgresql.conf" "$DATA/pg_hba.conf" "$DATA/pg_ident.conf"
start
wait_streaming || die "the replica started but does not stream (see $LOGFILE)"
log "the replica on 127.0.0.1:$PORT streams from 127.0.0.1:$PRIMARY_PORT"
echo "$URL"
