# Shared by the benchmark scripts (scripts/bench*.sh), which source it: the stores to measure, the MongoDB
# URI, the build, a careflow server on a free loopback port, its memory, and the database's processes. The
# caller defines log(), work (its temporary directory), LOG_LEVEL and READY_TIMEOUT; these functions set
# the globals named in their comments.

# bench_stores: the stores to measure, from BENCH_STORES (default "sqlite mongodb": the embedded store, then
# MongoDB — scripts/db.sh's FerretDB or CAREFLOW_MONGODB_URI — with the same seed and data set). Sets stores.
bench_stores() {
  local s
  stores=${BENCH_STORES:-sqlite mongodb}
  for s in $stores; do
    case "$s" in sqlite|mongodb) ;; *) log "BENCH_STORES: unknown store '$s' (want sqlite and/or mongodb)"; exit 2 ;; esac
  done
  [ -n "$stores" ] || { log "BENCH_STORES is empty"; exit 2; }
}

# bench_database: the caller's MongoDB (CAREFLOW_MONGODB_URI) or the default FerretDB started
# (idempotently) by scripts/db.sh. Sets uri_hosts (scheme, credentials, hosts) and uri_query (options),
# so that callers can build the URI of any database on that server: "$uri_hosts/<db>${uri_query:+?$uri_query}".
bench_database() {
  local given_uri
  if [ -n "${CAREFLOW_MONGODB_URI:-}" ]; then
    given_uri=$CAREFLOW_MONGODB_URI
  else
    given_uri=$(scripts/db.sh start </dev/null)
  fi
  uri_hosts=$(printf '%s' "$given_uri" | sed -E 's#^(mongodb(\+srv)?://[^/?]*).*#\1#')
  uri_query=$(printf '%s' "$given_uri" | sed -nE 's#^[^?]*\?(.*)$#\1#p')
}

# bench_store_label STORE: one line naming the store, for the reports.
bench_store_label() {
  case "$1" in
    sqlite) echo "embedded SQLite store (storage/sqlite, \`--database sqlite:PATH\`, synchronous=full), file in $work" ;;
    mongodb) echo "MongoDB store (storage/mongo) on $uri_hosts ($( [ -n "${CAREFLOW_MONGODB_URI:-}" ] && echo "caller's MongoDB" || echo "FerretDB v1.24.2 on PostgreSQL 15 via scripts/db.sh" ))" ;;
  esac
}

# bench_db_pids: the pids of scripts/db.sh's FerretDB and PostgreSQL postmaster (same locations as there),
# comma-separated, to measure the database's CPU time; empty with CAREFLOW_MONGODB_URI. Sets db_pids.
bench_db_pids() {
  local state_dir pg_data f pid
  db_pids=""
  [ -z "${CAREFLOW_MONGODB_URI:-}" ] || return 0
  state_dir=${CAREFLOW_DB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/careflow}
  if [ "$(id -u)" -eq 0 ]; then pg_data=/var/lib/postgresql/careflow-15; else pg_data=$state_dir/pg-15; fi
  for f in "$state_dir/ferretdb.pid" "$pg_data/postmaster.pid"; do
    pid=$(head -1 "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then db_pids=${db_pids:+$db_pids,}$pid; fi
  done
}

# bench_build: careflow and careflow-bench into $work.
bench_build() {
  log "building careflow and careflow-bench into $work"
  go build -o "$work/careflow" ./cmd/careflow
  go build -o "$work/careflow-bench" ./cmd/careflow-bench
}

# bench_machine: the machine line of the reports (with the load average now).
bench_machine() {
  local cpu_model
  cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
  echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(grep -m1 MemTotal /proc/meminfo | awk '{printf "%.0f GiB RAM", $2/1048576}'), $(go version | cut -d' ' -f3-), $(uname -sr); load average before the run: $load_before"
  if rev=$(git rev-parse --short HEAD 2>/dev/null); then
    git diff-index --quiet HEAD -- 2>/dev/null || rev="$rev + uncommitted changes"
    echo "- careflow: $rev"
  fi
}

# bench_start_server DATABASE: starts careflow on a free loopback port with --database DATABASE
# (sqlite:PATH or a mongodb:// URI) and the flags in the array server_args, if set, and waits for /readyz. The server runs with GODEBUG=gctrace=1 so that
# bench_server_memory can report its Go heap; it logs to $server_log (default $work/server.log). Sets
# server_pid, port and drop_db=1 (the server may have created its database). Exits on failure. Picks
# random ports until nothing answers there; if the server still fails to bind (another process took the
# port meanwhile), tries again with another one.
bench_start_server() {
  local database=$1 attempt candidate deadline
  server_log=${server_log:-$work/server.log}
  port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  ready() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; }
  port=""
  for attempt in 1 2 3 4 5; do
    candidate=$((20000 + RANDOM % 40000))
    port_free "$candidate" || continue
    log "starting careflow on 127.0.0.1:$candidate, database ${database%%\?*} (log: $server_log)"
    GODEBUG=gctrace=1 "$work/careflow" serve --addr "127.0.0.1:$candidate" --database "$database" \
      --log-level "$LOG_LEVEL" ${server_args[@]+"${server_args[@]}"} </dev/null >>"$server_log" 2>&1 &
    server_pid=$!
    drop_db=1
    deadline=$((SECONDS + READY_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
      if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
      if ready "$candidate"; then port=$candidate; break; fi
      sleep 0.2
    done
    [ -n "$port" ] && break
    if kill -0 "$server_pid" 2>/dev/null; then
      log "the server did not answer /readyz within ${READY_TIMEOUT}s (does the database answer a ping?)"
      tail -20 "$server_log" >&2; exit 1
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    if ! grep -q 'address already in use' "$server_log"; then
      log "the server exited"; tail -20 "$server_log" >&2; exit 1
    fi
    log "port $candidate was taken (attempt $attempt); trying another"
  done
  [ -n "$port" ] || { log "found no free port"; exit 1; }
}

# bench_server_memory: one Markdown line on the running server's memory: its peak and current resident set
# (VmHWM, VmRSS of /proc/<pid>/status) and, from the GODEBUG=gctrace=1 lines of $server_log, the largest Go
# heap at a garbage collection and the largest live heap after one. Call it before stopping the server.
bench_server_memory() {
  local hwm rss heap
  hwm=$(awk '/^VmHWM:/ {printf "%.0f", $2/1024}' "/proc/$server_pid/status" 2>/dev/null || true)
  rss=$(awk '/^VmRSS:/ {printf "%.0f", $2/1024}' "/proc/$server_pid/status" 2>/dev/null || true)
  heap=$(grep -aoE '[0-9]+->[0-9]+->[0-9]+ MB' "$server_log" 2>/dev/null | tr -s '>-' ' ' |
    awk '{ peak = $1 > $2 ? $1 : $2; if (peak > p) p = peak; if ($3 > l) l = $3; n++ }
         END { if (n) printf "Go heap at most %d MB (largest heap at a GC), largest live heap after a GC %d MB, %d GCs", p, l, n }')
  echo "- server memory: peak RSS ${hwm:-?} MiB (VmHWM), RSS at the end ${rss:-?} MiB; ${heap:-no gctrace lines}"
}

# bench_start_issuer: for BENCH_AUTH, a development issuer (careflow dev-issuer, key $work/dev-issuer.pem) on a
# free loopback port, tokens with audience "careflow-bench". Sets issuer_pid and issuer (its URL); call
# bench_stop_issuer at the end.
bench_start_issuer() {
  local candidate deadline
  for _ in 1 2 3 4 5; do
    candidate=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null && continue
    "$work/careflow" dev-issuer --key "$work/dev-issuer.pem" --addr "127.0.0.1:$candidate" --audience careflow-bench \
      </dev/null >>"$work/issuer.log" 2>&1 &
    issuer_pid=$!
    deadline=$((SECONDS + 20))
    while [ $SECONDS -lt $deadline ] && kill -0 "$issuer_pid" 2>/dev/null; do
      if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$candidate/.well-known/openid-configuration" 2>/dev/null; then
        issuer=http://127.0.0.1:$candidate
        log "development issuer $issuer (pid $issuer_pid)"
        return 0
      fi
      sleep 0.2
    done
    kill -TERM "$issuer_pid" 2>/dev/null || true
    wait "$issuer_pid" 2>/dev/null || true
    issuer_pid=""
  done
  log "the development issuer did not start"; tail -5 "$work/issuer.log" >&2; exit 1
}

# bench_stop_issuer: stops bench_start_issuer's issuer.
bench_stop_issuer() {
  [ -n "${issuer_pid:-}" ] || return 0
  kill -TERM "$issuer_pid" 2>/dev/null || true
  wait "$issuer_pid" 2>/dev/null || true
  issuer_pid=""
}

# bench_auth_token SCOPES: a token of bench_start_issuer's issuer with SCOPES, valid for a day.
bench_auth_token() {
  "$work/careflow" dev-token --key "$work/dev-issuer.pem" --issuer "$issuer" --audience careflow-bench \
    --subject careflow-bench --scope "$1" --lifetime 24h
}

# bench_stop_server: SIGTERM to the server (SIGKILL after 10 s) and wait for it.
bench_stop_server() {
  [ -n "${server_pid:-}" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    log "stopping the server (pid $server_pid)"
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# bench_server_errors: logs the first ERROR lines of $server_log, if any.
bench_server_errors() {
  if grep -q '"level":"ERROR"' "$server_log" 2>/dev/null; then
    log "the server logged errors ($server_log):"; grep '"level":"ERROR"' "$server_log" | head -5 >&2
  fi
}

# bench_compare TITLE: when both stores ran, the comparison of their --summary files ($work/<store>.json).
bench_compare() {
  [ -f "$work/sqlite.json" ] && [ -f "$work/mongodb.json" ] || return 0
  echo
  echo "#### $1: embedded store / MongoDB store"
  echo
  "$work/careflow-bench" compare sqlite="$work/sqlite.json" mongodb="$work/mongodb.json"
}
