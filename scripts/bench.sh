#!/usr/bin/env bash
# careflow's benchmark: builds careflow and careflow-bench, then for each store of BENCH_STORES (default:
# the embedded SQLite store, then MongoDB) starts a careflow server on a free loopback port with a fresh
# database, runs cmd/careflow-bench against it (HTTP create and read; on MongoDB then the same operations
# straight on the database for comparison) and prints the results as Markdown, with a table of the
# sqlite/mongodb ratios when both ran. MongoDB is scripts/db.sh's FerretDB (started idempotently) or
# CAREFLOW_MONGODB_URI. Non-interactive; the servers, their databases, the scratch database and the build
# directory are removed on exit, also on failure or Ctrl-C. Extra arguments go to careflow-bench (e.g.
# --mirror-indexes, which only applies to MongoDB).
#
# Environment (defaults):
#   BENCH_STORES="sqlite mongodb"  the stores to measure, in this order
#   BENCH_REQUESTS=2000      requests per create phase (0: create phases run for BENCH_DURATION)
#   BENCH_DURATION=15s       length of each read phase
#   BENCH_CONCURRENCY=8      concurrent requests
#   BENCH_SEED=1             seed of the generated Patients
#   BENCH_LOG_LEVEL=info     the server's log level (info logs one line per request, as in production)
#   BENCH_READY_TIMEOUT=90   seconds to wait for the server's /readyz (it gives up on the database after 60)
#   BENCH_KEEP_DB=0          1: keep the server's MongoDB database afterwards (its name is printed)
#   BENCH_AUTH=0             1: auth (a dev issuer, a user/*.cruds token on every request) + audit on; both: each
#                            store off then on in the same run, with their comparison
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
# BENCH_AUTH: 0 (default) authorization off; 1: careflow with --auth-issuer (a development issuer, a
# user/*.cruds token on every request) and the audit log on; both: each store twice in the same run, off
# then on, with their comparison (the cost of auth + audit in req/s and server CPU per request).
AUTH=${BENCH_AUTH:-0}
case "$AUTH" in 0) modes=off ;; 1) modes=auth ;; both) modes="off auth" ;; *) echo "BENCH_AUTH: want 0, 1 or both" >&2; exit 2 ;; esac

log() { printf 'bench.sh: %s\n' "$*" >&2; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
bench_stores

work=$(mktemp -d "${TMPDIR:-/tmp}/careflow-bench.XXXXXX")
server_pid=""
issuer_pid=""
cleanup() {
  bench_stop_server
  bench_stop_issuer
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case " $stores " in *" mongodb "*) bench_database ;; esac
bench_build
[ "$AUTH" = 0 ] || bench_start_issuer

{
  bench_machine
  echo "- command: \`BENCH_STORES=\"$stores\" BENCH_REQUESTS=$REQUESTS BENCH_DURATION=$DURATION BENCH_CONCURRENCY=$CONCURRENCY BENCH_SEED=$SEED BENCH_AUTH=$AUTH scripts/bench.sh${*:+ $*}\`"
} >"$work/report.md"

for store in $stores; do
for mode in $modes; do
  run=$store
  [ "$AUTH" = 0 ] || run=$store-$mode
  server_log=$work/server-$run.log
  extra=()
  server_args=()
  if [ "$mode" = auth ]; then
    server_args=(--auth-issuer "$issuer" --auth-audience careflow-bench --audit on --audit-outbox "$work/audit-$run.log")
    extra+=(--bearer-token "$(bench_auth_token 'user/*.cruds')")
  fi
  case "$store" in
    sqlite)
      database="sqlite:$work/$run.db"
      extra+=(--mongodb-uri "") # no raw phases: they are MongoDB's
      ;;
    mongodb)
      db_name="careflow_bench_$(date +%s)_$$_$mode"
      database="$uri_hosts/$db_name${uri_query:+?$uri_query}"
      extra+=(--mongodb-uri "$uri_hosts/${uri_query:+?$uri_query}" --server-db "$db_name")
      [ "$KEEP_DB" = 1 ] || extra+=(--drop-server-db)
      bench_db_pids
      [ -n "$db_pids" ] && extra+=(--db-pids "$db_pids")
      ;;
  esac
  {
    echo
    echo "#### store: $(bench_store_label "$store")$( [ "$AUTH" = 0 ] || { [ "$mode" = auth ] && echo "; auth on (user/*.cruds token) + audit on" || echo "; auth off"; } )"
    echo
    echo "- load average before this store's run: $(cut -d' ' -f1-3 /proc/loadavg)"
  } >>"$work/report.md"
  bench_start_server "$database"
  "$work/careflow-bench" --base "http://127.0.0.1:$port/fhir" \
    --concurrency "$CONCURRENCY" --requests "$REQUESTS" --duration "$DURATION" --seed "$SEED" \
    --server-pid "$server_pid" --summary "$work/$run.json" "${extra[@]}" "$@" </dev/null >"$work/$run.md"
  mem=$(bench_server_memory)
  bench_stop_server
  bench_server_errors
  {
    echo "$mem"
    echo
    sed 's/^### /##### /' "$work/$run.md"
  } >>"$work/report.md"
  [ "$store" = mongodb ] && [ "$KEEP_DB" = 1 ] && log "kept the server's database $db_name"
done
if [ "$AUTH" = both ]; then
  {
    echo
    echo "#### $store: auth off / auth + audit on (concurrency $CONCURRENCY)"
    echo
    "$work/careflow-bench" compare off="$work/$store-off.json" auth="$work/$store-auth.json"
  } >>"$work/report.md"
fi
done
bench_compare "reads and creates (concurrency $CONCURRENCY)" >>"$work/report.md"
cat "$work/report.md"
