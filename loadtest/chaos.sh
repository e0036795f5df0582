#!/usr/bin/env bash
# The chaos part of the reliability suite (docs/RELIABILITY.md, Chaos):
# three iace serve nodes, PostgreSQL and Redis on this machine, calls spread
# over the nodes by loadtest/lb, and one failure per case (loadtest/chaos).
#
#   loadtest/chaos.sh [CALLS] [chaos flags...]
#   make chaos CALLS=300
#   CASES=kill,redis loadtest/chaos.sh 100
#
# It builds bin/iace, bin/lb and bin/chaos, makes a fresh PostgreSQL
# database for the run (dropped at the end unless KEEP_DB=1), and runs the
# cases one after the other. The redis case shuts Redis down and the
# postgres case stops PostgreSQL: whatever happens, both are started again
# on exit. Reports land in $OUT (default loadtest/out/chaos): report.json,
# the text report, and each case's node logs and load balancer counts.
#
# Machine settings (defaults are this development VM's and CI's):
# PGHOST, PGUSER, PG_VERSION, PG_CLUSTER, REDIS_DB, REDIS_START.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-${CALLS:-300}}
shift $(( $# < 1 ? $# : 1 ))
out=${OUT:-loadtest/out/chaos}
pghost=${PGHOST:-127.0.0.1}
pguser=${PGUSER:-postgres}
pgver=${PG_VERSION:-15}
pgcluster=${PG_CLUSTER:-main}
redis_db=${REDIS_DB:-5}
# How CI starts Redis: no persistence, so a restart forgets every key.
redis_start=${REDIS_START:-redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log}
pg_start="pg_ctlcluster $pgver $pgcluster start"
pg_stop="pg_ctlcluster $pgver $pgcluster stop -m fast"

mkdir -p "$out" bin
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
go build -trimpath -o bin/iace ./cmd/iace
go build -trimpath -o bin/lb ./loadtest/lb
go build -trimpath -o bin/chaos ./loadtest/chaos

db="iace_chaos_$(date -u +%Y%m%d%H%M%S)"
cleanup() {
  status=$?
  # Redis and PostgreSQL run again, whatever the suite did to them.
  if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    echo "chaos.sh: starting Redis again" >&2
    sh -c "$redis_start" || true
  fi
  if ! pg_ctlcluster "$pgver" "$pgcluster" status >/dev/null 2>&1; then
    echo "chaos.sh: starting PostgreSQL again" >&2
    $pg_start || true
  fi
  if [ "${KEEP_DB:-0}" != 1 ]; then
    for _ in 1 2 3 4 5; do
      dropdb -h "$pghost" -U "$pguser" --if-exists "$db" 2>/dev/null && break
      sleep 1
    done
  else
    echo "chaos.sh: database $db kept" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
createdb -h "$pghost" -U "$pguser" "$db"

bin/chaos -calls "$calls" -cases "${CASES:-hangup,kill,recover,restart,redis,postgres,providers,rolling}" -out "$out" \
  -db "postgres://$pguser@$pghost:5432/$db" -redis "redis://127.0.0.1:6379/$redis_db" \
  -redis-stop "redis-cli -h 127.0.0.1 shutdown nosave" -redis-start "$redis_start" \
  -pg-stop "$pg_stop" -pg-start "$pg_start" "$@" | tee "$out/report.txt"
