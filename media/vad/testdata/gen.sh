#!/usr/bin/env bash
# gen.sh regenerates the VAD test corpus in this folder: 8 kHz mono G.711
# mu-law WAV files (the PCMU format Telnyx sends) and labels.json, the true
# speech boundaries in milliseconds, known from the silence we pad around the
# speech. It needs espeak-ng and sox (Debian packages espeak-ng, sox) and
# writes the same bytes on every run: espeak-ng is deterministic, and every
# sox call runs with -R (fixed random seed) and -D (no dither).
#
#   cd media/vad/testdata && ./gen.sh
#
# The recipe, per sentence N with voice V, speed S and peak level L dBFS:
#
#   espeak-ng -v V -s S -w raw.wav "TEXT"                      # 22.05 kHz
#   sox -R -D raw.wav -r 8000 speech.wav norm -1 \
#       silence 1 0.005 -50d reverse silence 1 0.005 -50d reverse \
#       gain -n L                     # 8 kHz, trimmed where it is 50 dB below peak
#   sox -R -D speech.wav -e u-law speechN.wav pad 0.8 0.8      # onset 800 ms
#   offset_ms = 800 + samples(speech.wav) / 8
#
# Noisy copies mix in steady noise scaled to a chosen SNR against the RMS of
# the trimmed speech:
#
#   sox -R -D speechN.wav noise.wav synth whitenoise|pinknoise|brownnoise
#   sox -R -D -m -v 1 speechN.wav -v K noise.wav -e u-law speechN_KIND.wav
#   K = rms(speech) / rms(noise) / 10^(SNR/20)
#
# Mains hum is 50 Hz with its odd harmonics:
#
#   sox -R -D -n -r 8000 -c 3 hum.wav synth D sine 50 sine 150 sine 250 \
#       remix 1v0.6,2v0.3,3v0.1
#
# The click is a 30 ms band-passed noise burst; the cough a 130 ms one with a
# 10 ms attack and an 80 ms decay; both sit in digital silence.
set -euo pipefail

cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pad=0.8     # seconds of silence before and after every utterance
pad_ms=800

# rms prints the RMS amplitude (0..1 of full scale) of a file.
rms() { sox "$1" -n stat 2>&1 | awk '/^RMS +amplitude/ {print $3}'; }
# samples prints the length of a file in samples.
samples() { soxi -s "$1"; }
# ulaw writes 8 kHz mono mu-law.
ulaw() { sox -R -D "$@"; }

# speak NAME VOICE SPEED PEAK_DB TEXT renders $tmp/NAME.wav: 8 kHz PCM16,
# trimmed, at the given peak level, no padding.
speak() {
	local name=$1 voice=$2 speed=$3 peak=$4 text=$5
	espeak-ng -v "$voice" -s "$speed" -w "$tmp/$name.raw.wav" "$text"
	sox -R -D "$tmp/$name.raw.wav" -r 8000 -b 16 "$tmp/$name.wav" norm -1 \
		silence 1 0.005 -50d reverse silence 1 0.005 -50d reverse \
		gain -n "$peak"
}

# noisy IN KIND SNR_DB OUT mixes steady noise of KIND into IN at SNR_DB
# against the RMS of the unpadded speech $tmp/IN.wav.
noisy() {
	local in=$1 kind=$2 snr=$3 out=$4
	local padded="$tmp/$in.padded.wav" noise="$tmp/$in.$kind.wav"
	sox -R -D "$tmp/$in.wav" "$padded" pad $pad $pad
	if [ "$kind" = hum ]; then
		sox -R -D -n -r 8000 -c 3 -b 16 "$tmp/hum3.wav" \
			synth "$(soxi -D "$padded")" sine 50 sine 150 sine 250
		sox -R -D "$tmp/hum3.wav" -c 1 "$noise" remix 1v0.6,2v0.3,3v0.1
	else
		sox -R -D "$padded" "$noise" synth "${kind}noise"
	fi
	local k
	k=$(awk -v s="$(rms "$tmp/$in.wav")" -v n="$(rms "$noise")" -v snr="$snr" \
		'BEGIN { printf "%.6f", s / n / exp(snr / 20 * log(10)) }')
	ulaw -m -v 1 "$padded" -v "$k" "$noise" -e u-law "$out.wav"
}

# noise KIND LEVEL_DB OUT writes 3 s of steady noise at an RMS level in dBFS.
noise() {
	local kind=$1 level=$2 out=$3 raw="$tmp/$3.raw.wav"
	if [ "$kind" = hum ]; then
		sox -R -D -n -r 8000 -c 3 -b 16 "$tmp/hum3.wav" synth 3 sine 50 sine 150 sine 250
		sox -R -D "$tmp/hum3.wav" -c 1 "$raw" remix 1v0.6,2v0.3,3v0.1
	else
		sox -R -D -n -r 8000 -c 1 -b 16 "$raw" synth 3 "${kind}noise"
	fi
	local k
	k=$(awk -v n="$(rms "$raw")" -v l="$level" \
		'BEGIN { printf "%.6f", exp(l / 20 * log(10)) / n }')
	ulaw "$raw" -e u-law "$out.wav" vol "$k"
}

labels=()
# label FILE ONSET OFFSET [ONSET OFFSET...] records the boundaries in ms.
label() {
	local f=$1; shift
	local pairs=()
	while [ $# -gt 0 ]; do pairs+=("[$1, $2]"); shift 2; done
	local IFS=,
	labels+=("  \"$f.wav\": [${pairs[*]}]")
}

# The sentences: different voices, speeds and levels (-22 dBFS peak is a
# quiet talker).
speak s1 en-us 160 -3 "The quick brown fox jumps over the lazy dog."
speak s2 en-gb+f3 150 -10 "Please call me back tomorrow morning about the invoice."
speak s3 en-us+m3 190 -6 "I would like to book a table for two at seven tonight."
speak s4 en-gb-x-rp+f2 140 -22 "My account number is four five nine two."

for n in 1 2 3 4; do
	ulaw "$tmp/s$n.wav" -e u-law "speech$n.wav" pad $pad $pad
	label "speech$n" $pad_ms $((pad_ms + $(samples "$tmp/s$n.wav") / 8))
done

noisy s1 white 12 speech1_white12
label speech1_white12 $pad_ms $((pad_ms + $(samples "$tmp/s1.wav") / 8))
noisy s2 pink 10 speech2_pink10
label speech2_pink10 $pad_ms $((pad_ms + $(samples "$tmp/s2.wav") / 8))
noisy s3 brown 10 speech3_brown10
label speech3_brown10 $pad_ms $((pad_ms + $(samples "$tmp/s3.wav") / 8))
noisy s4 hum 10 speech4_hum10
label speech4_hum10 $pad_ms $((pad_ms + $(samples "$tmp/s4.wav") / 8))

# Two utterances with a 1 s pause between them.
speak t1 en-us 170 -6 "Hello, is anybody there?"
speak t2 en-us 170 -6 "I need some help with my order."
sox -R -D "$tmp/t1.wav" "$tmp/t1p.wav" pad $pad 1.0
sox -R -D "$tmp/t2.wav" "$tmp/t2p.wav" pad 0 $pad
ulaw "$tmp/t1p.wav" "$tmp/t2p.wav" -e u-law two_utterances.wav
t1=$(($(samples "$tmp/t1.wav") / 8))
t2=$(($(samples "$tmp/t2.wav") / 8))
label two_utterances $pad_ms $((pad_ms + t1)) $((pad_ms + t1 + 1000)) $((pad_ms + t1 + 1000 + t2))

# Steady noise only: moderate (-35 dBFS RMS) and high (-15 dBFS RMS).
for kind in white pink brown; do
	noise $kind -35 "noise_${kind}_mid"
	noise $kind -15 "noise_${kind}_high"
	label "noise_${kind}_mid"
	label "noise_${kind}_high"
done
noise hum -15 noise_hum_high
label noise_hum_high

# Short bursts in digital silence.
sox -R -D -n -r 8000 -c 1 -b 16 "$tmp/click.wav" synth 0.03 whitenoise \
	sinc 300-3000 fade t 0.002 0.03 0.02 gain -n -6
sox -R -D "$tmp/click.wav" -e u-law click.wav pad $pad 1.5
label click
sox -R -D -n -r 8000 -c 1 -b 16 "$tmp/cough.wav" synth 0.13 pinknoise \
	sinc 300-2500 fade t 0.01 0.13 0.08 gain -n -6
sox -R -D "$tmp/cough.wav" -e u-law cough.wav pad $pad 1.5
label cough

{
	echo "{"
	printf '%s' "${labels[0]}"
	for l in "${labels[@]:1}"; do printf ',\n%s' "$l"; done
	printf '\n}\n'
} >labels.json
