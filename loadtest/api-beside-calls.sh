#!/usr/bin/env bash
# The control API's overload beside live calls, with the API served by a
# node of its own: node "media" (core 0) takes CALLS calls from callsim,
# node "control" (core 1, nice 10) takes apiload's CLIENTS clients, both
# sharing PostgreSQL and Redis as nodes of one deployment do. The
# simulator runs on core 1 at normal priority, so that the API's load
# does not slow the measurement itself.
#
#   loadtest/api-beside-calls.sh alone|overload
#
# Needs bin/iace, bin/callsim and bin/apiload (make build; go build -o
# bin/apiload ./loadtest/apiload), and a PostgreSQL database seeded by
# apiload with the demo agent's organization created:
#
#   createdb -h 127.0.0.1 -U postgres iace_split
#   IACE_LOAD_PASSWORD='a long password for load' bin/apiload \
#     -database-url postgres://postgres@127.0.0.1:5432/iace_split -seed-only -email load@example.com
#   IACE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/iace_split \
#     IACE_USER_PASSWORD='a long password for demo' bin/iace user create --org demo --email demo-admin@example.com
#
# Settings (environment): DB (that database's URL), REDIS (redis://127.0.0.1:6379/6,
# flushed first), CALLS (500), DURATION (100s), CLIENTS (1000), OUT
# (loadtest/out/api-beside-calls-<mode>), IACE_LOAD_PASSWORD (apiload's).
set -euo pipefail
mode=${1:?alone or overload}
case $mode in alone | overload) ;; *) echo "mode: alone or overload" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
db=${DB:-postgres://postgres@127.0.0.1:5432/iace_split}
redis=${REDIS:-redis://127.0.0.1:6379/6}
calls=${CALLS:-500}
duration=${DURATION:-100s}
clients=${CLIENTS:-1000}
out=${OUT:-loadtest/out/api-beside-calls-$mode}
rm -rf "$out"
mkdir -p "$out"
export IACE_DATABASE_URL=$db IACE_REDIS_URL=$redis
IACE_AUTH_SECRET=$(head -c 32 /dev/urandom | base64)
export IACE_AUTH_SECRET
export IACE_LOAD_PASSWORD=${IACE_LOAD_PASSWORD:-a long password for load}
redis-cli -u "$redis" flushdb >/dev/null

pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
waitfor() { for _ in $(seq 100); do curl -fs "$1" >/dev/null && return 0; sleep 0.1; done; echo "$1 did not answer" >&2; exit 1; }

taskset -c 0 bin/iace serve --node-name media --addr 127.0.0.1:8080 --internal-addr 127.0.0.1:9090 --data-dir "$out/media" \
  --unauthenticated-streams=true --agents-file loadtest/demo-agent.json --log-format json --log-level warn >"$out/media.log" 2>&1 &
pids+=($!)
waitfor http://127.0.0.1:9090/readyz
taskset -c 1 nice -n 10 bin/iace serve --node-name control --addr 127.0.0.1:8081 --internal-addr 127.0.0.1:9091 --data-dir "$out/control" \
  --take-calls=false --rate-limit-ip 5000 --rate-limit-user 5000 --default-agent '' --migrate=false --log-format json --log-level warn >"$out/control.log" 2>&1 &
pids+=($!)
waitfor http://127.0.0.1:9091/readyz

taskset -c 1 bin/callsim -url ws://127.0.0.1:8080/media/telnyx -calls "$calls" -duration "$duration" -ramp 15s -quiet \
  -metrics http://127.0.0.1:9090/metrics -json "$out/callsim.json" >"$out/callsim.txt" 2>&1 &
sim=$!
api=
if [ "$mode" = overload ]; then
  sleep 5
  taskset -c 1 nice -n 10 bin/apiload -url http://127.0.0.1:8081 -email load@example.com -clients "$clients" -think 250ms \
    -duration "$(( ${duration%s} - 5 ))s" -json "$out/apiload.json" >"$out/apiload.txt" 2>&1 &
  api=$!
fi
wait $sim || true
[ -n "$api" ] && { wait "$api" || true; }
curl -s http://127.0.0.1:9090/metrics >"$out/media-metrics.txt"
curl -s http://127.0.0.1:9091/metrics >"$out/control-metrics.txt"
grep -E '^(calls|underruns|reply|greeting|sim lag)' "$out/callsim.txt"
grep -E '^iace_media_(pacer_late_ticks|playout_underruns)_total' "$out/media-metrics.txt"
[ -n "$api" ] && sed -n 2p "$out/apiload.txt"
echo "figures in $out"
