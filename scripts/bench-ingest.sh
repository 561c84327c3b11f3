#!/usr/bin/env bash
# careflow's ingest benchmark: starts the default database (scripts/db.sh), builds and starts a careflow
# server on a free loopback port with a fresh database, runs `careflow-bench ingest` against it (generated
# coordinated-care patients, each POSTed as one transaction Bundle, then the same resources inserted
# straight into a scratch database with the driver, InsertOne and InsertMany) and prints the results as
# Markdown. Non-interactive; the server, its database, the scratch database and the build directory are
# removed on exit, also on failure or Ctrl-C. Extra arguments go to `careflow-bench ingest` (e.g.
# --mirror-indexes; `careflow-bench ingest -h` lists them).
#
# Environment (defaults):
#   BENCH_PATIENTS=1000      patients, one Bundle each (about 9.3 resources per Bundle)
#   BENCH_CONCURRENCY=4      Bundles in flight at once
#   BENCH_BUNDLE_TYPE=transaction   or batch: the same entries POSTed as a batch Bundle
#   BENCH_SEED=1             seed of the generated data set
#   BENCH_LOG_LEVEL=info     the server's log level (info logs one line per request, as in production)
#   BENCH_READY_TIMEOUT=90   seconds to wait for the server's /readyz (it gives up on the database after 60)
#   BENCH_KEEP_DB=0          1: keep the server's database afterwards (its name is printed)
#   CAREFLOW_MONGODB_URI     a MongoDB server to use instead of scripts/db.sh (its path is ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

PATIENTS=${BENCH_PATIENTS:-1000}
CONCURRENCY=${BENCH_CONCURRENCY:-4}
BUNDLE_TYPE=${BENCH_BUNDLE_TYPE:-transaction}
SEED=${BENCH_SEED:-1}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-90}
KEEP_DB=${BENCH_KEEP_DB:-0}

log() { printf 'bench-ingest.sh: %s\n' "$*" >&2; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

work=$(mktemp -d "${TMPDIR:-/tmp}/careflow-bench-ingest.XXXXXX")
server_pid=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    log "stopping the server (pid $server_pid)"
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
drop_db=0 # 1 once the server may have created its database; the cleanup then drops it unless kept
cleanup() {
  stop_server
  if [ "$drop_db" = 1 ] && [ "$KEEP_DB" != 1 ] && [ -x "$work/careflow-bench" ]; then
    if "$work/careflow-bench" search --mongodb-uri "$server_uri" --drop-only </dev/null; then log "dropped the database $db_name"; else log "could not drop the database $db_name"; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The database: the caller's MongoDB, or the default FerretDB started (idempotently) by scripts/db.sh.
bench_database
db_name="careflow_bench_ingest_$(date +%s)_$$"
server_uri="$uri_hosts/$db_name${uri_query:+?$uri_query}"
base_uri="$uri_hosts/${uri_query:+?$uri_query}"

bench_build

bench_start_server "$server_uri"

# The server's database is dropped by the cleanup above (after the server has stopped), the scratch
# database by careflow-bench itself.
extra=()
# The database's CPU time per request: FerretDB and the PostgreSQL postmaster (with its backends), from
# the pid files of scripts/db.sh (same locations as there).
if [ -z "${CAREFLOW_MONGODB_URI:-}" ]; then
  state_dir=${CAREFLOW_DB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/careflow}
  if [ "$(id -u)" -eq 0 ]; then pg_data=/var/lib/postgresql/careflow-15; else pg_data=$state_dir/pg-15; fi
  db_pids=""
  for f in "$state_dir/ferretdb.pid" "$pg_data/postmaster.pid"; do
    pid=$(head -1 "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then db_pids=${db_pids:+$db_pids,}$pid; fi
  done
  [ -n "$db_pids" ] && extra+=(--db-pids "$db_pids")
fi
command="BENCH_PATIENTS=$PATIENTS BENCH_CONCURRENCY=$CONCURRENCY BENCH_BUNDLE_TYPE=$BUNDLE_TYPE BENCH_SEED=$SEED scripts/bench-ingest.sh${*:+ $*}"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
{
  echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(grep -m1 MemTotal /proc/meminfo | awk '{printf "%.0f GiB RAM", $2/1048576}'), $(go version | cut -d' ' -f3-), $(uname -sr); load average before the run: $load_before"
  if rev=$(git rev-parse --short HEAD 2>/dev/null); then
    git diff-index --quiet HEAD -- 2>/dev/null || rev="$rev + uncommitted changes"
    echo "- careflow: $rev"
  fi
  echo "- database: $uri_hosts ($( [ -n "${CAREFLOW_MONGODB_URI:-}" ] && echo "caller's MongoDB" || echo "FerretDB v1.24.2 on PostgreSQL 15 via scripts/db.sh" )); server database $db_name, server log level $LOG_LEVEL"
  echo
} >"$work/report.md"
status=0
"$work/careflow-bench" ingest --base "http://127.0.0.1:$port/fhir" --mongodb-uri "$base_uri" \
  --patients "$PATIENTS" --concurrency "$CONCURRENCY" --bundle-type "$BUNDLE_TYPE" --seed "$SEED" \
  --server-pid "$server_pid" --server-db "$db_name" --command "$command" "${extra[@]}" "$@" </dev/null >>"$work/report.md" || status=$?
stop_server
if grep -q '"level":"ERROR"' "$work/server.log"; then
  log "the server logged errors:"; grep '"level":"ERROR"' "$work/server.log" | head -5 >&2
fi
[ "$KEEP_DB" = 1 ] && log "kept the server's database $db_name"
cat "$work/report.md"
[ "$status" = 0 ] || { log "careflow-bench ingest failed (exit $status)"; exit "$status"; }
