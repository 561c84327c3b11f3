#!/usr/bin/env bash
# The whole test suite: starts the default database if needed (scripts/db.sh), checks formatting and vet,
# then runs every test against it. Extra arguments go to `go test` (e.g. -run TestCreate ./server/rest).
set -euo pipefail
cd "$(dirname "$0")/.."
uri=$(scripts/db.sh start)

# The dashboard's end-to-end test (adapters/dashboard) drives Debian's headless Chromium: install it when
# missing (CAREFLOW_CHROMIUM names another binary instead).
if [ -z "${CAREFLOW_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing chromium from apt (for the dashboard's end-to-end test)" >&2
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium >/dev/null
fi
export CAREFLOW_TEST_MONGODB_URI=${CAREFLOW_TEST_MONGODB_URI:-$uri}

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
if [ $# -gt 0 ]; then
  exec go test -count=1 "$@"
fi
# Built without cgo, the embedded store runs on modernc.org/sqlite (pure Go) instead of mattn/go-sqlite3:
# keep that fallback tested (its conformance, search and crash suites; about half a minute).
CGO_ENABLED=0 go test -count=1 -timeout 10m ./storage/sqlite
exec go test -count=1 -race -timeout 20m ./...
