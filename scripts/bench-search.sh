#!/usr/bin/env bash
# careflow's search benchmark: builds careflow and careflow-bench, then for each store of BENCH_STORES
# (default: the embedded SQLite store, then MongoDB) loads BENCH_PATIENTS synthetic patients (fhir/synth)
# with all their related resources straight through careflow's storage layer, starts a careflow server on
# a free loopback port on that database and runs `careflow-bench search`: six coordinator searches over
# HTTP, on MongoDB each next to the equivalent raw MongoDB finds. It prints the results as Markdown, with a
# table of the sqlite/mongodb ratios when both ran. Non-interactive; the servers, the build directory and
# (unless kept) the databases are removed on exit, also on failure or Ctrl-C. Extra arguments go to
# `careflow-bench search` (e.g. --deep-page 100). scripts/bench-workflows.sh runs this script with
# BENCH_SUBCOMMAND=workflows (the same load, then the $worklist/$summary cases instead of the searches).
#
# The embedded store's file is locked by the process that opens it, so on sqlite careflow-bench loads the
# file first (`--database sqlite:PATH --load-only`: sqlite.Open, Store.Create per resource, Close, then the
# file's size after a WAL checkpoint), then the server starts on it and careflow-bench times the queries
# (`--load-stats`: the data set is generated again to choose the same parameters, not written). On MongoDB
# the load runs next to the server, as before.
#
# Environment (defaults):
#   BENCH_STORES="sqlite mongodb"  the stores to measure, in this order
#   BENCH_PATIENTS=10000     patients to load (about 9.3 resources each)
#   BENCH_PATIENTS_MONGODB=  patients on MongoDB when different (FerretDB loads ~400 resources/s and scans:
#                            e.g. 1000); the comparison table then compares different data sets (it says so)
#   BENCH_SEED=1             seed of the generated data set
#   BENCH_REQUESTS=20        timed requests per query and side
#   BENCH_WARMUP=2           untimed requests per query and side first
#   BENCH_MAX_QUERY_TIME=    e.g. 3m: stop timing a query after that long (at least 3 rounds), for slow
#                            scans on large data sets (FerretDB scans; at 10,000 patients one request can take 30 s)
#   BENCH_LOAD_CONCURRENCY=8 concurrent writers while loading
#   BENCH_SQLITE_FILE=       sqlite only: load into this file and keep it (with FILE.load.json, the load's numbers);
#                            when both exist, reuse them instead of loading (the same data set is checked), so that
#                            bench-search.sh and bench-workflows.sh can share one load. Default: a file in the
#                            temporary directory, removed on exit
#   BENCH_DB=                MongoDB only: an existing database to reuse (loaded by an earlier run with
#                            BENCH_KEEP_DB=1): the load is skipped when it holds the whole data set; it is kept afterwards
#   BENCH_KEEP_DB=0          1: keep the MongoDB database afterwards (its name is printed), to reuse it with BENCH_DB
#   BENCH_LOG_LEVEL=info     the server's log level (info logs one line per request, as in production)
#   BENCH_READY_TIMEOUT=90   seconds to wait for the server's /readyz
#   CAREFLOW_MONGODB_URI     a MongoDB server to use instead of scripts/db.sh (its path is ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

PATIENTS=${BENCH_PATIENTS:-10000}
PATIENTS_MONGODB=${BENCH_PATIENTS_MONGODB:-$PATIENTS}
SEED=${BENCH_SEED:-1}
REQUESTS=${BENCH_REQUESTS:-20}
WARMUP=${BENCH_WARMUP:-2}
MAX_QUERY_TIME=${BENCH_MAX_QUERY_TIME:-}
LOAD_CONCURRENCY=${BENCH_LOAD_CONCURRENCY:-8}
REUSE_DB=${BENCH_DB:-}
SQLITE_FILE=${BENCH_SQLITE_FILE:-}
KEEP_DB=${BENCH_KEEP_DB:-0}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-90}

SUB=${BENCH_SUBCOMMAND:-search} # search or workflows: the careflow-bench subcommand
case "$SUB" in search|workflows) ;; *) echo "BENCH_SUBCOMMAND must be search or workflows" >&2; exit 2 ;; esac
log() { printf 'bench-%s.sh: %s\n' "$SUB" "$*" >&2; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
bench_stores

work=$(mktemp -d "${TMPDIR:-/tmp}/careflow-bench-$SUB.XXXXXX")
server_pid=""
drop_db=0 # 1 once the server may have created the MongoDB database; the cleanup then drops it unless kept
db_uri=""
cleanup() {
  bench_stop_server
  if [ "$drop_db" = 1 ] && [ -n "$db_uri" ] && [ "$KEEP_DB" != 1 ] && [ -x "$work/careflow-bench" ]; then
    "$work/careflow-bench" "$SUB" --mongodb-uri "$db_uri" --drop-only </dev/null || log "could not drop the database $db_name"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case " $stores " in *" mongodb "*) bench_database ;; esac
bench_build

command="BENCH_STORES=\"$stores\" BENCH_PATIENTS=$PATIENTS${BENCH_PATIENTS_MONGODB:+ BENCH_PATIENTS_MONGODB=$PATIENTS_MONGODB} BENCH_SEED=$SEED BENCH_REQUESTS=$REQUESTS BENCH_WARMUP=$WARMUP${MAX_QUERY_TIME:+ BENCH_MAX_QUERY_TIME=$MAX_QUERY_TIME}${REUSE_DB:+ BENCH_DB=$REUSE_DB}${SQLITE_FILE:+ BENCH_SQLITE_FILE=$SQLITE_FILE} BENCH_LOAD_CONCURRENCY=$LOAD_CONCURRENCY scripts/bench-$SUB.sh${*:+ $*}"
{
  bench_machine
  echo "- command: \`$command\`; server log level $LOG_LEVEL"
} >"$work/report.md"

status=0
for store in $stores; do
  server_log=$work/server-$store.log
  common=(--seed "$SEED" --requests "$REQUESTS" --warmup "$WARMUP" --load-concurrency "$LOAD_CONCURRENCY"
    --command "$command" --summary "$work/$store.json")
  [ -n "$MAX_QUERY_TIME" ] && common+=(--max-query-time "$MAX_QUERY_TIME")
  {
    echo
    echo "#### store: $(bench_store_label "$store")"
    echo
    echo "- load average before this store's run: $(cut -d' ' -f1-3 /proc/loadavg)"
  } >>"$work/report.md"
  case "$store" in
    sqlite)
      n=$PATIENTS
      file=${SQLITE_FILE:-$work/$store.db}
      stats=$file.load.json
      if [ -n "$SQLITE_FILE" ] && [ -f "$file" ] && [ -f "$stats" ]; then
        log "sqlite: reusing $file, loaded earlier (its numbers: $stats)"
        echo "- reused \`$file\`, loaded by an earlier run (the load numbers below are that run's)" >>"$work/report.md"
      else
        log "sqlite: loading $n patients into $file before the server starts (the server locks the file)"
        "$work/careflow-bench" "$SUB" --database "sqlite:$file" --patients "$n" --load-only \
          --load-stats "$stats" "${common[@]}" </dev/null >"$work/$store-load.md" || { status=$?; break; }
      fi
      bench_start_server "sqlite:$file"
      drop_db=0
      "$work/careflow-bench" "$SUB" --base "http://127.0.0.1:$port/fhir" --database "sqlite:$file" --patients "$n" \
        --load-stats "$stats" --server-pid "$server_pid" "${common[@]}" "$@" </dev/null >"$work/$store.md" || status=$?
      ;;
    mongodb)
      n=$PATIENTS_MONGODB
      if [ -n "$REUSE_DB" ]; then
        db_name=$REUSE_DB
        KEEP_DB=1
      else
        db_name="careflow_bench_${SUB}_$(date +%s)_$$"
      fi
      db_uri="$uri_hosts/$db_name${uri_query:+?$uri_query}"
      extra=()
      [ -n "$REUSE_DB" ] && extra+=(--reuse)
      [ "$KEEP_DB" = 1 ] || extra+=(--drop-db)
      bench_db_pids
      [ -n "$db_pids" ] && extra+=(--db-pids "$db_pids")
      # The server creates the collections' indexes at start-up; careflow-bench opens the same store (it only
      # creates missing indexes), loads through it, then queries the server.
      bench_start_server "$db_uri"
      "$work/careflow-bench" "$SUB" --base "http://127.0.0.1:$port/fhir" --mongodb-uri "$db_uri" --patients "$n" \
        --server-pid "$server_pid" "${common[@]}" "${extra[@]}" "$@" </dev/null >"$work/$store.md" || status=$?
      ;;
  esac
  mem=$(bench_server_memory)
  bench_stop_server
  bench_server_errors
  [ "$store" = mongodb ] && [ "$KEEP_DB" = 1 ] && log "kept the database $db_name (reuse it with BENCH_DB=$db_name)"
  {
    echo "$mem"
    echo
    sed 's/^### /##### /' "$work/$store.md"
  } >>"$work/report.md"
  [ "$status" = 0 ] || break
done
if [ "$status" = 0 ]; then
  title="$SUB at $PATIENTS patients"
  [ "$PATIENTS_MONGODB" = "$PATIENTS" ] || title="$SUB, **different data sets**: $PATIENTS patients on sqlite, $PATIENTS_MONGODB on mongodb"
  bench_compare "$title" >>"$work/report.md"
fi
cat "$work/report.md"
[ "$status" = 0 ] || { log "careflow-bench $SUB failed (exit $status)"; exit "$status"; }
