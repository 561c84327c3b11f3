#!/usr/bin/env bash
# careflow's workflow benchmark: for each store of BENCH_STORES (default: the embedded SQLite store, then
# MongoDB) loads BENCH_PATIENTS synthetic patients (fhir/synth) with all their related resources straight
# through careflow's storage layer (the same load as scripts/bench-search.sh, so a MongoDB database kept by
# either script can be reused by the other with BENCH_DB), starts a careflow server on it, then runs
# `careflow-bench workflows`: it times $worklist for the data set's reference day (whole, one owner, one
# patient) and Patient/{id}/$summary of random patients over HTTP, and prints the results as Markdown, with
# a table of the sqlite/mongodb ratios when both ran. Extra arguments go to `careflow-bench workflows` (e.g.
# --today 2026-11-25 for a data set generated with another reference day).
#
# It is scripts/bench-search.sh with another careflow-bench subcommand: same environment (BENCH_STORES,
# BENCH_PATIENTS, BENCH_PATIENTS_MONGODB, BENCH_SEED, BENCH_REQUESTS — timed requests per case —,
# BENCH_WARMUP, BENCH_MAX_QUERY_TIME — at least 3 requests per case —, BENCH_LOAD_CONCURRENCY, BENCH_DB,
# BENCH_SQLITE_FILE, BENCH_KEEP_DB, BENCH_LOG_LEVEL, BENCH_READY_TIMEOUT, CAREFLOW_MONGODB_URI), same clean-up.
set -euo pipefail
BENCH_SUBCOMMAND=workflows exec "$(dirname "$0")/bench-search.sh" "$@"
