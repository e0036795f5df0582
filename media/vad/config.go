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
	// that ends the utterance: endpointing. SpeechEnd fires Hangover +
	// MinSilence after the level drops.
	MinSilence time.Duration
	// BargeInMin is the voiced audio in one utterance that fires BargeIn, once
	// an utterance: long enough that a cough or "mm-hm" does not interrupt
	// the agent. BargeIn also waits until the level inside the utterance has
	// swung by 7 dB, which speech does within a syllable or two and steady
	// noise never does.
	BargeInMin time.Duration
	// Hangover is how long frames stay voiced after the level drops; it
	// bridges the short dips inside words. Zero disables it.
	Hangover time.Duration
	// ThresholdDB is how far above the noise floor a frame's energy must be to
	// count as voiced. Steady noise peaks 2-4 dB above the floor; speech at
	// 10 dB SNR reaches 15-20 dB above it.
	ThresholdDB float64
}

// DefaultConfig returns the settings tuned on the testdata corpus: clean and
// 10-12 dB SNR telephone speech.
func DefaultConfig() Config {
	return Config{
		MinSpeech:   100 * time.Millisecond,
		MinSilence:  500 * time.Millisecond,
		BargeInMin:  300 * time.Millisecond,
		Hangover:    100 * time.Millisecond,
		ThresholdDB: 10,
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
	if c.Hangover < 0 {
		errs = append(errs, fmt.Errorf("%w: Hangover must not be negative, got %v", ErrInvalidConfig, c.Hangover))
	}
	if !(c.ThresholdDB > 0 && c.ThresholdDB <= maxThresholdDB) { // also catches NaN
		errs = append(errs, fmt.Errorf("%w: ThresholdDB must be in (0, %d], got %v", ErrInvalidConfig, maxThresholdDB, c.ThresholdDB))
	}
	return errors.Join(errs...)
}
