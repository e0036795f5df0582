package vad

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The corpus in testdata is made by testdata/gen.sh: espeak-ng sentences
// padded with 800 ms of digital silence, the same with steady noise mixed in,
// steady noise alone, two utterances 1 s apart, a click and a cough, all 8 kHz
// mu-law. labels.json holds the true speech boundaries in milliseconds.

// span is one utterance, as labelled or as detected.
type span struct{ start, end time.Duration }

func (s span) String() string { return fmt.Sprintf("[%v, %v]", s.start, s.end) }

// labels reads testdata/labels.json.
func labels(t *testing.T) map[string][]span {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string][][2]int
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]span, len(raw))
	for name, pairs := range raw {
		spans := make([]span, 0, len(pairs))
		for _, p := range pairs {
			spans = append(spans, span{time.Duration(p[0]) * time.Millisecond, time.Duration(p[1]) * time.Millisecond})
		}
		out[name] = spans
	}
	return out
}

// load reads one corpus file.
func load(t *testing.T, name string) (samples []int16, sampleRate int) {
	t.Helper()
	s, rate, err := readWAV(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s, rate
}

// timedEvent is an event and the audio time at the end of its frame.
type timedEvent struct {
	Event
	at time.Duration
}

// run feeds samples to d in frames of frameLen samples (the last one may be
// shorter) and returns the events.
func run(d *Detector, samples []int16, sampleRate, frameLen int) []timedEvent {
	var evs []timedEvent
	for i := 0; i < len(samples); i += frameLen {
		end := min(i+frameLen, len(samples))
		if ev := d.Process(samples[i:end]); ev != EventNone {
			evs = append(evs, timedEvent{ev, time.Duration(end) * time.Second / time.Duration(sampleRate)})
		}
	}
	return evs
}

// utterances checks that evs is well formed (SpeechStart, at most one BargeIn
// and at most one NotSpeech, no NotSpeech after BargeIn, any number of
// Pauses, SpeechEnd, repeated; the last utterance may be open) and returns the spans
// from SpeechStart to SpeechEnd and the BargeIn times, one per utterance
// (0 if none fired).
func utterances(t *testing.T, evs []timedEvent) (spans []span, bargeIns []time.Duration) {
	t.Helper()
	open, notSpeech := false, false
	for _, e := range evs {
		switch {
		case e.Event == EventSpeechStart && !open:
			spans = append(spans, span{start: e.at, end: -1})
			bargeIns = append(bargeIns, 0)
			open, notSpeech = true, false
		case e.Event == EventNotSpeech && open && !notSpeech && bargeIns[len(bargeIns)-1] == 0:
			notSpeech = true
		case e.Event == EventPause && open:
		case e.Event == EventBargeIn && open && bargeIns[len(bargeIns)-1] == 0:
			bargeIns[len(bargeIns)-1] = e.at
		case e.Event == EventSpeechEnd && open:
			spans[len(spans)-1].end = e.at
			open = false
		default:
			t.Fatalf("%v at %v out of order in %v", e.Event, e.at, evs)
		}
	}
	return spans, bargeIns
}

func (e timedEvent) String() string { return e.Event.String() + "@" + e.at.String() }

// accuracy sets the tolerated detection delays.
type accuracy struct {
	startLate time.Duration // SpeechStart at most this long after the true onset
	endLate   time.Duration // SpeechEnd at most this long after the true offset
}

// checkSpeech runs the default detector on each file and checks that every
// labelled utterance is found once, within acc. It logs the errors, so that
// go test -v prints the accuracy.
func checkSpeech(t *testing.T, files []string, acc accuracy) {
	checkSpeechWith(t, DefaultConfig(), files, acc)
}

// checkSpeechWith is checkSpeech with cfg.
func checkSpeechWith(t *testing.T, cfg Config, files []string, acc accuracy) {
	all := labels(t)
	for _, name := range files {
		t.Run(strings.TrimSuffix(name, ".wav"), func(t *testing.T) {
			want, ok := all[name]
			if !ok {
				t.Fatalf("%s is not in labels.json", name)
			}
			samples, rate := load(t, name)
			// Room for the long end of turn: the files end 800 ms after
			// the speech.
			samples = append(samples, make([]int16, 2*rate)...)
			d, err := New(cfg, rate)
			if err != nil {
				t.Fatal(err)
			}
			evs := run(d, samples, rate, rate/50)
			got, bargeIns := utterances(t, evs)
			if len(got) != len(want) {
				t.Fatalf("found %d utterances %v, want %d %v", len(got), got, len(want), want)
			}
			for i, w := range want {
				g := got[i]
				t.Logf("utterance %d: onset %v, SpeechStart +%v; offset %v, SpeechEnd +%v; BargeIn +%v after SpeechStart",
					i+1, w.start, g.start-w.start, w.end, g.end-w.end, bargeIns[i]-g.start)
				if g.start < w.start || g.start > w.start+acc.startLate {
					t.Errorf("utterance %d: SpeechStart at %v, want within %v after the onset at %v", i+1, g.start, acc.startLate, w.start)
				}
				if g.end < w.end || g.end > w.end+acc.endLate {
					t.Errorf("utterance %d: SpeechEnd at %v, want within %v after the offset at %v", i+1, g.end, acc.endLate, w.end)
				}
				if bargeIns[i] == 0 {
					t.Errorf("utterance %d: no BargeIn in %v of speech", i+1, w.end-w.start)
				}
			}
		})
	}
}

func TestCleanSpeechIsFoundOncePerSentence(t *testing.T) {
	// SpeechStart comes MinSpeech (100 ms) after the onset; SpeechEnd comes
	// Hangover + MinSilence (350 ms) after the level drops if the sentence
	// ends on a pitch fall, Hangover + MaxSilence (1.1 s) if the tracker did
	// not hear one; the drop is at or a little before the labelled offset
	// (the labels include the faint tail of the last phoneme).
	checkSpeech(t, []string{"speech1.wav", "speech2.wav", "speech3.wav", "speech4.wav"}, accuracy{
		startLate: 200 * time.Millisecond,
		endLate:   DefaultConfig().MaxSilence + 250*time.Millisecond,
	})
}

func TestNoisySpeechIsFoundOncePerSentence(t *testing.T) {
	// At 10-12 dB SNR a weak first word ("The" in speech1) can drown, so
	// SpeechStart may wait for the next stressed syllable; the tail drowns
	// too, which makes SpeechEnd earlier, never before the offset.
	checkSpeech(t, []string{"speech1_white12.wav", "speech2_pink10.wav", "speech3_brown10.wav", "speech4_hum10.wav"}, accuracy{
		startLate: 400 * time.Millisecond,
		endLate:   DefaultConfig().MaxSilence + 300*time.Millisecond,
	})
}

func TestSteadyNoiseNeverFires(t *testing.T) {
	// No settling period is exempt: the first frame seeds the floor.
	files := []string{
		"noise_white_mid.wav", "noise_white_high.wav",
		"noise_pink_mid.wav", "noise_pink_high.wav",
		"noise_brown_mid.wav", "noise_brown_high.wav",
		"noise_hum_high.wav",
	}
	for _, name := range files {
		t.Run(strings.TrimSuffix(name, ".wav"), func(t *testing.T) {
			samples, rate := load(t, name)
			for _, frameLen := range []int{80, 160, 240, 1000} {
				d, err := New(DefaultConfig(), rate)
				if err != nil {
					t.Fatal(err)
				}
				if evs := run(d, samples, rate, frameLen); len(evs) != 0 {
					t.Errorf("%d-sample frames: events %v, want none", frameLen, evs)
				}
				if frameLen == 160 {
					t.Logf("noise floor %.1f dBFS", d.NoiseFloorDB())
				}
			}
		})
	}
}

func TestSteadyNoiseStartingMidCallBecomesTheFloor(t *testing.T) {
	// Noise that starts abruptly looks like speech until the floor learns
	// it: at most one short utterance, never a BargeIn, ended within about
	// a second, and quiet afterwards.
	for _, kind := range []string{"white_high", "pink_high", "brown_high", "hum_high", "pink_mid"} {
		t.Run(kind, func(t *testing.T) {
			noise, rate := load(t, "noise_"+kind+".wav")
			onset := time.Second
			samples := make([]int16, rate) // 1 s of digital silence
			samples = append(samples, noise...)
			samples = append(samples, noise...)
			d, err := New(DefaultConfig(), rate)
			if err != nil {
				t.Fatal(err)
			}
			evs := run(d, samples, rate, rate/50)
			spans, bargeIns := utterances(t, evs)
			if len(spans) > 1 {
				t.Fatalf("utterances %v, want at most one", spans)
			}
			for i, s := range spans {
				if bargeIns[i] != 0 {
					t.Errorf("BargeIn at %v", bargeIns[i])
				}
				if s.end < 0 || s.end > onset+1300*time.Millisecond {
					t.Errorf("utterance %v not ended within 1.3 s of the noise onset at %v", s, onset)
				}
			}
		})
	}
}

func TestTwoUtterancesAreEndpointed(t *testing.T) {
	// The pause between the two sentences is 1 s: shorter than Hangover +
	// MaxSilence, so the adaptive end of turn splits them only if it hears
	// the first one end. Where it does not, one utterance is the right
	// answer for a 1 s pause after an unfinished-sounding phrase; the
	// fixed endpointing of the old detector is what this test is about.
	checkSpeechWith(t, fixedEnd(), []string{"two_utterances.wav"}, accuracy{
		startLate: 200 * time.Millisecond,
		endLate:   DefaultConfig().MinSilence + 250*time.Millisecond,
	})
}

// fixedEnd is DefaultConfig with the adaptive end of turn off: SpeechEnd
// always Hangover + MinSilence after the level drops.
func fixedEnd() Config {
	c := DefaultConfig()
	c.MaxSilence = 0
	return c
}

func TestPauseShorterThanMinSilenceKeepsOneUtterance(t *testing.T) {
	want := labels(t)["two_utterances.wav"]
	samples, rate := load(t, "two_utterances.wav")
	samples = append(samples, make([]int16, 2*rate)...) // room for the longer endpoint
	cfg := DefaultConfig()
	cfg.MinSilence = 1500 * time.Millisecond // the pause is 1 s
	d, err := New(cfg, rate)
	if err != nil {
		t.Fatal(err)
	}
	got, bargeIns := utterances(t, run(d, samples, rate, rate/50))
	if len(got) != 1 {
		t.Fatalf("utterances %v, want one", got)
	}
	if got[0].start < want[0].start || got[0].start > want[0].start+200*time.Millisecond {
		t.Errorf("SpeechStart at %v, want just after %v", got[0].start, want[0].start)
	}
	if got[0].end < want[1].end || got[0].end > want[1].end+cfg.MinSilence+250*time.Millisecond {
		t.Errorf("SpeechEnd at %v, want just after the second offset %v", got[0].end, want[1].end)
	}
	if bargeIns[0] == 0 || bargeIns[0] > want[0].end {
		t.Errorf("BargeIn at %v, want one during the first sentence", bargeIns[0])
	}
}

func TestBurstsDoNotInterrupt(t *testing.T) {
	longer := DefaultConfig()
	longer.MinSpeech = 150 * time.Millisecond
	tests := []struct {
		name      string
		file      string
		cfg       Config
		wantStart bool
	}{
		{"a 30 ms click starts nothing", "click.wav", DefaultConfig(), false},
		// A 130 ms cough outlasts the default MinSpeech: it may start an
		// utterance (the session engine just gets an empty transcript) but
		// must not barge in.
		{"a 130 ms cough does not barge in", "cough.wav", DefaultConfig(), true},
		{"a 130 ms cough starts nothing with MinSpeech 150 ms", "cough.wav", longer, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			samples, rate := load(t, tt.file)
			d, err := New(tt.cfg, rate)
			if err != nil {
				t.Fatal(err)
			}
			evs := run(d, samples, rate, rate/50)
			spans, bargeIns := utterances(t, evs)
			for _, b := range bargeIns {
				if b != 0 {
					t.Errorf("BargeIn at %v in %v", b, evs)
				}
			}
			if !tt.wantStart && len(spans) != 0 {
				t.Errorf("events %v, want none", evs)
			}
			if len(spans) > 1 {
				t.Errorf("utterances %v, want at most one", spans)
			}
		})
	}
}

func TestBargeInFiresOncePerUtteranceAfterBargeInMin(t *testing.T) {
	files := []string{"speech1.wav", "speech2_pink10.wav", "two_utterances.wav"}
	for _, min := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second} {
		for _, name := range files {
			t.Run(fmt.Sprintf("%v/%s", min, strings.TrimSuffix(name, ".wav")), func(t *testing.T) {
				samples, rate := load(t, name)
				cfg := DefaultConfig()
				cfg.BargeInMin = min
				d, err := New(cfg, rate)
				if err != nil {
					t.Fatal(err)
				}
				frameLen := rate / 50
				bargeIns, starts := 0, 0
				for i := 0; i+frameLen <= len(samples); i += frameLen {
					switch d.Process(samples[i : i+frameLen]) {
					case EventSpeechStart:
						starts++
					case EventBargeIn:
						bargeIns++
						if got := d.SpeechDuration(); got < min {
							t.Errorf("BargeIn after %v of speech, want at least %v", got, min)
						}
						if !d.Speaking() {
							t.Error("BargeIn outside an utterance")
						}
					}
				}
				if starts == 0 || bargeIns != starts {
					t.Errorf("%d BargeIns for %d utterances, want one each", bargeIns, starts)
				}
			})
		}
	}
}

func TestFrameLengthAndSampleRateDoNotChangeTheDecisions(t *testing.T) {
	// The same audio cut in 10, 20, 30 or 40 ms frames, or upsampled to
	// 16 kHz, gives the same utterances within two frames. The adaptive end
	// of turn is off here: its pitch tail and the voicing evidence count
	// frames, so with 10 ms frames they cover half the audio (a known
	// limit: the session feeds 20 ms frames).
	newFixed := func(rate int) *Detector {
		d, err := New(fixedEnd(), rate)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, name := range []string{"speech1.wav", "speech3_brown10.wav", "two_utterances.wav"} {
		samples8k, _ := load(t, name)
		samples16k := upsample2(samples8k)
		ref, _ := utterances(t, run(newFixed(8000), samples8k, 8000, 160))
		for _, tc := range []struct {
			rate, frameLen int
			samples        []int16
		}{
			{8000, 80, samples8k}, {8000, 240, samples8k}, {8000, 320, samples8k},
			{16000, 320, samples16k}, {16000, 160, samples16k},
		} {
			t.Run(fmt.Sprintf("%s/%dHz/%d", strings.TrimSuffix(name, ".wav"), tc.rate, tc.frameLen), func(t *testing.T) {
				got, _ := utterances(t, run(newFixed(tc.rate), tc.samples, tc.rate, tc.frameLen))
				if len(got) != len(ref) {
					t.Fatalf("utterances %v, want %v as with 20 ms frames at 8 kHz", got, ref)
				}
				tol := 2 * time.Duration(max(tc.frameLen*int(time.Second)/tc.rate, int(20*time.Millisecond)))
				for i := range ref {
					if abs(got[i].start-ref[i].start) > tol || abs(got[i].end-ref[i].end) > tol {
						t.Errorf("utterance %v, want %v within %v", got[i], ref[i], tol)
					}
				}
			})
		}
	}
}

func mustNew(t *testing.T, rate int) *Detector {
	t.Helper()
	d, err := New(DefaultConfig(), rate)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// upsample2 doubles the sample rate by linear interpolation: good enough to
// exercise the 16 kHz path with the 8 kHz corpus.
func upsample2(s []int16) []int16 {
	out := make([]int16, 0, 2*len(s))
	for i, v := range s {
		next := v
		if i+1 < len(s) {
			next = s[i+1]
		}
		out = append(out, v, int16((int32(v)+int32(next))/2))
	}
	return out
}
