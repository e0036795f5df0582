#!/usr/bin/env bash
# Prints the statement coverage of each package in a Go cover profile and
# over all of them, and fails when the whole is under a floor.
#
#   deploy/coverage.sh bin/cover.out 70
#
# The total is covered statements over all statements of the profile,
# every package counted, including those whose own tests do not exercise
# them (test fakes such as store/storetest are run by other packages'
# tests, which a per-package profile does not credit). A block listed
# twice counts once. The floor applies to the product: every package but
# the load tools under loadtest/ (callsim, apiload, the chaos harness and
# its load balancer, the store benchmark), which drive processes, system
# services and other machines' worth of load, and are checked by running
# them (make loadtest, make soak, make chaos: docs/RELIABILITY.md); their
# coverage is printed apart. `go tool cover -func` prints nearly the same total on
# its last line (it counts only blocks inside functions, and rounds).
set -euo pipefail

profile=${1:?usage: coverage.sh PROFILE FLOOR}
floor=${2:?usage: coverage.sh PROFILE FLOOR}

awk -v floor="$floor" '
  NR == 1 && /^mode:/ { next }
  {
    # file:startLine.startCol,endLine.endCol numStatements count
    block = $1; stmts = $2; count = $3
    if (!(block in seen)) {
      seen[block] = 1
      file = block; sub(/:.*/, "", file)
      pkg = file; sub(/\/[^\/]*$/, "", pkg)
      pkgOf[block] = pkg
      total[pkg] += stmts
      all += stmts
      tool[block] = (file ~ /\/loadtest\//)
      if (tool[block]) toolAll += stmts
    }
    if (count > 0 && !(block in hit)) {
      hit[block] = 1
      covered[pkgOf[block]] += stmts
      allCovered += stmts
      if (tool[block]) toolCovered += stmts
    }
  }
  END {
    if (all == 0) { print "coverage: the profile has no statements" > "/dev/stderr"; exit 2 }
    for (p in total) {
      printf "%6.1f%%  %6d stmts  %s\n", 100 * covered[p] / total[p], total[p], p | "sort -k4"
    }
    close("sort -k4")
    if (toolAll > 0) {
      printf "load tools (loadtest/): %.2f%% of %d statements (no floor)\n", 100 * toolCovered / toolAll, toolAll
    }
    printf "everything: %.2f%% of %d statements\n", 100 * allCovered / all, all
    pct = 100 * (allCovered - toolCovered) / (all - toolAll)
    printf "total: %.2f%% of %d statements of the product (floor %s%%)\n", pct, all - toolAll, floor
    if (pct < floor) {
      printf "coverage %.2f%% is under the floor of %s%%\n", pct, floor > "/dev/stderr"
      exit 1
    }
  }
' "$profile"
