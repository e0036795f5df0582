#!/usr/bin/env bash
# The q-quantile of a Prometheus histogram in a metrics dump, as the upper
# bound of the bucket it falls in (what histogram_quantile would bound).
#
#   loadtest/quantile.sh FILE METRIC [LABEL_FILTER] [Q]
#   loadtest/quantile.sh loadtest/out/metrics.txt iace_session_memory_fetch_seconds 'what="caller"' 0.99
#
# Prints the count of observations and the bucket bound; +Inf when the
# quantile lies beyond the last finite bucket.
set -euo pipefail
file=$1; metric=$2; filter=${3:-}; q=${4:-0.99}
grep "^${metric}_bucket{" "$file" | { if [ -n "$filter" ]; then grep -F "$filter"; else cat; fi; } |
  sed -E 's/.*le="([^"]+)".* ([0-9.e+]+)$/\1 \2/' |
  awk -v q="$q" '
    { le[NR] = $1; n[NR] = $2 }
    END {
      if (NR == 0) { print "no such histogram"; exit 1 }
      total = n[NR]
      if (total == 0) { print "count 0"; exit 0 }
      for (i = 1; i <= NR; i++) if (n[i] >= q * total) { printf "count %d p%g <= %s\n", total, q * 100, le[i]; exit 0 }
    }'
