# Shared by the benchmark scripts (scripts/bench*.sh), which source it: the database URI, the build, and a
# careflow server on a free loopback port. The caller defines log(), work (its temporary directory),
# LOG_LEVEL, READY_TIMEOUT and db_name; these functions set the globals named in their comments.

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

# bench_build: careflow and careflow-bench into $work.
bench_build() {
  log "building careflow and careflow-bench into $work"
  go build -o "$work/careflow" ./cmd/careflow
  go build -o "$work/careflow-bench" ./cmd/careflow-bench
}

# bench_start_server URI: starts careflow on a free loopback port with database URI and waits for /readyz.
# Sets server_pid, port and drop_db=1 (the server may have created its database). Exits on failure. Picks
# random ports until nothing answers there; if the server still fails to bind (another process took the
# port meanwhile), tries again with another one.
bench_start_server() {
  local uri=$1 attempt candidate deadline
  port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  ready() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; }
  port=""
  for attempt in 1 2 3 4 5; do
    candidate=$((20000 + RANDOM % 40000))
    port_free "$candidate" || continue
    log "starting careflow on 127.0.0.1:$candidate, database $db_name (log: $work/server.log)"
    "$work/careflow" serve --addr "127.0.0.1:$candidate" --mongodb-uri "$uri" \
      --log-level "$LOG_LEVEL" </dev/null >>"$work/server.log" 2>&1 &
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
      tail -20 "$work/server.log" >&2; exit 1
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    if ! grep -q 'address already in use' "$work/server.log"; then
      log "the server exited"; tail -20 "$work/server.log" >&2; exit 1
    fi
    log "port $candidate was taken (attempt $attempt); trying another"
  done
  [ -n "$port" ] || { log "found no free port"; exit 1; }
}
