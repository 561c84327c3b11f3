#!/usr/bin/env bash
# careflow's default database: FerretDB v1.24.2 (MongoDB wire protocol) on a private PostgreSQL 15 cluster,
# both on loopback. Installs what is missing (PostgreSQL from apt, FerretDB built from the Go module proxy),
# idempotently. Production deployments point careflow at real MongoDB instead (CAREFLOW_MONGODB_URI).
#
#   scripts/db.sh start    install if needed, start both, wait until ready, print the MongoDB URI
#   scripts/db.sh stop     stop both
#   scripts/db.sh status   exit 0 when FerretDB answers
#   scripts/db.sh uri      print the MongoDB URI
#
# Environment: CAREFLOW_DB_DIR (state, default ~/.cache/careflow), CAREFLOW_PG_PORT (default 54329),
# CAREFLOW_FERRET_PORT (default 27017).
set -euo pipefail

FERRET_VERSION=v1.24.2
PG_VERSION=15
STATE_DIR=${CAREFLOW_DB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/careflow}
PG_PORT=${CAREFLOW_PG_PORT:-54329}
FERRET_PORT=${CAREFLOW_FERRET_PORT:-27017}
FERRET_BIN=$STATE_DIR/bin/ferretdb-$FERRET_VERSION
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
URI="mongodb://127.0.0.1:$FERRET_PORT/"

log() { printf 'db.sh: %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL refuses to run as root: as root the cluster belongs to the postgres user.
if [ "$(id -u)" -eq 0 ]; then
  PG_USER=postgres
  PG_DATA=/var/lib/postgresql/careflow-$PG_VERSION
  pg() { runuser -u postgres -- "$@"; }
else
  PG_USER=$(id -un)
  PG_DATA=$STATE_DIR/pg-$PG_VERSION
  pg() { "$@"; }
fi
PG_LOG=$PG_DATA.log

install_postgres() {
  [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ] && return 0
  log "installing PostgreSQL $PG_VERSION from apt"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "postgresql-$PG_VERSION" >/dev/null
  # The Debian package starts its own 'main' cluster on 5432; we do not use it.
  as_root pg_ctlcluster "$PG_VERSION" main stop 2>/dev/null || true
}

build_ferretdb() {
  [ -x "$FERRET_BIN" ] && return 0
  log "building FerretDB $FERRET_VERSION (first time only, a few minutes)"
  mkdir -p "$STATE_DIR/bin"
  local src; src=$(mktemp -d)
  # The module zip from the proxy lacks build/version/version.txt content, so a plain
  # 'go install' panics at start; build from a writable copy with the version written in.
  local dir
  dir=$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRET_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { log "could not download FerretDB"; exit 1; }
  cp -r "$dir" "$src/ferretdb"
  chmod -R u+w "$src/ferretdb"
  echo "$FERRET_VERSION" > "$src/ferretdb/build/version/version.txt"
  (cd "$src/ferretdb" && CGO_ENABLED=0 go build -trimpath -o "$FERRET_BIN.tmp" ./cmd/ferretdb)
  mv "$FERRET_BIN.tmp" "$FERRET_BIN"
  rm -rf "$src"
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; }

start_postgres() {
  if pg_ready; then return 0; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "creating PostgreSQL cluster in $PG_DATA (port $PG_PORT)"
    if [ "$(id -u)" -eq 0 ]; then mkdir -p "$PG_DATA"; chown postgres:postgres "$PG_DATA"; chmod 700 "$PG_DATA"; fi
    pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DATA'
fsync = on
shared_buffers = 256MB
max_connections = 200
CONF
  fi
  if [ "$(id -u)" -eq 0 ]; then touch "$PG_LOG"; chown postgres:postgres "$PG_LOG"; fi
  pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null
  pg_ready || { log "PostgreSQL did not start; see $PG_LOG"; exit 1; }
  if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atqc "select 1 from pg_database where datname='ferretdb'" | grep -q 1; then
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres ferretdb
  fi
}

ferret_ready() { (exec 3<>"/dev/tcp/127.0.0.1/$FERRET_PORT") 2>/dev/null; }

start_ferretdb() {
  if ferret_ready; then return 0; fi
  mkdir -p "$STATE_DIR"
  log "starting FerretDB on 127.0.0.1:$FERRET_PORT"
  nohup "$FERRET_BIN" --handler=postgresql \
    --postgresql-url="postgres://postgres@127.0.0.1:$PG_PORT/ferretdb" \
    --listen-addr="127.0.0.1:$FERRET_PORT" --debug-addr=- --telemetry=disable --log-level=warn --state-dir="$STATE_DIR" \
    >>"$STATE_DIR/ferretdb.log" 2>&1 </dev/null &
  echo $! > "$STATE_DIR/ferretdb.pid"
  for _ in $(seq 1 300); do
    ferret_ready && return 0
    kill -0 "$(cat "$STATE_DIR/ferretdb.pid")" 2>/dev/null || { log "FerretDB exited; see $STATE_DIR/ferretdb.log"; tail -20 "$STATE_DIR/ferretdb.log" >&2; exit 1; }
    sleep 0.1
  done
  log "FerretDB not ready after 30 s; see $STATE_DIR/ferretdb.log"; exit 1
}

case "${1:-start}" in
  start)
    install_postgres
    build_ferretdb
    start_postgres
    start_ferretdb
    echo "$URI"
    ;;
  stop)
    if [ -f "$STATE_DIR/ferretdb.pid" ]; then kill "$(cat "$STATE_DIR/ferretdb.pid")" 2>/dev/null || true; rm -f "$STATE_DIR/ferretdb.pid"; fi
    if [ -f "$PG_DATA/postmaster.pid" ]; then pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true; fi
    ;;
  status) ferret_ready ;;
  uri) echo "$URI" ;;
  *) echo "usage: $0 start|stop|status|uri" >&2; exit 2 ;;
esac
