#!/usr/bin/env bash
# Soak run on this machine: iace serve (offline providers, a fresh data
# directory) and callsim keeping CALLS calls up for DURATION on loopback,
# while the server's memory, goroutines and file descriptors are sampled
# every INTERVAL. A leak shows as a slope: the script fits one to each
# series over the steady part and fails when one grows faster than its
# threshold, or when a call failed.
#
#   loadtest/soak.sh [callsim flags...]
#   make soak CALLS=500 DURATION=30m
#
# Settings (environment): CALLS (500), DURATION (30m, callsim's -duration:
# ended calls are replaced until then), RAMP (60s, over which the first
# calls start), INTERVAL (30s between samples), WARMUP (2m after the ramp,
# left out of the slopes with the ramp: pools, caches and the collector's
# heap goal settle first), SERVER_CPUS and SIM_CPUS (taskset lists, e.g. 0
# and 1, to pin the server and the simulator apart), SERVER_FLAGS (more
# flags for iace serve), PORT and INTERNAL_PORT (18180, 19190: not
# loadtest/run.sh's, so that both can run at once), KEEP_DATA=1 (keep the
# data directory). The server runs with --pprof: while it runs, its
# /debug/pprof answers on the internal listener.
#
# Thresholds, in % of the series' mean per hour: MAX_RSS_SLOPE (5),
# MAX_HEAP_SLOPE (10), MAX_GOROUTINES_SLOPE (5), MAX_FDS_SLOPE (5). 5 %/h
# is a doubling in 20 hours: a node that would need restarting every day
# or so. The heap's limit is wider because a sample catches the
# collector's sawtooth (between the live heap and its goal, up to twice
# that) at a random point: that noise alone moves a 30-minute slope by
# several % an hour. A slope above its limit fails the run when it is
# also more than twice its standard error; within that it is reported
# as unclear (a longer run tells) and does not fail.
#
# Figures land in $OUT (default loadtest/out/soak): soak.csv (one sample a
# line: time_s from callsim's start, live_calls, rss_kib, heap_inuse_kib,
# goroutines, fds; the first line is the idle server before any call, the
# last the server idle again after the calls drained), summary.txt (the
# table of slopes and callsim's figures), callsim.txt and callsim.json,
# server.log, and metrics-steady.txt and metrics-end.txt (the server's
# metrics at the last steady sample and after the drain).
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${CALLS:-500}; duration=${DURATION:-30m}; ramp=${RAMP:-60s}
interval=${INTERVAL:-30s}; warmup=${WARMUP:-2m}
out=${OUT:-loadtest/out/soak}
port=${PORT:-18180}; iport=${INTERNAL_PORT:-19190}
max_rss=${MAX_RSS_SLOPE:-5}; max_heap=${MAX_HEAP_SLOPE:-10}
max_gor=${MAX_GOROUTINES_SLOPE:-5}; max_fds=${MAX_FDS_SLOPE:-5}

# secs turns a Go duration (30m, 90s, 1h30m, 500ms) into seconds.
secs() {
  awk -v d="$1" 'BEGIN {
    s = d; t = 0
    while (match(s, /^[0-9]+(\.[0-9]+)?(ms|h|m|s)/)) {
      tok = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
      u = tok; sub(/^[0-9.]+/, "", u)
      t += (tok + 0) * (u == "h" ? 3600 : u == "m" ? 60 : u == "s" ? 1 : 0.001)
    }
    if (s != "" || d == "") exit 1
    print t
  }' || { echo "soak: $1: not a duration (30m, 90s, 1h30m)" >&2; exit 2; }
}
duration_s=$(secs "$duration"); ramp_s=$(secs "$ramp"); interval_s=$(secs "$interval"); warmup_s=$(secs "$warmup")
steady_from=$(awk -v r="$ramp_s" -v w="$warmup_s" 'BEGIN { print r + w }')

mkdir -p "$out"
rm -f "$out"/soak.csv "$out"/summary.txt "$out"/callsim.txt "$out"/callsim.json "$out"/callsim.err "$out"/metrics-*.txt
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -x bin/iace ] && [ -x bin/callsim ] || GOTOOLCHAIN=auto make build >/dev/null

# Another server on these ports would answer the readiness probe and the
# samples in this one's place.
if curl -fs --max-time 2 "http://127.0.0.1:$iport/readyz" >/dev/null 2>&1 ||
  curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
  echo "soak: 127.0.0.1:$port or :$iport is already in use (PORT, INTERNAL_PORT)" >&2
  exit 2
fi

# Always a new data directory: calls recorded by an earlier run make the
# database, its cache and the spool bigger, and the server's memory with them.
data=$(mktemp -d "${TMPDIR:-/tmp}/iace-soak.XXXXXX")
pid=; simpid=
cleanup() {
  if [ -n "$simpid" ]; then kill -TERM "$simpid" 2>/dev/null || true; fi
  if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  if [ "${KEEP_DATA:-0}" = 1 ]; then echo "soak: data directory kept: $data" >&2; else rm -rf "$data"; fi
}
trap cleanup EXIT
# A signal ends the script through exit, so that cleanup runs.
trap 'exit 130' INT TERM

pin() { if [ -n "${1:-}" ]; then echo "taskset -c $1"; fi; }
# SERVER_FLAGS is split into words on purpose: it holds several flags.
# shellcheck disable=SC2046,SC2086
$(pin "${SERVER_CPUS:-}") bin/iace serve --addr "127.0.0.1:$port" --internal-addr "127.0.0.1:$iport" \
  --data-dir "$data" --pprof --log-format json --log-level "${LOG_LEVEL:-warn}" ${SERVER_FLAGS:-} >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -fs "http://127.0.0.1:$iport/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "soak: iace serve exited; see $out/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -fs "http://127.0.0.1:$iport/readyz" >/dev/null 2>&1 || { echo "soak: iace serve not ready after 30 s; see $out/server.log" >&2; exit 1; }

# sample appends one line to soak.csv: the process's own figures from /proc,
# the runtime's and the session engine's from /metrics. A failed scrape
# skips the sample (and says so) rather than writing a hole.
echo "time_s,live_calls,rss_kib,heap_inuse_kib,goroutines,fds" >"$out/soak.csv"
t0=$(date +%s.%N)
sample() {
  local now rss fds m line
  now=$(date +%s.%N)
  [ -r "/proc/$pid/status" ] || { echo "soak: iace serve is gone; see $out/server.log" >&2; exit 1; }
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
  if ! m=$(curl -fs --max-time 10 "http://127.0.0.1:$iport/metrics"); then
    echo "soak: $(date -u +%T) /metrics did not answer; sample skipped" >&2
    return 0
  fi
  line=$(awk -v t="$(awk -v a="$t0" -v b="$now" 'BEGIN { print b - a }')" -v rss="$rss" -v fds="$fds" '
    $1 == "iace_session_live_calls" { live = $2 }
    $1 == "go_memstats_heap_inuse_bytes" { heap = $2 }
    $1 == "go_goroutines" { gor = $2 }
    END {
      if (live == "" || heap == "" || gor == "") exit 1
      printf "%.1f,%d,%d,%d,%d,%d\n", (t < 0 ? 0 : t), live, rss, heap / 1024, gor, fds
    }' <<<"$m") || { echo "soak: /metrics lacks a series; sample skipped" >&2; return 0; }
  echo "$line" >>"$out/soak.csv"
  if [ -n "${1:-}" ]; then printf '%s\n' "$m" >"$out/$1"; fi
}

version=$(bin/iace version 2>/dev/null || echo unknown)
tree=$(git describe --always --dirty 2>/dev/null || echo unknown)
echo "soak: $version (tree $tree), $calls calls for $duration (ramp $ramp), a sample every $interval; steady from ${steady_from}s; $out"
sample # the idle server, before any call

t0=$(date +%s.%N)
# shellcheck disable=SC2046 # pin's output is a command and its arguments
$(pin "${SIM_CPUS:-}") bin/callsim -url "ws://127.0.0.1:$port/media/telnyx" -calls "$calls" -duration "$duration" -ramp "$ramp" \
  -quiet -json "$out/callsim.json" "$@" >"$out/callsim.txt" 2>"$out/callsim.err" &
simpid=$!
n=0
while kill -0 "$simpid" 2>/dev/null; do
  elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  if awk -v e="$elapsed" -v n="$n" -v i="$interval_s" 'BEGIN { exit !(e >= n * i) }'; then
    # The last sample before the end of the duration is kept whole, as the
    # steady state's end.
    steady_end=$(awk -v e="$elapsed" -v i="$interval_s" -v d="$duration_s" 'BEGIN { exit !(e + i > d && e <= d) }' && echo metrics-steady.txt || true)
    sample "$steady_end"
    n=$((n + 1))
  fi
  sleep 1
done
status=0
wait "$simpid" || status=$?
simpid=

# The calls are over: the server should come back to about where it began.
# Give it up to a minute to close what the last calls left (the sessions'
# last writes, the connections' close handshakes), then a few seconds more.
for _ in $(seq 60); do
  live=$(curl -fs --max-time 5 "http://127.0.0.1:$iport/metrics" | awk '$1 == "iace_session_live_calls" { print $2 }' || true)
  [ "${live:-1}" = 0 ] && break
  sleep 1
done
sleep 5
sample metrics-end.txt
db_kib=$(du -sk "$data" | awk '{print $1}')
kill -TERM "$pid"
wait "$pid" || true
pid=

{
  echo "soak: $version (tree $tree) on $(nproc) cores, server cpus ${SERVER_CPUS:-any}, simulator cpus ${SIM_CPUS:-any}; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "soak: $calls calls for $duration (ramp $ramp), samples every $interval; slopes over ${steady_from}s to ${duration_s}s (the ramp and ${warmup} of warm-up left out, and the drain after the duration)"
  awk -F, -v from="$steady_from" -v to="$duration_s" -v mr="$max_rss" -v mh="$max_heap" -v mg="$max_gor" -v mf="$max_fds" -v db="$db_kib" '
    NR == 1 { for (c = 2; c <= NF; c++) name[c] = $c; cols = NF; next }
    NR == 2 { for (c = 2; c <= cols; c++) idle0[c] = $c; next }
    { for (c = 2; c <= cols; c++) last[c] = $c }
    $1 + 0 >= from && $1 + 0 <= to {
      n++; x = $1 / 3600; sx += x; sxx += x * x
      for (c = 2; c <= cols; c++) { y = $c; sy[c] += y; syy[c] += y * y; sxy[c] += x * y; if (n == 1) first[c] = y; end[c] = y }
    }
    END {
      limit[3] = mr; limit[4] = mh; limit[5] = mg; limit[6] = mf
      if (n < 5) { printf "only %d steady samples: too few for a slope (a longer DURATION, or a shorter INTERVAL)\n", n; exit 3 }
      dx = sxx - sx * sx / n
      printf "%-15s %10s %10s %10s %10s %10s %12s %10s %8s %7s  %s\n", "series", "idle", "start", "end", "after", "mean", "slope/h", "±se/h", "%mean/h", "limit", "verdict"
      bad = 0
      for (c = 2; c <= cols; c++) {
        mean = sy[c] / n; b = (sxy[c] - sx * sy[c] / n) / dx
        sse = syy[c] - sy[c] * sy[c] / n - b * (sxy[c] - sx * sy[c] / n)
        se = n > 2 && sse > 0 ? sqrt(sse / (n - 2) / dx) : 0
        pct = mean != 0 ? 100 * b / mean : 0
        verdict = "-"; lim = "-"
        if (c in limit) {
          lim = sprintf("%.1f", limit[c])
          # Growth counts when it passes the limit and is more than twice
          # its standard error: a noisy series in a short run can pass
          # the limit by chance, and is reported as unclear instead.
          if (pct <= limit[c]) verdict = "flat"
          else if (b > 2 * se) { verdict = "GROWS"; bad = 1 }
          else { verdict = "unclear"; unclear = 1 }
        }
        printf "%-15s %10d %10d %10d %10d %10.0f %+12.1f %10.1f %+8.2f %7s  %s\n", name[c], idle0[c], first[c], end[c], last[c], mean, b, se, pct, lim, verdict
      }
      printf "(%d steady samples; idle: before the first call; start/end: first and last steady sample; after: idle again after the drain; data directory at the end %.1f MiB)\n", n, db / 1024
      exit bad ? 4 : unclear ? 5 : 0
    }' "$out/soak.csv" && verdict=0 || verdict=$?
  echo
  cat "$out/callsim.txt"
  if [ -s "$out/callsim.err" ]; then sed 's/^/callsim: /' "$out/callsim.err"; fi
  echo
  case "$verdict" in
  0) echo "soak: no series grew faster than its limit" ;;
  3) echo "soak: no verdict on the slopes" ;;
  5) echo "soak: a slope passed its limit within twice its standard error (unclear: noise, or growth a longer run would show)" ;;
  4) echo "soak: FAIL: a series grew faster than its limit (% of its mean per hour; MAX_*_SLOPE to change)" ;;
  *) echo "soak: FAIL: the slopes could not be computed ($verdict)" ;;
  esac
  if [ "$status" -ne 0 ]; then echo "soak: FAIL: callsim exited $status (failed or aborted calls, or it could not run)"; fi
} | tee "$out/summary.txt"

grep -q '^soak: FAIL' "$out/summary.txt" && exit 1
exit 0
