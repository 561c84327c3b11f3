#!/usr/bin/env bash
# careflow's ingest benchmark: builds careflow and careflow-bench, then for each store of BENCH_STORES
# (default: the embedded SQLite store, then MongoDB) starts a careflow server on a free loopback port with a
# fresh database and runs `careflow-bench ingest` against it (generated coordinated-care patients, each
# POSTed as one transaction Bundle; on MongoDB then the same resources inserted straight into a scratch
# database with the driver, InsertOne and InsertMany) and prints the results as Markdown, with a table of the
# sqlite/mongodb ratios when both ran. MongoDB is scripts/db.sh's FerretDB (started idempotently) or
# CAREFLOW_MONGODB_URI. Non-interactive; the servers, their databases, the scratch database and the build
# directory are removed on exit, also on failure or Ctrl-C. Extra arguments go to `careflow-bench ingest`
# (e.g. --mirror-indexes, MongoDB only; `careflow-bench ingest -h` lists them).
#
# Environment (defaults):
#   BENCH_STORES="sqlite mongodb"  the stores to measure, in this order
#   BENCH_PATIENTS=1000      patients, one Bundle each (about 9.3 resources per Bundle; about 68 with --history,
#                            the multi-type clinical history, passed on to careflow-bench ingest)
#   BENCH_CONCURRENCY=4      Bundles in flight at once
#   BENCH_BUNDLE_TYPE=transaction   or batch: the same entries POSTed as a batch Bundle
#   BENCH_SEED=1             seed of the generated data set
#   BENCH_LOG_LEVEL=info     the server's log level (info logs one line per request, as in production)
#   BENCH_READY_TIMEOUT=90   seconds to wait for the server's /readyz (it gives up on the database after 60)
#   BENCH_KEEP_DB=0          1: keep the server's MongoDB database afterwards (its name is printed)
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
bench_stores

work=$(mktemp -d "${TMPDIR:-/tmp}/careflow-bench-ingest.XXXXXX")
server_pid=""
drop_db=0 # 1 once the server may have created its MongoDB database; the cleanup then drops it unless kept
mongo_uri=""
cleanup() {
  bench_stop_server
  if [ "$drop_db" = 1 ] && [ -n "$mongo_uri" ] && [ "$KEEP_DB" != 1 ] && [ -x "$work/careflow-bench" ]; then
    if "$work/careflow-bench" search --mongodb-uri "$mongo_uri" --drop-only </dev/null; then log "dropped the database $db_name"; else log "could not drop the database $db_name"; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case " $stores " in *" mongodb "*) bench_database ;; esac
bench_build

command="BENCH_STORES=\"$stores\" BENCH_PATIENTS=$PATIENTS BENCH_CONCURRENCY=$CONCURRENCY BENCH_BUNDLE_TYPE=$BUNDLE_TYPE BENCH_SEED=$SEED scripts/bench-ingest.sh${*:+ $*}"
{
  bench_machine
  echo "- command: \`$command\`; server log level $LOG_LEVEL"
} >"$work/report.md"

status=0
for store in $stores; do
  server_log=$work/server-$store.log
  extra=()
  case "$store" in
    sqlite)
      database="sqlite:$work/$store.db"
      extra+=(--mongodb-uri "") # no raw phases: they are MongoDB's
      ;;
    mongodb)
      db_name="careflow_bench_ingest_$(date +%s)_$$"
      database="$uri_hosts/$db_name${uri_query:+?$uri_query}"
      extra+=(--mongodb-uri "$uri_hosts/${uri_query:+?$uri_query}" --server-db "$db_name")
      bench_db_pids
      [ -n "$db_pids" ] && extra+=(--db-pids "$db_pids")
      ;;
  esac
  {
    echo
    echo "#### store: $(bench_store_label "$store")"
    echo
    echo "- load average before this store's run: $(cut -d' ' -f1-3 /proc/loadavg)"
  } >>"$work/report.md"
  drop_db=0
  bench_start_server "$database"
  if [ "$store" = mongodb ]; then mongo_uri=$database; else drop_db=0; fi
  "$work/careflow-bench" ingest --base "http://127.0.0.1:$port/fhir" \
    --patients "$PATIENTS" --concurrency "$CONCURRENCY" --bundle-type "$BUNDLE_TYPE" --seed "$SEED" \
    --server-pid "$server_pid" --command "$command" --summary "$work/$store.json" "${extra[@]}" "$@" </dev/null >"$work/$store.md" || status=$?
  mem=$(bench_server_memory)
  bench_stop_server
  bench_server_errors
  if [ "$store" = mongodb ]; then
    # The server's database is dropped after the server has stopped, the scratch database by careflow-bench.
    if [ "$KEEP_DB" = 1 ]; then log "kept the server's database $db_name"
    elif "$work/careflow-bench" search --mongodb-uri "$mongo_uri" --drop-only </dev/null; then log "dropped the database $db_name"; drop_db=0
    else log "could not drop the database $db_name"; fi
  fi
  {
    echo "$mem"
    echo
    sed 's/^### /##### /' "$work/$store.md"
  } >>"$work/report.md"
  [ "$status" = 0 ] || break
done
[ "$status" = 0 ] && bench_compare "ingest of $BUNDLE_TYPE Bundles" >>"$work/report.md"
cat "$work/report.md"
[ "$status" = 0 ] || { log "careflow-bench ingest failed (exit $status)"; exit "$status"; }
