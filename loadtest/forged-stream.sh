#!/usr/bin/env bash
# Replays the audit's forged-stream attack against the built binary,
# configured as in production on the embedded store: Telnyx webhooks and
# Call Control on (pointed at `iace fakes`), a stream secret set. A caller
# with no stream token opens a media stream naming a victim's
# call_control_id and asks for a human. The server must refuse the stream
# and send no Call Control request. Exits non-zero if it does not.
#
#   loadtest/forged-stream.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'kill -TERM ${spid:-} ${fpid:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$out"' EXIT
make build >/dev/null

bin/iace fakes >"$out/fakes.txt" 2>&1 &
fpid=$!
for _ in $(seq 50); do grep -q -- "--telnyx-api-url" "$out/fakes.txt" 2>/dev/null && break; sleep 0.1; done
telnyx_url=$(grep -o -- '--telnyx-api-url [^ ]*' "$out/fakes.txt" | cut -d' ' -f2)

port=$((20000 + RANDOM % 20000))
IACE_TELNYX_API_KEY=fake-key \
IACE_STREAM_SECRET="$(head -c 32 /dev/urandom | base64)" \
  bin/iace serve --addr "127.0.0.1:$port" --internal-addr "127.0.0.1:$((port + 1))" --log-format json \
    --data-dir "$out/data" --telnyx-api-url "$telnyx_url" --public-url https://iace.example.com \
    --telnyx-public-key "$(head -c 32 /dev/urandom | base64)" >"$out/server.log" 2>&1 &
spid=$!
for _ in $(seq 100); do grep -q '"msg":"serving"' "$out/server.log" 2>/dev/null && break; sleep 0.1; done

echo "forged-stream: a stream without a token, naming call v3:victim and asking for a human"
bin/callsim -url "ws://127.0.0.1:$port/media/telnyx" -calls 1 -transfer 1 -call-control-id v3:victim \
  -quiet >"$out/callsim.txt" 2>&1 || true
grep -E "^calls|failed" "$out/callsim.txt" | head -3 || true
kill -TERM "$spid"; wait "$spid" || true
kill -INT "$fpid"; wait "$fpid" || true
spid= fpid=

grep -o '"msg":"media streams without a token are refused[^"]*"' "$out/server.log" | head -1 || true
grep -o '"msg":"media stream refused","reason":"[a-z_]*"' "$out/server.log" | sort | uniq -c || true
summary=$(grep "telnyx call control:" "$out/fakes.txt" || true)
echo "$summary"
if ! grep -q '"msg":"media stream refused","reason":"unauthorized"' "$out/server.log"; then
  echo "forged-stream: FAIL: the stream was not refused"; exit 1
fi
case "$summary" in
  "telnyx call control: 0 commands"*) echo "forged-stream: refused, and no Call Control request left the server" ;;
  *) echo "forged-stream: FAIL: Call Control was asked"; exit 1 ;;
esac
