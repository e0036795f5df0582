#!/usr/bin/env bash
# Install the pgvector extension into the local PostgreSQL 15 (Debian 12).
#
# pgvector is not packaged for Debian 12, so this builds Debian's own source
# package from the trixie suite against postgresql-server-dev-15: a deb-src
# line only (no trixie binary is ever installed), `apt-get source pgvector`,
# `make && make install`. It does nothing when `CREATE EXTENSION vector`
# already works. Run as root; CI and the README call it the same way.
#
# Environment: PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres),
# PGDATABASE (test), PG_MAJOR (15).
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-test}
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config
SRC_LIST=/etc/apt/sources.list.d/iace-trixie-src.list

say() { echo "pgvector: $*"; }

extension_works() {
  psql -v ON_ERROR_STOP=1 -qAtc 'CREATE EXTENSION IF NOT EXISTS vector' >/dev/null 2>&1
}

if extension_works; then
  say "the vector extension already works in database $PGDATABASE; nothing to do"
  exit 0
fi

# The mirror this machine already uses for Debian, so the build fetches from
# the same place as every other package (deb.debian.org when none is found).
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  sed -nE 's/^[[:space:]]*(deb(-src)?[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]*)//p' | tr ' ' '\n' |
  grep -E '^(https?|file)://[^ ]+/debian/?$' | head -1 || true)
mirror=${mirror%/}
mirror=${mirror:-http://deb.debian.org/debian}

export DEBIAN_FRONTEND=noninteractive
# pg_config ships with the server too; the headers come only with -dev.
if ! dpkg -s "postgresql-server-dev-${PG_MAJOR}" build-essential >/dev/null 2>&1; then
  say "installing postgresql-server-dev-${PG_MAJOR} and build-essential"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "postgresql-server-dev-${PG_MAJOR}" build-essential
fi

if [ ! -f "$SRC_LIST" ]; then
  say "adding the trixie source list $SRC_LIST ($mirror)"
  echo "deb-src $mirror trixie main" >"$SRC_LIST"
fi
say "apt-get update"
apt-get update -qq

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt downloads as its sandbox user _apt, which must be able to write there.
chown _apt "$work" 2>/dev/null || chmod 777 "$work"
say "fetching the pgvector source package into $work"
(cd "$work" && apt-get source -qq pgvector >/dev/null)
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -1)
say "building $(basename "$src") with $PG_CONFIG"
make -C "$src" -s PG_CONFIG="$PG_CONFIG" -j"$(nproc)"
say "installing"
make -C "$src" -s PG_CONFIG="$PG_CONFIG" install

if extension_works; then
  say "CREATE EXTENSION vector works in database $PGDATABASE: $(psql -qAtc "SELECT extversion FROM pg_extension WHERE extname = 'vector'")"
else
  say "built and installed, but CREATE EXTENSION vector still fails:" >&2
  psql -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS vector' >&2
  exit 1
fi
