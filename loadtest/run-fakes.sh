#!/usr/bin/env bash
# Load run through the real cloud clients: `iace fakes` (Deepgram, an
# OpenAI-compatible LLM and Telnyx Call Control, with realistic latencies)
# plus loadtest/run.sh pointed at them.
#
#   loadtest/run-fakes.sh CALLS DURATION RAMP [callsim flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-loadtest/out}
mkdir -p "$out"
[ -x bin/iace ] && [ -x bin/callsim ] || make build >/dev/null
bin/iace fakes ${FAKES_FLAGS:-} >"$out/fakes.txt" 2>&1 &
fpid=$!
trap 'kill -TERM $fpid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q -- "--llm-base-url" "$out/fakes.txt" 2>/dev/null && break; sleep 0.1; done
flags=$(grep -o -- '--llm-base-url .*' "$out/fakes.txt")
export IACE_LLM_API_KEY=fake-key IACE_DEEPGRAM_API_KEY=fake-key IACE_TELNYX_API_KEY=fake-key
# callsim plays Telnyx without a webhook, so without stream tokens: with a
# Telnyx key set, only the explicit switch admits such streams (loopback).
SERVER_FLAGS="$flags --unauthenticated-streams=true ${SERVER_FLAGS:-}" ./loadtest/run.sh "$@"
