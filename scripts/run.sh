#!/usr/bin/env bash
# Start careflow on its default database: FerretDB + PostgreSQL (installed and started by scripts/db.sh),
# serving FHIR R4 at http://127.0.0.1:8080/fhir. Extra arguments go to `careflow serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
uri=$(scripts/db.sh start)
export CAREFLOW_MONGODB_URI=${CAREFLOW_MONGODB_URI:-${uri}careflow}
exec go run ./cmd/careflow serve "$@"
