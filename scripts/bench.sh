#!/usr/bin/env bash
# careflow's benchmark: starts the default database (scripts/db.sh), builds and starts a careflow server on a
# free loopback port with a throw-away database, runs cmd/careflow-bench against it (HTTP create and read,
# then the same operations straight on the database for comparison) and prints the results as Markdown.
# Non-interactive; the server, its database, the scratch database and the build directory are removed on
# exit, also on failure or Ctrl-C. Extra arguments go to careflow-bench (e.g. --mirror-indexes).
#
# Environment (defaults):
#   BENCH_REQUESTS=2000      requests per create phase (0: create phases run for BENCH_DURATION)
#   BENCH_DURATION=15s       length of each read phase
#   BENCH_CONCURRENCY=8      concurrent requests
#   BENCH_SEED=1             seed of the generated Patients
#   BENCH_LOG_LEVEL=info     the server's log level (info logs one line per request, as in production)
#   BENCH_READY_TIMEOUT=90   seconds to wait for the server's /readyz (it gives up on the database after 60)
#   BENCH_KEEP_DB=0          1: keep the server's database afterwards (its name is printed)
#   CAREFLOW_MONGODB_URI     a MongoDB server to use instead of scripts/db.sh (its path is ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

REQUESTS=${BENCH_REQUESTS:-2000}
DURATION=${BENCH_DURATION:-15s}
CONCURRENCY=${BENCH_CONCURRENCY:-8}
SEED=${BENCH_SEED:-1}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-90}
KEEP_DB=${BENCH_KEEP_DB:-0}

log() { printf 'bench.sh: %s\n' "$*" >&2; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

work=$(mktemp -d "${TMPDIR:-/tmp}/careflow-bench.XXXXXX")
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
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The database: the caller's MongoDB, or the default FerretDB started (idempotently) by scripts/db.sh.
bench_database
db_name="careflow_bench_$(date +%s)_$$"
server_uri="$uri_hosts/$db_name${uri_query:+?$uri_query}"
base_uri="$uri_hosts/${uri_query:+?$uri_query}"

bench_build

bench_start_server "$server_uri"

extra=(--drop-server-db)
[ "$KEEP_DB" = 1 ] && extra=()
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
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
{
  echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(go version | cut -d' ' -f3-), $(uname -sr); load average before the run: $load_before"
  if rev=$(git rev-parse --short HEAD 2>/dev/null); then
    git diff-index --quiet HEAD -- 2>/dev/null || rev="$rev + uncommitted changes"
    echo "- careflow: $rev"
  fi
  echo "- command: \`BENCH_REQUESTS=$REQUESTS BENCH_DURATION=$DURATION BENCH_CONCURRENCY=$CONCURRENCY BENCH_SEED=$SEED scripts/bench.sh${*:+ $*}\`"
  echo "- database: $uri_hosts ($( [ -n "${CAREFLOW_MONGODB_URI:-}" ] && echo "caller's MongoDB" || echo "FerretDB v1.24.2 on PostgreSQL 15 via scripts/db.sh" ))"
  echo
} >"$work/report.md"
"$work/careflow-bench" --base "http://127.0.0.1:$port/fhir" --mongodb-uri "$base_uri" \
  --concurrency "$CONCURRENCY" --requests "$REQUESTS" --duration "$DURATION" --seed "$SEED" \
  --server-pid "$server_pid" --server-db "$db_name" "${extra[@]}" "$@" </dev/null >>"$work/report.md"
stop_server
if grep -q '"level":"ERROR"' "$work/server.log"; then
  log "the server logged errors:"; grep '"level":"ERROR"' "$work/server.log" | head -5 >&2
fi
[ "$KEEP_DB" = 1 ] && log "kept the server's database $db_name"
cat "$work/report.md"
