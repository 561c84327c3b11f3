#!/usr/bin/env bash
# careflow's search benchmark: starts the default database (scripts/db.sh), builds careflow and
# careflow-bench, starts a careflow server on a free loopback port with its own database, then runs
# `careflow-bench search`: it loads BENCH_PATIENTS synthetic patients (fhir/synth) with all their related
# resources straight through careflow's storage layer, times six coordinator searches over HTTP and the
# equivalent raw MongoDB finds, and prints the results as Markdown. Non-interactive; the server, the build
# directory and (unless kept) the database are removed on exit, also on failure or Ctrl-C. Extra arguments
# go to `careflow-bench search` (e.g. --deep-page 100). scripts/bench-workflows.sh runs this script with
# BENCH_SUBCOMMAND=workflows (the same load, then the $worklist/$summary cases instead of the searches).
#
# Environment (defaults):
#   BENCH_PATIENTS=10000     patients to load (about 9.3 resources each)
#   BENCH_SEED=1             seed of the generated data set
#   BENCH_REQUESTS=20        timed requests per query and side
#   BENCH_WARMUP=2           untimed requests per query and side first
#   BENCH_MAX_QUERY_TIME=    e.g. 3m: stop timing a query after that long (at least 3 rounds), for slow
#                            scans on large data sets (FerretDB scans; at 10,000 patients one request can take 30 s)
#   BENCH_LOAD_CONCURRENCY=8 concurrent writers while loading
#   BENCH_DB=                an existing database to reuse (loaded by an earlier run with BENCH_KEEP_DB=1):
#                            the load is skipped when it holds the whole data set; it is kept afterwards
#   BENCH_KEEP_DB=0          1: keep the database afterwards (its name is printed), to reuse it with BENCH_DB
#   BENCH_LOG_LEVEL=info     the server's log level (info logs one line per request, as in production)
#   BENCH_READY_TIMEOUT=90   seconds to wait for the server's /readyz
#   CAREFLOW_MONGODB_URI     a MongoDB server to use instead of scripts/db.sh (its path is ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

PATIENTS=${BENCH_PATIENTS:-10000}
SEED=${BENCH_SEED:-1}
REQUESTS=${BENCH_REQUESTS:-20}
WARMUP=${BENCH_WARMUP:-2}
MAX_QUERY_TIME=${BENCH_MAX_QUERY_TIME:-}
LOAD_CONCURRENCY=${BENCH_LOAD_CONCURRENCY:-8}
REUSE_DB=${BENCH_DB:-}
KEEP_DB=${BENCH_KEEP_DB:-0}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-90}

SUB=${BENCH_SUBCOMMAND:-search} # search or workflows: the careflow-bench subcommand
case "$SUB" in search|workflows) ;; *) echo "BENCH_SUBCOMMAND must be search or workflows" >&2; exit 2 ;; esac
log() { printf 'bench-%s.sh: %s\n' "$SUB" "$*" >&2; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

work=$(mktemp -d "${TMPDIR:-/tmp}/careflow-bench-$SUB.XXXXXX")
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
drop_db=0 # 1 once the server may have created the database; the cleanup then drops it unless kept
cleanup() {
  stop_server
  if [ "$drop_db" = 1 ] && [ "$KEEP_DB" != 1 ] && [ -x "$work/careflow-bench" ]; then
    "$work/careflow-bench" "$SUB" --mongodb-uri "$db_uri" --drop-only </dev/null || log "could not drop the database $db_name"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The database: the caller's MongoDB, or the default FerretDB started (idempotently) by scripts/db.sh.
bench_database
if [ -n "$REUSE_DB" ]; then
  db_name=$REUSE_DB
  KEEP_DB=1
else
  db_name="careflow_bench_${SUB}_$(date +%s)_$$"
fi
db_uri="$uri_hosts/$db_name${uri_query:+?$uri_query}"

bench_build

bench_start_server "$db_uri"

# The server created the collections' indexes at start-up; careflow-bench opens the same store (it only
# creates missing indexes), loads through it, then queries the server.
extra=()
[ -n "$REUSE_DB" ] && extra+=(--reuse)
[ -n "$MAX_QUERY_TIME" ] && extra+=(--max-query-time "$MAX_QUERY_TIME")
[ "$KEEP_DB" = 1 ] || extra+=(--drop-db)
# The database's CPU time: FerretDB and the PostgreSQL postmaster (with its backends), from the pid files
# of scripts/db.sh (same locations as there).
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
command="BENCH_PATIENTS=$PATIENTS BENCH_SEED=$SEED BENCH_REQUESTS=$REQUESTS BENCH_WARMUP=$WARMUP${MAX_QUERY_TIME:+ BENCH_MAX_QUERY_TIME=$MAX_QUERY_TIME}${REUSE_DB:+ BENCH_DB=$REUSE_DB} scripts/bench-$SUB.sh${*:+ $*}"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
{
  echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(grep -m1 MemTotal /proc/meminfo | awk '{printf "%.0f GiB RAM", $2/1048576}'), $(go version | cut -d' ' -f3-), $(uname -sr); load average before the run: $load_before"
  if rev=$(git rev-parse --short HEAD 2>/dev/null); then
    git diff-index --quiet HEAD -- 2>/dev/null || rev="$rev + uncommitted changes"
    echo "- careflow: $rev"
  fi
  echo "- database: $uri_hosts/$db_name ($( [ -n "${CAREFLOW_MONGODB_URI:-}" ] && echo "caller's MongoDB" || echo "FerretDB v1.24.2 on PostgreSQL 15 via scripts/db.sh" )); server log level $LOG_LEVEL"
  echo
} >"$work/report.md"
status=0
"$work/careflow-bench" "$SUB" --base "http://127.0.0.1:$port/fhir" --mongodb-uri "$db_uri" \
  --patients "$PATIENTS" --seed "$SEED" --requests "$REQUESTS" --warmup "$WARMUP" \
  --load-concurrency "$LOAD_CONCURRENCY" --server-pid "$server_pid" --command "$command" \
  "${extra[@]}" "$@" </dev/null >>"$work/report.md" || status=$?
stop_server
if grep -q '"level":"ERROR"' "$work/server.log"; then
  log "the server logged errors:"; grep '"level":"ERROR"' "$work/server.log" | head -5 >&2
fi
[ "$KEEP_DB" = 1 ] && log "kept the database $db_name (reuse it with BENCH_DB=$db_name)"
cat "$work/report.md"
[ "$status" = 0 ] || { log "careflow-bench $SUB failed (exit $status)"; exit "$status"; }
