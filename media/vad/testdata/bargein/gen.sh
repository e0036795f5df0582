#!/usr/bin/env bash
# gen.sh regenerates the barge-in corpus in this folder (see docs/BARGE-IN.md):
# short 8 kHz mono PCM16 WAV clips of what a caller may do while the agent
# talks, and labels.json, which says what each clip is and where its sound
# starts and ends in milliseconds. It needs espeak-ng and sox (Debian packages
# espeak-ng, sox) and writes the same bytes on every run: espeak-ng is
# deterministic, every sox call runs with -R (fixed random seed) and -D (no
# dither), and every "random" choice (click spacing, levels) is a fixed list
# below.
#
#   bash media/vad/testdata/bargein/gen.sh
#
# Every clip starts at its onset and ends at its offset (no padding: the Go
# harness, bargein_test.go, places it in a call). The kinds:
#
#   (agent.wav)   what the agent says; the harness mixes it in as line echo
#   backchannel   "mm-hmm", "uh-huh", "yeah", ... : must not barge in
#   nonspeech     typing, knocks, coughs, hum, music, breath: must not barge in
#   interruption  "wait, that's not what I asked", ...: must barge in, fast
#   eot_complete  a whole sentence: SpeechEnd should follow its end quickly
#   eot_pause     the same sentence with a 600-800 ms pause inside
#                 (pause_ms): SpeechEnd must not fire in the pause
#
# Speech is rendered as in ../gen.sh: espeak-ng at 22.05 kHz, resampled to
# 8 kHz, normalised, trimmed where it is 50 dB below full scale, then set to
# the caller's peak level.
set -euo pipefail

cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f ./*.wav

# sx runs sox reproducibly; the output of every file is 8 kHz mono PCM16.
sx() { sox -R -D "$@"; }
pcm=(-r 8000 -c 1 -b 16 -e signed-integer)
# ms prints the length of a file in milliseconds (rounded down).
ms() { echo $(($(soxi -s "$1") / 8)); }

# The callers: espeak-ng voice, speed (words a minute), pitch (0-99) and peak
# level in dBFS. c4 is a quiet talker.
declare -A voice speed pitch peak
voice[c1]=en-us speed[c1]=165 pitch[c1]=50 peak[c1]=-3
voice[c2]=en-gb+f3 speed[c2]=150 pitch[c2]=65 peak[c2]=-10
voice[c3]=en-us+m3 speed[c3]=190 pitch[c3]=35 peak[c3]=-6
voice[c4]=en-gb-x-rp+f2 speed[c4]=140 pitch[c4]=75 peak[c4]=-20
callers=(c1 c2 c3 c4)

# speak OUT VOICE SPEED PITCH PEAK TEXT renders trimmed speech to OUT.
speak() {
	local out=$1 v=$2 s=$3 p=$4 l=$5 text=$6
	espeak-ng -v "$v" -s "$s" -p "$p" -w "$tmp/raw.wav" "$text"
	sx "$tmp/raw.wav" "${pcm[@]}" "$out" norm -1 \
		silence 1 0.005 -50d reverse silence 1 0.005 -50d reverse \
		gain -n "$l"
}
# say OUT CALLER TEXT renders TEXT in the caller's voice.
say() { speak "$1" "${voice[$2]}" "${speed[$2]}" "${pitch[$2]}" "${peak[$2]}" "$3"; }

entries=()
# label FILE KIND CALLER TEXT [PAUSE_START PAUSE_END] records a clip whose
# sound spans the whole file.
label() {
	local f=$1 kind=$2 who=$3 text=$4 extra=""
	if [ $# -ge 6 ]; then extra=", \"pause_ms\": [$5, $6]"; fi
	entries+=("    {\"file\": \"$f\", \"kind\": \"$kind\", \"voice\": \"$who\", \"text\": \"$text\", \"onset_ms\": 0, \"offset_ms\": $(ms "$f")$extra}")
}

# --- The agent: a plain TTS voice at a normal level.
agent_text="Thanks for waiting. I can see your order from last Tuesday. It shipped this morning, and it should arrive by Friday. I can also send you a tracking link by text message, if you would like."
speak agent.wav en-us+f4 175 55 -3 "$agent_text"

# --- Backchannels. espeak-ng spells "mm-hmm" out, so it gets phonemes.
bc_names=(mmhmm uhhuh yeah okay right sure isee)
bc_texts=("mm-hmm" "uh-huh" "yeah" "okay" "right" "sure" "I see")
bc_say=("[[m@m'h@m]]" "uh-huh" "yeah." "okay." "right." "sure." "I see.")
for c in "${callers[@]}"; do
	for i in "${!bc_names[@]}"; do
		f=bc_${bc_names[$i]}_$c.wav
		say "$f" "$c" "${bc_say[$i]}"
		label "$f" backchannel "$c" "${bc_texts[$i]}"
	done
done

# --- Real interruptions.
int_names=(wait address repeat stop holdon cancel)
int_texts=("Wait, that's not what I asked." "No, I need to change my address." "Sorry, can you repeat that?"
	"Stop, I want to speak to someone." "Hold on a second, please." "Actually, I'd like to cancel the order.")
for c in "${callers[@]}"; do
	for i in "${!int_names[@]}"; do
		f=int_${int_names[$i]}_$c.wav
		say "$f" "$c" "${int_texts[$i]}"
		label "$f" interruption "$c" "${int_texts[$i]}"
	done
done

# --- End of turn: a complete sentence, and the same sentence cut in two
# with a pause of 600, 700 or 800 ms between the halves (after a filler in
# the first).
eot_names=(address order)
eot_full=("I want to change my delivery address." "My order number is four five nine two.")
eot_head=("I want to, um," "My order number is")
eot_tail=("change my delivery address." "four five nine two.")
eot_label=("I want to, um, ... change my delivery address." "My order number is ... four five nine two.")
n=0
for c in "${callers[@]}"; do
	for i in "${!eot_names[@]}"; do
		f=eot_${eot_names[$i]}_$c.wav
		say "$f" "$c" "${eot_full[$i]}"
		label "$f" eot_complete "$c" "${eot_full[$i]}"

		pause=$((600 + 100 * (n % 3)))
		n=$((n + 1))
		say "$tmp/head.wav" "$c" "${eot_head[$i]}"
		say "$tmp/tail.wav" "$c" "${eot_tail[$i]}"
		sx "$tmp/head.wav" "$tmp/headp.wav" pad 0 "0.$((pause / 100))"
		f=eot_${eot_names[$i]}_pause${pause}_$c.wav
		sx "$tmp/headp.wav" "$tmp/tail.wav" "$f"
		h=$(ms "$tmp/head.wav")
		label "$f" eot_pause "$c" "${eot_label[$i]}" "$h" $((h + pause))
	done
done

# --- Non-speech.

# keystroke OUT PRESS_S LEVEL_DB GAP_S: a key press (a short band-passed
# click), its release 60 ms later, 6 dB quieter, then GAP_S of silence.
keystroke() {
	local out=$1 d=$2 g=$3 gap=$4
	sx -n "${pcm[@]}" "$tmp/press.wav" synth "$d" whitenoise sinc 1000-3800 fade t 0.001 "$d" 0.006 gain -n "$g"
	sx -n "${pcm[@]}" "$tmp/release.wav" synth 0.008 whitenoise sinc 1500-3800 fade t 0.001 0.008 0.005 gain -n $((g - 6))
	sx "$tmp/press.wav" "$tmp/pressp.wav" pad 0 0.06
	sx "$tmp/pressp.wav" "$tmp/release.wav" "$tmp/key.wav"
	sx "$tmp/key.wav" "$out" pad 0 "$gap"
}
# typing OUT GAPS... : a click train, one keystroke per gap.
typing() {
	local out=$1 k=0 parts=()
	shift
	local durs=(0.012 0.018 0.010 0.015 0.020 0.014)
	local levels=(-8 -12 -6 -10 -14 -9 -11)
	for gap in "$@"; do
		keystroke "$tmp/k$k.wav" "${durs[$((k % 6))]}" "${levels[$((k % 7))]}" "$gap"
		parts+=("$tmp/k$k.wav")
		k=$((k + 1))
	done
	sx "${parts[@]}" "$tmp/typing.wav"
	# Trim the silence after the last keystroke.
	sx "$tmp/typing.wav" "$out" reverse silence 1 0.001 -70d reverse
}
typing ns_typing_fast.wav 0.05 0.09 0.04 0.12 0.06 0.08 0.03 0.10 0.07 0.05 0.11 0.04 0.08 0.06 0
label ns_typing_fast.wav nonspeech "" "keyboard typing, fast: 15 keystrokes in 2 s"
typing ns_typing_slow.wav 0.25 0.40 0.19 0.33 0.28 0.45 0.22 0
label ns_typing_slow.wav nonspeech "" "keyboard typing, slow: 8 keystrokes in 3 s"

# knock OUT LEVEL_DB: a knuckle on a door, a 220 Hz thump and a noise burst,
# 90 ms.
knock() {
	sx -n "${pcm[@]}" "$tmp/thump.wav" synth 0.09 sine 220 fade p 0 0.09 0.085
	sx -n "${pcm[@]}" "$tmp/crack.wav" synth 0.09 pinknoise sinc 100-1500 fade p 0.002 0.09 0.08
	sx -m "$tmp/thump.wav" "$tmp/crack.wav" "$tmp/knock.wav"
	sx "$tmp/knock.wav" "$1" gain -n "$2"
}
knock "$tmp/kn.wav" -6
sx "$tmp/kn.wav" "$tmp/knp.wav" pad 0 0.12
sx "$tmp/knp.wav" "$tmp/knp.wav" "$tmp/kn.wav" ns_knock.wav
label ns_knock.wav nonspeech "" "door knock: 3 knocks"
knock "$tmp/kl.wav" -1
sx "$tmp/kl.wav" "$tmp/klp.wav" pad 0 0.08
sx "$tmp/klp.wav" "$tmp/klp.wav" "$tmp/klp.wav" "$tmp/klp.wav" "$tmp/kl.wav" ns_knock_loud.wav
label ns_knock_loud.wav nonspeech "" "door knock, loud: 5 knocks"

# cough OUT LEVEL_DB: a 50 ms broadband burst, then a 250 ms decaying body.
cough() {
	sx -n "${pcm[@]}" "$tmp/burst.wav" synth 0.05 whitenoise sinc 500-3400 fade t 0.003 0.05 0.02
	sx -n "${pcm[@]}" "$tmp/body.wav" synth 0.25 pinknoise sinc 300-2200 fade p 0.005 0.25 0.22 vol 0.7
	sx "$tmp/burst.wav" "$tmp/body.wav" "$tmp/c.wav"
	sx "$tmp/c.wav" "$1" gain -n "$2"
}
cough ns_cough.wav -4
label ns_cough.wav nonspeech "" "cough"
cough "$tmp/c1.wav" -4
cough "$tmp/c2.wav" -8
sx "$tmp/c1.wav" "$tmp/c1p.wav" pad 0 0.15
sx "$tmp/c1p.wav" "$tmp/c2.wav" ns_cough_double.wav
label ns_cough_double.wav nonspeech "" "cough, twice"
sx -n "${pcm[@]}" ns_throat.wav synth 0.5 brownnoise sinc 200-1500 tremolo 30 70 fade t 0.05 0.5 0.15 gain -n -10
label ns_throat.wav nonspeech "" "throat clearing"

# Mains hum (50 Hz and odd harmonics) and a 60 Hz buzz (a band-limited
# square wave: harmonics through the telephone band); both start abruptly.
sx -n -r 8000 -c 3 -b 16 "$tmp/hum3.wav" synth 2 sine 50 sine 150 sine 250
sx "$tmp/hum3.wav" "${pcm[@]}" ns_hum50.wav remix 1v0.6,2v0.3,3v0.1 gain -n -12
label ns_hum50.wav nonspeech "" "mains hum, 50 Hz"
sx -n "${pcm[@]}" ns_buzz60.wav synth 2 square 60 vol 0.3 sinc -2000 gain -n -24
label ns_buzz60.wav nonspeech "" "mains buzz, 60 Hz square"

# Music: four chords (C F G C), plucked, then as an organ with tremolo.
chords=("C4 E4 G4" "F4 A4 C5" "G4 B4 D5" "C4 E4 G4")
music() {
	local out=$1 wave=$2 d=$3 parts=() k=0
	shift 3
	for ch in "${chords[@]}"; do
		read -r a b c <<<"$ch"
		sx -n -r 8000 -c 3 -b 16 "$tmp/chord.wav" synth "$d" "$wave" "$a" "$wave" "$b" "$wave" "$c"
		sx "$tmp/chord.wav" "${pcm[@]}" "$tmp/ch$k.wav" remix 1-3 "$@"
		parts+=("$tmp/ch$k.wav")
		k=$((k + 1))
	done
	sx "${parts[@]}" "$tmp/music.wav"
	sx "$tmp/music.wav" "$out" gain -n -6
}
music ns_music_pluck.wav pluck 0.6
label ns_music_pluck.wav nonspeech "" "music: plucked chords C F G C"
music ns_music_organ.wav sine 0.5 tremolo 6 40 fade t 0.02 0.5 0.05
label ns_music_organ.wav nonspeech "" "music: organ chords C F G C"

# Breath: an inhale and an exhale; rustle: modulated high-passed noise (paper,
# clothes on the microphone).
sx -n "${pcm[@]}" "$tmp/in.wav" synth 0.7 pinknoise sinc 500-2800 fade q 0.3 0.7 0.35 gain -n -24
sx -n "${pcm[@]}" "$tmp/out.wav" synth 0.8 pinknoise sinc 300-2000 fade q 0.1 0.8 0.6 gain -n -20
sx "$tmp/in.wav" "$tmp/inp.wav" pad 0 0.25
sx "$tmp/inp.wav" "$tmp/out.wav" ns_breath.wav
label ns_breath.wav nonspeech "" "breathing: in and out"
sx -n "${pcm[@]}" ns_rustle.wav synth 1.5 whitenoise sinc 800-3600 tremolo 11 85 tremolo 3.7 60 gain -n -12
label ns_rustle.wav nonspeech "" "rustle: paper or clothes on the microphone"

{
	echo "{"
	echo "  \"agent\": {\"file\": \"agent.wav\", \"text\": \"$agent_text\"},"
	echo "  \"voices\": {"
	sep=""
	for c in "${callers[@]}"; do
		printf '%s    "%s": "%s, %s wpm, pitch %s, peak %s dBFS"' "$sep" "$c" "${voice[$c]}" "${speed[$c]}" "${pitch[$c]}" "${peak[$c]}"
		sep=$',\n'
	done
	printf '\n  },\n  "clips": [\n'
	printf '%s' "${entries[0]}"
	for e in "${entries[@]:1}"; do printf ',\n%s' "$e"; done
	printf '\n  ]\n}\n'
} >labels.json
