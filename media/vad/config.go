package vad

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig is wrapped by every problem Config.Validate reports.
var ErrInvalidConfig = errors.New("vad: invalid config")

// ErrSampleRate is returned by New for a sample rate it cannot filter.
var ErrSampleRate = errors.New("vad: unsupported sample rate")

// Config tunes the detector. Start from DefaultConfig: the zero value is not
// valid.
type Config struct {
	// MinSpeech is the voiced audio needed before SpeechStart fires. Voiced
	// frames count; gaps shorter than Hangover between them do not reset the
	// count.
	MinSpeech time.Duration
	// MinSilence is the unvoiced audio after speech (and after its hangover)
	// that ends an utterance that sounds finished (its pitch fell at the
	// end, as a statement's does) or was no voice at all: SpeechEnd fires
	// Hangover + MinSilence after the level drops.
	MinSilence time.Duration
	// MaxSilence is the same for an utterance that sounds unfinished (its
	// pitch ended level or rising, or on a filler such as "um"): the caller
	// is likely to go on. Zero, or anything up to MinSilence, turns the
	// adaptive end of turn off: every utterance ends after MinSilence.
	MaxSilence time.Duration
	// PauseMin is the unvoiced audio after speech (and after its hangover)
	// that reports EventPause, once per pause, before the utterance ends.
	// Zero turns Pause off.
	PauseMin time.Duration
	// BargeInMin is the voiced audio in one utterance that fires BargeIn,
	// once an utterance, and only once a run of it (the sound between two
	// gaps of Hangover) has been heard to be voiced speech: periodic, with
	// a pitch that moves continuously, as a voice's does. BargeIn also
	// waits until the level inside the utterance has swung by 7 dB, which
	// speech does within a syllable or two and steady noise never does.
	BargeInMin time.Duration
	// BackchannelMax, if longer than BargeInMin, is the voiced audio an
	// utterance of speech needs before BargeIn: a backchannel ("mm-hmm", "yeah",
	// "okay") is real speech that only its shortness tells from an
	// interruption, and one that ends before BackchannelMax gets
	// NotSpeech instead. It delays every BargeIn to BackchannelMax; a
	// session with a streaming transcript tells backchannels by their
	// words instead and leaves it zero (off).
	BackchannelMax time.Duration
	// Hangover is how long frames stay voiced after the level drops; it
	// bridges the short dips inside words. Zero disables it.
	Hangover time.Duration
	// ThresholdDB is how far above the noise floor a frame's energy must be to
	// count as voiced. Steady noise peaks 2-4 dB above the floor; speech at
	// 10 dB SNR reaches 15-20 dB above it.
	ThresholdDB float64
	// EchoMarginDB applies while the session says how loud the agent's
	// own recent audio was (Detector.SetEchoReference): a frame quieter
	// than that by more than the margin cannot start an utterance. It is
	// the echo return loss the detector trusts: the agent's voice coming
	// back from a line with no echo canceller (a 2-4 wire hybrid) is 20
	// to 30 dB under it, a caller talking over the agent seldom more than
	// 16 dB. Once an utterance has started every frame counts again, so
	// the caller's quieter syllables do not delay BargeIn. Zero (the
	// default) turns the gate off; 28 is the value tested on the corpus.
	EchoMarginDB float64
	// EchoLearn, while the session gives the agent's level and
	// EchoMarginDB is zero, gates onsets as EchoMarginDB does, at a margin
	// learnt on each call's line: its echo return loss, how far under the
	// agent's level the loudest of the agent's echo comes back while the
	// caller is silent (3 dB over it is gated). It starts at 28 dB, the
	// margin tested on the corpus, and rises within a few seconds on a
	// line that sends no echo back, where the gate then sits under the
	// noise floor and changes nothing; it never falls under 22 dB, so the
	// gate stays 19 dB under the agent, which callers talking over it
	// clear.
	EchoLearn bool
	// EchoCancel, with EchoLearn, builds an echo canceller for a line
	// that has been heard to send the agent's echo back less than 34 dB
	// under the agent (one with no echo canceller of its own): from the
	// agent's audio the session gives (Detector.SetEchoAudio) it learns
	// the line's echo path and takes the echo out of the caller's audio
	// before the detector judges it, so that a cough or a knock over the
	// echo carries no pitch of the agent's. It learns within about a
	// second and a half of the agent talking, and costs such a call
	// about 30 µs of CPU a 20 ms frame while the agent talks, and 32 KiB;
	// other lines nothing. At each of the agent's turns it finds where the
	// far end put the turn's echo before it cancels again.
	EchoCancel bool
}

// DefaultConfig returns the settings tuned on the testdata corpus: clean and
// 10-12 dB SNR telephone speech.
func DefaultConfig() Config {
	return Config{
		MinSpeech:   100 * time.Millisecond,
		MinSilence:  250 * time.Millisecond,
		MaxSilence:  1000 * time.Millisecond,
		PauseMin:    100 * time.Millisecond,
		BargeInMin:  250 * time.Millisecond,
		Hangover:    100 * time.Millisecond,
		ThresholdDB: 10,
		// The echo gate learns each line's echo return loss; a fixed
		// EchoMarginDB delays barge-ins on a line with an echo canceller
		// (the usual case), where there is no echo to keep out.
		EchoLearn: true,
		// The echo canceller is on: it is built only on a line that sends
		// the agent's echo back loud, and on those, in a load run whose
		// lines send it back 25 dB down (callsim -echo), it kept every
		// reply from being cut off where the gate alone let the echo cut
		// off about one a call (docs/BARGE-IN.md, "An echo canceller").
		EchoCancel: true,
	}
}

// maxThresholdDB bounds ThresholdDB: a 16-bit signal spans about 96 dB, so a
// larger margin would never be met.
const maxThresholdDB = 60

// Validate reports every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%w: %s must be positive, got %v", ErrInvalidConfig, name, d))
		}
	}
	positive("MinSpeech", c.MinSpeech)
	positive("MinSilence", c.MinSilence)
	positive("BargeInMin", c.BargeInMin)
	nonNegative := func(name string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%w: %s must not be negative, got %v", ErrInvalidConfig, name, d))
		}
	}
	nonNegative("MaxSilence", c.MaxSilence)
	nonNegative("PauseMin", c.PauseMin)
	nonNegative("BackchannelMax", c.BackchannelMax)
	if c.Hangover < 0 {
		errs = append(errs, fmt.Errorf("%w: Hangover must not be negative, got %v", ErrInvalidConfig, c.Hangover))
	}
	if !(c.EchoMarginDB >= 0 && c.EchoMarginDB <= maxThresholdDB) { // also catches NaN
		errs = append(errs, fmt.Errorf("%w: EchoMarginDB must be in [0, %d], got %v", ErrInvalidConfig, maxThresholdDB, c.EchoMarginDB))
	}
	if !(c.ThresholdDB > 0 && c.ThresholdDB <= maxThresholdDB) { // also catches NaN
		errs = append(errs, fmt.Errorf("%w: ThresholdDB must be in (0, %d], got %v", ErrInvalidConfig, maxThresholdDB, c.ThresholdDB))
	}
	return errors.Join(errs...)
}
