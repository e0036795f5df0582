#!/usr/bin/env bash
# Load run on this machine: iace serve (offline providers) and callsim side by
# side on loopback. Prints callsim's report and the server's CPU and memory.
#
#   loadtest/run.sh CALLS DURATION RAMP [callsim flags...]
#   make loadtest CALLS=1000 DURATION=60s RAMP=20s
#
# Figures land in $OUT (default loadtest/out): callsim.json, callsim.txt,
# server.log, server.txt, and metrics.txt (the server's metrics at the end). SERVER_CPUS and SIM_CPUS (taskset lists, e.g. 0
# and 1) pin the server and the simulator apart, for a per-core figure.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-200}; duration=${2:-30s}; ramp=${3:-10s}
shift $(( $# < 3 ? $# : 3 ))
out=${OUT:-loadtest/out}
port=${PORT:-18080}; iport=${INTERNAL_PORT:-19090}
mkdir -p "$out"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

[ -x bin/iace ] && [ -x bin/callsim ] || make build >/dev/null
pin() { if [ -n "${1:-}" ]; then echo "taskset -c $1"; fi; }
$(pin "${SERVER_CPUS:-}") bin/iace serve --addr "127.0.0.1:$port" --internal-addr "127.0.0.1:$iport" \
  --log-format json --log-level "${LOG_LEVEL:-warn}" ${SERVER_FLAGS:-} >"$out/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$iport/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
cpu0=$(cpu); t0=$(date +%s.%N)
status=0
$(pin "${SIM_CPUS:-}") bin/callsim -url "ws://127.0.0.1:$port/media/telnyx" -calls "$calls" -duration "$duration" -ramp "$ramp" \
  -json "$out/callsim.json" -metrics "http://127.0.0.1:$iport/metrics" "$@" | tee "$out/callsim.txt" || status=$?
cpu1=$(cpu); t1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
curl -fs "http://127.0.0.1:$iport/metrics" >"$out/metrics.txt" || true
threads=$(awk '/Threads/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true
trap - EXIT

awk -v c0="$cpu0" -v c1="$cpu1" -v t0="$t0" -v t1="$t1" -v tck="$tck" -v hwm="$hwm" -v calls="$calls" -v th="$threads" -v cores="$(nproc)" 'BEGIN {
  cpu = (c1 - c0) / tck; wall = t1 - t0
  printf "server     cpu %.1fs over %.1fs wall = %.2f of %d cores (%.1f%% of one core per 100 calls)\n", cpu, wall, cpu / wall, cores, 100 * cpu / wall / calls * 100
  printf "server     peak RSS %.1f MiB (%.0f KiB per call at %d calls), %d threads\n", hwm / 1024, hwm / calls, calls, th
}' | tee "$out/server.txt"
exit "$status"
