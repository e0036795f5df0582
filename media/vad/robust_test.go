package vad

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// sequence checks the events of one detector as they come: SpeechStart only
// outside an utterance, BargeIn and NotSpeech at most once inside one and
// NotSpeech never after BargeIn, Pause and SpeechEnd only inside one, and
// Speaking, SpeechDuration and NoiseFloorDB consistent.
type sequence struct {
	speaking, bargedIn, notSpeech bool
}

func (s *sequence) check(d *Detector, ev Event) error {
	switch ev {
	case EventNone:
	case EventSpeechStart:
		if s.speaking {
			return fmt.Errorf("SpeechStart inside an utterance")
		}
		s.speaking, s.bargedIn, s.notSpeech = true, false, false
	case EventNotSpeech:
		if !s.speaking || s.bargedIn || s.notSpeech {
			return fmt.Errorf("NotSpeech with speaking %v, barged in %v, not speech %v", s.speaking, s.bargedIn, s.notSpeech)
		}
		s.notSpeech = true
	case EventPause:
		if !s.speaking {
			return fmt.Errorf("Pause outside an utterance")
		}
	case EventBargeIn:
		if !s.speaking || s.bargedIn {
			return fmt.Errorf("BargeIn with speaking %v, barged in %v", s.speaking, s.bargedIn)
		}
		if d.SpeechDuration() < d.cfg.BargeInMin {
			return fmt.Errorf("BargeIn after %v of speech, BargeInMin is %v", d.SpeechDuration(), d.cfg.BargeInMin)
		}
		s.bargedIn = true
	case EventSpeechEnd:
		if !s.speaking {
			return fmt.Errorf("SpeechEnd outside an utterance")
		}
		s.speaking = false
	default:
		return fmt.Errorf("unknown event %v", ev)
	}
	if d.Speaking() != s.speaking {
		return fmt.Errorf("Speaking() = %v after %v", d.Speaking(), ev)
	}
	if d.SpeechDuration() < 0 {
		return fmt.Errorf("SpeechDuration() = %v", d.SpeechDuration())
	}
	if f := d.NoiseFloorDB(); math.IsNaN(f) || math.IsInf(f, 0) || f < silenceDB || f > 20 {
		return fmt.Errorf("NoiseFloorDB() = %v", f)
	}
	return nil
}

// randomFrame fills a frame of random length with one of several kinds of
// hostile audio.
func randomFrame(r *rand.Rand, buf []int16) []int16 {
	f := buf[:r.IntN(len(buf)+1)]
	switch r.IntN(6) {
	case 0: // digital silence
		clear(f)
	case 1: // full-scale square wave
		for i := range f {
			f[i] = math.MaxInt16
			if i/4%2 == 1 {
				f[i] = math.MinInt16
			}
		}
	case 2: // extremes
		for i := range f {
			f[i] = []int16{math.MinInt16, math.MaxInt16, 0, -1}[r.IntN(4)]
		}
	case 3: // uniform noise at a random level
		amp := 1 + r.IntN(32767)
		for i := range f {
			f[i] = int16(r.IntN(2*amp+1) - amp)
		}
	case 4: // a constant
		v := int16(r.Uint32())
		for i := range f {
			f[i] = v
		}
	default: // leave whatever the last frame put there
	}
	return f
}

func TestRandomFramesNeverPanic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	rates := []int{8000, 11025, 16000, 22050, 24000, 48000}
	buf := make([]int16, 2000)
	for trial := range 100 {
		cfg := Config{
			MinSpeech:   time.Duration(1 + r.Int64N(int64(time.Second))),
			MinSilence:  time.Duration(1 + r.Int64N(int64(2*time.Second))),
			BargeInMin:  time.Duration(1 + r.Int64N(int64(2*time.Second))),
			Hangover:    time.Duration(r.Int64N(int64(time.Second))),
			ThresholdDB: 0.1 + r.Float64()*50,
		}
		cfg.MaxSilence = time.Duration(r.Int64N(int64(2 * time.Second)))
		cfg.PauseMin = time.Duration(r.Int64N(int64(time.Second)))
		cfg.BackchannelMax = time.Duration(r.Int64N(int64(time.Second)))
		rate := rates[r.IntN(len(rates))]
		d, err := New(cfg, rate)
		if err != nil {
			t.Fatal(err)
		}
		var seq sequence
		for i := range 300 {
			if i == 150 && r.IntN(4) == 0 {
				d.Reset()
				seq = sequence{}
			}
			if err := seq.check(d, d.Process(randomFrame(r, buf))); err != nil {
				t.Fatalf("trial %d (%+v at %d Hz), frame %d: %v", trial, cfg, rate, i, err)
			}
		}
	}
}

// FuzzProcess feeds arbitrary bytes as little-endian PCM16, cut into frames
// whose lengths come from the input too.
func FuzzProcess(f *testing.F) {
	f.Add(uint16(160), []byte{})
	f.Add(uint16(1), []byte{0xff, 0x7f, 0x00, 0x80})
	f.Add(uint16(7), make([]byte, 4000))
	loudQuiet := make([]byte, 0, 16000)
	for i := range 8000 {
		v := int16(0)
		if i/800%2 == 0 {
			v = int16(20000 * math.Sin(float64(i)))
		}
		loudQuiet = binary.LittleEndian.AppendUint16(loudQuiet, uint16(v))
	}
	f.Add(uint16(160), loudQuiet)
	f.Fuzz(func(t *testing.T, frameLen uint16, data []byte) {
		samples := make([]int16, len(data)/2)
		for i := range samples {
			samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		cfg := DefaultConfig()
		cfg.MinSpeech, cfg.BargeInMin, cfg.MinSilence = 20*time.Millisecond, 40*time.Millisecond, 60*time.Millisecond
		d, err := New(cfg, 8000)
		if err != nil {
			t.Fatal(err)
		}
		var seq sequence
		n := max(1, int(frameLen)%2000)
		for i := 0; i < len(samples); i += n {
			if err := seq.check(d, d.Process(samples[i:min(i+n, len(samples))])); err != nil {
				t.Fatal(err)
			}
		}
	})
}
