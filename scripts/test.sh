#!/usr/bin/env bash
# The whole test suite: starts the default database if needed (scripts/db.sh), checks formatting and vet,
# then runs every test against it. Extra arguments go to `go test` (e.g. -run TestCreate ./fhir/rest).
set -euo pipefail
cd "$(dirname "$0")/.."
uri=$(scripts/db.sh start)
export CAREFLOW_TEST_MONGODB_URI=${CAREFLOW_TEST_MONGODB_URI:-$uri}

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
if [ $# -gt 0 ]; then
  exec go test -count=1 "$@"
fi
exec go test -count=1 -race -timeout 20m ./...
