package vad

import (
	"fmt"
	"time"
)

// minLevelDB is the absolute minimum level of a voiced frame in dBFS (0 dBFS
// = a full-scale square wave), whatever the floor: quiet telephone speech
// averages about -35 dBFS and PSTN line noise sits near -65 dBFS, so digital
// silence and faint line noise never fire.
const minLevelDB = -55

// Detector decides, frame by frame, when a caller starts and stops speaking.
// Make one with New, one per call and direction. It is not safe for
// concurrent use: the session goroutine that feeds it the inbound audio owns
// it.
type Detector struct {
	cfg        Config
	sampleRate int
	filter     highPass
	floor      noiseFloor

	speaking bool
	bargedIn bool
	onset    time.Duration // voiced audio of the run that may start an utterance
	voiced   time.Duration // voiced audio of the current or last utterance
	hang     time.Duration // hangover left
	silence  time.Duration // unvoiced audio since the hangover ran out
	// Level range since the first voiced frame of the onset run: BargeIn
	// waits until it reaches steadyDB, so noise that starts abruptly (and
	// is steady) does not interrupt the agent while the floor catches up.
	runMin, runMax float64
}

// New returns a detector for mono PCM16 audio at sampleRate Hz, 8000 to 48000
// (telephony uses 8000 or 16000). It returns cfg.Validate's error for an
// invalid config and ErrSampleRate for an unsupported rate.
func New(cfg Config, sampleRate int) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sampleRate < 8000 || sampleRate > 48000 {
		return nil, fmt.Errorf("%w: %d Hz, want 8000 to 48000", ErrSampleRate, sampleRate)
	}
	d := &Detector{
		cfg:        cfg,
		sampleRate: sampleRate,
		filter:     newHighPass(highPassHz, sampleRate),
	}
	d.Reset()
	return d, nil
}

// Reset forgets the noise floor and any utterance in progress, as for a new
// call; the config and sample rate stay.
func (d *Detector) Reset() {
	d.filter.reset()
	d.floor.reset()
	d.speaking, d.bargedIn = false, false
	d.onset, d.voiced, d.hang, d.silence = 0, 0, 0, 0
	d.runMin, d.runMax = 0, 0
}

// Speaking reports whether an utterance is in progress: SpeechStart has fired
// and SpeechEnd has not.
func (d *Detector) Speaking() bool { return d.speaking }

// SpeechDuration returns the voiced audio of the current utterance, or of the
// last one once it has ended: the sum of its voiced frames, without hangover
// or silence.
func (d *Detector) SpeechDuration() time.Duration { return d.voiced }

// NoiseFloorDB returns the noise floor in dBFS (0 dBFS = a full-scale square
// wave), measured above 300 Hz; -100 means digital silence or no audio yet.
func (d *Detector) NoiseFloorDB() float64 { return d.floor.db }

// Process takes the next frame of audio, of any length (typically 20 ms: 160
// samples at 8 kHz), and returns the event it caused, if any: at most one, in
// the order SpeechStart, BargeIn, SpeechEnd for each utterance. An event that
// falls due while another is reported (BargeIn when MinSpeech >= BargeInMin)
// is reported on the next frame. The frame's duration is len(frame) /
// sampleRate; an empty frame changes nothing. Process does not allocate.
func (d *Detector) Process(frame []int16) Event {
	if len(frame) == 0 {
		return EventNone
	}
	dt := time.Duration(len(frame)) * time.Second / time.Duration(d.sampleRate)
	level := d.filter.levelDB(frame)
	// Judge the frame against the floor before the frame moves it.
	voiced := d.floor.set && level > minLevelDB && level > d.floor.db+d.cfg.ThresholdDB
	d.floor.update(level, dt)
	return d.step(voiced, level, dt)
}

// step advances the utterance state machine by one frame.
func (d *Detector) step(voiced bool, level float64, dt time.Duration) Event {
	held := false // unvoiced, but kept voiced by the hangover
	switch {
	case voiced:
		d.hang = d.cfg.Hangover
	case d.hang > 0:
		d.hang -= dt
		held = true
	}
	// The level range covers voiced and held frames only: the silence after
	// an utterance must not widen it.
	switch {
	case voiced && !d.speaking && d.onset == 0:
		d.runMin, d.runMax = level, level
	case voiced || held:
		d.runMin, d.runMax = lower(d.runMin, level), higher(d.runMax, level)
	}

	if !d.speaking {
		switch {
		case voiced:
			d.onset += dt
		case !held:
			d.onset = 0
		}
		if d.onset < d.cfg.MinSpeech {
			return EventNone
		}
		d.speaking, d.bargedIn = true, false
		d.voiced, d.onset, d.silence = d.onset, 0, 0
		return EventSpeechStart
	}

	switch {
	case voiced:
		d.voiced += dt
		d.silence = 0
	case !held:
		d.silence += dt
	}
	// BargeIn before SpeechEnd: if both fall due on one frame, SpeechEnd
	// follows on the next (its silence only grows).
	if !d.bargedIn && d.voiced >= d.cfg.BargeInMin && d.runMax-d.runMin >= steadyDB {
		d.bargedIn = true
		return EventBargeIn
	}
	if d.silence >= d.cfg.MinSilence {
		d.speaking = false
		d.hang, d.silence = 0, 0
		return EventSpeechEnd
	}
	return EventNone
}
