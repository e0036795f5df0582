//go:build silero

package silero

import (
	"fmt"
	"time"

	"github.com/iace/iace/media/vad"
)

// Config turns Silero's speech probabilities into the events of media/vad.
// The hysteresis follows the reference get_speech_timestamps: a chunk at or
// above Threshold starts speech, and speech goes on through chunks at or
// above NegThreshold.
type Config struct {
	// Threshold is the probability at which a chunk starts an utterance.
	Threshold float32
	// NegThreshold is the probability under which a chunk counts as
	// silence; the reference uses Threshold - 0.15.
	NegThreshold float32
	// BargeInMin is the speech (chunks at or above NegThreshold) an
	// utterance holds when EventBargeIn fires. Chunks are 32 ms, so it is
	// rounded up to a whole chunk, and it is at least two chunks.
	BargeInMin time.Duration
	// MinSilence of chunks under NegThreshold ends the utterance.
	MinSilence time.Duration
}

// DefaultConfig is the reference threshold with the hand-built detector's
// BargeInMin, and the MinSilence plus Hangover of vad.DefaultConfig.
func DefaultConfig() Config {
	return Config{Threshold: 0.5, NegThreshold: 0.35, BargeInMin: 300 * time.Millisecond, MinSilence: 600 * time.Millisecond}
}

func (c Config) String() string {
	return fmt.Sprintf("p>=%.2f (off <%.2f), barge-in %v, silence %v", c.Threshold, c.NegThreshold, c.BargeInMin, c.MinSilence)
}

// Decider is the utterance state machine over one probability a chunk.
type Decider struct {
	cfg             Config
	speaking        bool
	bargedIn        bool
	speech, silence time.Duration
}

// NewDecider returns a Decider in silence.
func NewDecider(cfg Config) *Decider { return &Decider{cfg: cfg} }

// Reset returns d to silence.
func (d *Decider) Reset() { *d = Decider{cfg: d.cfg} }

// Step takes the speech probability of the next 32 ms chunk and returns what
// it changed: at most one event, in the order SpeechStart, BargeIn (at most
// once an utterance), SpeechEnd.
func (d *Decider) Step(p float32) vad.Event {
	if !d.speaking {
		if p < d.cfg.Threshold {
			return vad.EventNone
		}
		d.speaking, d.bargedIn, d.speech, d.silence = true, false, ChunkDuration, 0
		return vad.EventSpeechStart
	}
	if p >= d.cfg.NegThreshold {
		d.speech += ChunkDuration
		d.silence = 0
		if !d.bargedIn && d.speech >= d.cfg.BargeInMin {
			d.bargedIn = true
			return vad.EventBargeIn
		}
		return vad.EventNone
	}
	d.silence += ChunkDuration
	if d.silence >= d.cfg.MinSilence {
		d.speaking = false
		return vad.EventSpeechEnd
	}
	return vad.EventNone
}

// Detector is a drop-in for vad.Detector's Process: a Stream and a Decider.
type Detector struct {
	s     *Stream
	d     *Decider
	probs []float32
}

// NewDetector returns a detector for one call on m.
func (m *Model) NewDetector(cfg Config) (*Detector, error) {
	s, err := m.NewStream()
	if err != nil {
		return nil, err
	}
	return &Detector{s: s, d: NewDecider(cfg), probs: make([]float32, 0, 4)}, nil
}

// Process takes a frame of PCM16 at 8 kHz of at most one chunk (a 20 ms
// frame completes at most one) and returns the event of the last chunk it
// completed.
func (d *Detector) Process(frame []int16) (vad.Event, error) {
	var err error
	d.probs, err = d.s.Push(frame, d.probs[:0])
	ev := vad.EventNone
	for _, p := range d.probs {
		if e := d.d.Step(p); e != vad.EventNone {
			ev = e
		}
	}
	return ev, err
}

// Reset starts a new call.
func (d *Detector) Reset() { d.s.Reset(); d.d.Reset() }

// Close releases the stream.
func (d *Detector) Close() { d.s.Close() }
