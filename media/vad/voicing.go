package vad

import (
	"math"
	"time"
)

const (
	// minCorr is the periodicity (NCCF peak) a frame needs to count as
	// pitched at all. Line noise, clicks, coughs and breath stay under it
	// in most frames; a voice, even a rough or creaky one, is above it in
	// most of its vowels.
	minCorr = 0.3
	// strongCorr is the periodicity of a clearly voiced frame: a vowel
	// (0.8-0.98 in clean speech, 0.6 and up at 10 dB SNR).
	// Pitch movement counts only between two such frames, so the wobble of
	// the estimator on a weakly periodic sound (a chord) is not taken for
	// intonation.
	strongCorr = 0.6
	// maxPitchStep is how far (natural log, about 10%) the fundamental may
	// move from one frame to the next and still be the same voice: vocal
	// folds do not change their rate faster than that in 20 ms, while the
	// peak of noise lands anywhere in 70-400 Hz. An octave jump counts as
	// continuous: the estimator may lock on twice or half the period.
	maxPitchStep = 0.1
	// minPitchMove is the smallest step (natural log, 0.5%) that counts as
	// the pitch moving. A voice never holds its pitch that still (jitter
	// and intonation); a synthesizer, a tuned instrument, a resonance (a
	// knock on wood) or mains hum does.
	minPitchMove = 0.01

	// A run is accepted as voiced speech once it has acceptPitched pitched
	// steps, acceptMoving of them moving, and moving steps are at least
	// acceptMovingShare of the pitched ones: about 80 ms of vowel whose
	// pitch moves. Speech gets there within 60-200 ms of its first vowel.
	acceptPitched     = 4
	acceptMoving      = 2
	acceptMovingShare = 0.25

	// A run is rejected (NotSpeech) after rejectUnpitched of voiced audio
	// with at most maxUnpitchedSteps pitched steps (a cough, typing, breath
	// or rustle, where noise lines up by chance once: a spoken onset
	// reaches its first vowel within about 150 ms even after an "s"), or
	// after rejectAny without being accepted (a steady tone, a chord).
	rejectUnpitched   = 200 * time.Millisecond
	maxUnpitchedSteps = 2
	rejectAny         = 300 * time.Millisecond

	// tailLen is how many pitched frames the end-of-turn cue looks at: the
	// last 160 ms or so of voicing. The fall is the median of the oldest
	// three against the median of the newest three.
	tailLen = 8
	// finalFall is the fall of the pitch over the tail (natural log, about
	// 6%, one semitone) that marks the end of a statement: a declarative
	// ends on a fall to the bottom of the speaker's range, while a phrase
	// that goes on ends level or rising ("My order number is ...", "I want
	// to, um, ...").
	finalFall = 0.06
)

// voicing judges, frame by frame, whether the sound of a run is a voice:
// periodic, with a fundamental that moves continuously, as a voice's does.
type voicing struct {
	prevF0, prevCorr float64 // the last frame's peak; prevF0 0 if under minCorr
	pitched, moving  int     // steps of the run
	accepted         bool

	// The last tailLen pitched fundamentals of the utterance (a ring; n
	// counts them all), each moved by octaves next to the one before it.
	tail [tailLen]float64
	n    int
}

// startRun forgets the evidence of the last run.
func (v *voicing) startRun() {
	v.prevF0, v.prevCorr = 0, 0
	v.pitched, v.moving, v.accepted = 0, 0, false
}

// startUtterance forgets the end-of-turn tail too.
func (v *voicing) startUtterance() {
	v.startRun()
	v.n = 0
}

// gap takes an unvoiced frame inside a run: the pitch track breaks there,
// so the next voiced frame does not continue it.
func (v *voicing) gap() { v.prevF0, v.prevCorr = 0, 0 }

// frame takes the periodicity and fundamental of one voiced frame.
func (v *voicing) frame(corr, f0 float64) {
	if corr < minCorr {
		v.prevF0, v.prevCorr = 0, corr
		return
	}
	if v.prevF0 > 0 {
		step := math.Abs(math.Log(f0 / v.prevF0))
		if step > math.Ln2/2 {
			step = math.Abs(step - math.Ln2)
		}
		if step < maxPitchStep {
			v.pitched++
			if step >= minPitchMove && corr >= strongCorr && v.prevCorr >= strongCorr {
				v.moving++
			}
			v.push(f0)
		}
	}
	v.prevF0, v.prevCorr = f0, corr
	if !v.accepted && v.pitched >= acceptPitched && v.moving >= acceptMoving &&
		float64(v.moving) >= acceptMovingShare*float64(v.pitched) {
		v.accepted = true
	}
}

// push adds a pitched fundamental to the tail, moved by octaves to within
// half an octave of the last one.
func (v *voicing) push(f0 float64) {
	if v.n > 0 {
		last := v.tail[(v.n-1)%tailLen]
		for f0 > last*math.Sqrt2 {
			f0 /= 2
		}
		for f0 < last/math.Sqrt2 {
			f0 *= 2
		}
	}
	v.tail[v.n%tailLen] = f0
	v.n++
}

// fell reports whether the pitch fell by finalFall over the tail: the
// utterance sounds finished. With fewer than tailLen pitched frames it
// cannot tell, and reports false.
func (v *voicing) fell() bool {
	if v.n < tailLen {
		return false
	}
	at := func(i int) float64 { return v.tail[(v.n+i)%tailLen] } // i = 0 is the oldest
	old := median3(at(0), at(1), at(2))
	late := median3(at(tailLen-3), at(tailLen-2), at(tailLen-1))
	return math.Log(old/late) >= finalFall
}

func median3(a, b, c float64) float64 {
	return max(min(a, b), min(max(a, b), c))
}
