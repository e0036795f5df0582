#!/bin/sh
# gen.sh regenerates the caller utterances the call simulator embeds: one 8 kHz,
# mono, 16-bit WAV per sentence, named after its text (lowercase words joined by
# "_", the same slug callsim looks up for a -script line), silence trimmed at
# both ends so the last frame of a file is the caller's last voiced frame.
#
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox). Run it from
# anywhere; it writes next to itself. Output is deterministic for a given
# espeak-ng/sox version, so re-running it should leave git clean.
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() {
	text=$1
	slug=$(printf '%s' "$text" | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '_' | sed 's/^_//; s/_$//')
	espeak-ng -v en-us -s 165 -w "$tmp/raw.wav" "$text"
	# -D: no dither, so the output is reproducible. "silence 1 0.02 1%" drops
	# leading audio below 1% of full scale; reversing twice trims the tail too.
	sox -V1 -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 "$dir/$slug.wav" \
		silence 1 0.02 1% reverse silence 1 0.02 1% reverse
	echo "$slug.wav"
}

# The default script (the demo agent answers hours and price, ends on goodbye).
say "what are your opening hours"
say "how much does it cost"
say "goodbye"
# -transfer replaces goodbye with this; the demo agent transfers the call.
say "I want to talk to a human"
# -bargein speaks this over a reply: well over the 600 ms that count as barge-in.
say "sorry can you say that again a bit more slowly please"
