#!/usr/bin/env bash
# Runs govulncheck over the module with the toolchain go.mod pins.
#
# The Go vulnerability database is read online (vuln.go.dev) when it can be
# reached. Where it cannot (an offline build machine), a copy is built from
# the golang.org/x/vulndb module, which the Go module proxy serves: its
# data/osv folder holds every report as OSV JSON, and its cmd/indexdb writes
# them out in the layout govulncheck reads with -db file://. VULNDB_VERSION
# pins that snapshot; bump it to pick up newer reports. VULNDB=<url> forces a
# database.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
export GOTOOLCHAIN=${GOTOOLCHAIN_OVERRIDE:-auto}

gobin="$(go env GOPATH)/bin"
govulncheck="$(command -v govulncheck || true)"
if [ -z "$govulncheck" ]; then
  go install "golang.org/x/vuln/cmd/govulncheck@${GOVULNCHECK_VERSION}"
  govulncheck="$gobin/govulncheck"
fi

db=${VULNDB:-}
if [ -z "$db" ]; then
  if command -v curl >/dev/null 2>&1 && curl -fsS -m 5 -o /dev/null https://vuln.go.dev/index/db.json.gz 2>/dev/null; then
    db=https://vuln.go.dev
  else
    src=$(go mod download -json "golang.org/x/vulndb@${VULNDB_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    go run "golang.org/x/vulndb/cmd/indexdb@${VULNDB_VERSION}" -vulns "$src/data/osv" -out "$out"
    db="file://$out"
    echo "vulncheck: the online database is out of reach; using golang.org/x/vulndb@${VULNDB_VERSION}"
  fi
fi
echo "vulncheck: $(go version), database $db"
"$govulncheck" -db "$db" ./...
