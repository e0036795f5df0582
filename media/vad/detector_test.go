package vad

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Synthetic audio at 8 kHz in 20 ms frames: digital silence, and a
// voice-like harmonic sound (a 120 Hz fundamental that glides by +-8% over
// 320 ms, with harmonics to 2 kHz) whose level alternates between two levels
// 10 dB apart frame by frame, so that it swings like syllables do and has
// the moving pitch that the voicing tracker takes for a voice.
const rate8k, frame8k = 8000, 160

// segment is a stretch of synthetic frames.
type segment struct {
	voiced bool
	frames int
}

// synth renders segments into 20 ms frames. Voiced segments fade in and out
// over 5 ms, as speech does: a tone cut dead would leave a filter transient
// in the next frame.
func synth(segs ...segment) [][]int16 {
	const fade = 40 // samples
	var frames [][]int16
	for _, s := range segs {
		n := s.frames * frame8k
		for j := range s.frames {
			f := make([]int16, frame8k)
			if s.voiced {
				amp := 8000.0
				if len(frames)%2 == 1 {
					amp = 2500
				}
				for i := range f {
					k := j*frame8k + i // sample in the segment
					env := 1.0
					if edge := min(k, n-1-k); edge < fade {
						env = (1 - math.Cos(math.Pi*float64(edge)/fade)) / 2
					}
					f[i] = int16(env * amp * voice(len(frames)*frame8k+i))
				}
			}
			frames = append(frames, f)
		}
	}
	return frames
}

// voice is sample n of a glottal-like harmonic complex: 120 Hz +- 8%, 16
// harmonics of falling amplitude, peak about 1.
func voice(n int) float64 {
	t := float64(n) / rate8k
	// Phase of a fundamental of 120 * (1 + 0.08 sin(2 pi t / 0.32)) Hz.
	ph := 2 * math.Pi * (120*t - 120*0.08*0.32/(2*math.Pi)*math.Cos(2*math.Pi*t/0.32))
	var v float64
	for h := 1; h <= 16; h++ {
		v += math.Sin(float64(h)*ph) / float64(h)
	}
	return v / 1.8
}

// legacyTiming is DefaultConfig with the fixed timing the state machine
// tests were written for: BargeInMin 300 ms, SpeechEnd always Hangover +
// MinSilence (500 ms) after the level drops, no Pause.
func legacyTiming() Config {
	c := DefaultConfig()
	c.BargeInMin, c.MinSilence, c.MaxSilence, c.PauseMin = 300*time.Millisecond, 500*time.Millisecond, 0, 0
	return c
}

// withPause is legacyTiming with PauseMin 200 ms.
func withPause() Config {
	c := legacyTiming()
	c.PauseMin = 200 * time.Millisecond
	return c
}

func loud(n int) segment  { return segment{true, n} }
func quiet(n int) segment { return segment{false, n} }

// at is an event at a frame index.
type at struct {
	frame int
	event Event
}

func TestStateMachine(t *testing.T) {
	// With the defaults, in 20 ms frames: MinSpeech 5 frames, Hangover 5,
	// MinSilence 25, BargeInMin 15. SpeechEnd comes Hangover + MinSilence
	// = 30 frames after the last voiced frame.
	minSpeechIsBargeIn := legacyTiming()
	minSpeechIsBargeIn.MinSpeech = 200 * time.Millisecond
	minSpeechIsBargeIn.BargeInMin = 100 * time.Millisecond
	tight := legacyTiming()
	tight.MinSpeech, tight.BargeInMin = 100*time.Millisecond, 100*time.Millisecond
	tight.Hangover, tight.MinSilence = 0, 20*time.Millisecond

	tests := []struct {
		name string
		cfg  Config
		segs []segment
		want []at
	}{
		{"four voiced frames are too short to start", legacyTiming(),
			[]segment{quiet(10), loud(4), quiet(40)}, nil},
		{"five voiced frames start an utterance that ends 30 frames later", legacyTiming(),
			// The run stops (a gap of Hangover) before BargeIn: NotSpeech.
			[]segment{quiet(10), loud(5), quiet(40)},
			[]at{{14, EventSpeechStart}, {20, EventNotSpeech}, {44, EventSpeechEnd}}},
		{"a dip as long as the hangover keeps the onset", legacyTiming(),
			[]segment{quiet(10), loud(3), quiet(5), loud(2), quiet(40)},
			[]at{{19, EventSpeechStart}, {25, EventNotSpeech}, {49, EventSpeechEnd}}},
		{"a dip longer than the hangover resets the onset", legacyTiming(),
			[]segment{quiet(10), loud(3), quiet(6), loud(2), quiet(40)}, nil},
		{"fifteen voiced frames barge in", legacyTiming(),
			[]segment{quiet(10), loud(20), quiet(40)},
			[]at{{14, EventSpeechStart}, {24, EventBargeIn}, {59, EventSpeechEnd}}},
		// The first run stops before BargeInMin: NotSpeech. The second
		// one takes the utterance's voiced audio to BargeInMin: BargeIn.
		{"a pause shorter than hangover plus MinSilence keeps one utterance", legacyTiming(),
			[]segment{quiet(10), loud(10), quiet(29), loud(10), quiet(40)},
			[]at{{14, EventSpeechStart}, {25, EventNotSpeech}, {53, EventBargeIn}, {88, EventSpeechEnd}}},
		{"a pause of hangover plus MinSilence splits the utterances", legacyTiming(),
			[]segment{quiet(10), loud(10), quiet(30), loud(10), quiet(40)},
			[]at{{14, EventSpeechStart}, {25, EventNotSpeech}, {49, EventSpeechEnd},
				{54, EventSpeechStart}, {65, EventNotSpeech}, {89, EventSpeechEnd}}},
		{"a run that stops before BargeIn and a longer one after it barge in", legacyTiming(),
			[]segment{quiet(10), loud(8), quiet(10), loud(20), quiet(40)},
			[]at{{14, EventSpeechStart}, {23, EventNotSpeech}, {34, EventBargeIn}, {77, EventSpeechEnd}}},
		{"Pause comes PauseMin after the hangover, before SpeechEnd", withPause(),
			[]segment{quiet(10), loud(20), quiet(40)},
			[]at{{14, EventSpeechStart}, {24, EventBargeIn}, {44, EventPause}, {59, EventSpeechEnd}}},
		{"MinSpeech over BargeInMin barges in on the next frame", minSpeechIsBargeIn,
			[]segment{quiet(10), loud(20), quiet(40)},
			[]at{{19, EventSpeechStart}, {20, EventBargeIn}, {59, EventSpeechEnd}}},
		{"events due on one frame come on consecutive frames", tight,
			[]segment{quiet(10), loud(5), quiet(10)},
			[]at{{14, EventSpeechStart}, {15, EventBargeIn}, {16, EventSpeechEnd}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.cfg, rate8k)
			if err != nil {
				t.Fatal(err)
			}
			var got []at
			for i, f := range synth(tt.segs...) {
				if ev := d.Process(f); ev != EventNone {
					got = append(got, at{i, ev})
				}
			}
			if !equal(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
		})
	}
}

func equal(a, b []at) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSpeakingAndSpeechDuration(t *testing.T) {
	d, err := New(legacyTiming(), rate8k)
	if err != nil {
		t.Fatal(err)
	}
	frames := synth(quiet(10), loud(20), quiet(40))
	for i, f := range frames {
		ev := d.Process(f)
		wantSpeaking := i >= 14 && i < 59
		if d.Speaking() != wantSpeaking {
			t.Fatalf("frame %d (%v): Speaking() = %v, want %v", i, ev, d.Speaking(), wantSpeaking)
		}
		if ev == EventSpeechStart && d.SpeechDuration() != 100*time.Millisecond {
			t.Errorf("SpeechDuration() at SpeechStart = %v, want 100ms", d.SpeechDuration())
		}
	}
	// Twenty voiced frames; hangover and silence do not count.
	if got := d.SpeechDuration(); got != 400*time.Millisecond {
		t.Errorf("SpeechDuration() after the utterance = %v, want 400ms", got)
	}
}

func TestQuietInputNeverFires(t *testing.T) {
	sine := func(hz, dBFS float64, n int) []int16 {
		s := make([]int16, n)
		amp := 32768 * math.Pow(10, dBFS/20)
		for i := range s {
			s[i] = int16(amp * math.Sin(2*math.Pi*hz*float64(i)/rate8k))
		}
		return s
	}
	white := func(dBFS float64, n int) []int16 {
		r := rand.New(rand.NewPCG(1, 2))
		s := make([]int16, n)
		sd := 32768 * math.Pow(10, dBFS/20)
		for i := range s {
			s[i] = int16(r.NormFloat64() * sd)
		}
		return s
	}
	constant := func(v int16, n int) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	tests := []struct {
		name     string
		samples  []int16
		maxFloor float64
	}{
		{"digital silence", make([]int16, 10*rate8k), silenceDB},
		{"a DC offset", constant(3000, 10*rate8k), -90},
		{"noise under -55 dBFS after silence", append(make([]int16, rate8k), white(-60, 5*rate8k)...), -58},
		// The high-pass filter takes mains hum far below the floor a
		// caller would need to beat.
		{"50 Hz hum at -6 dBFS", sine(50, -6, 5*rate8k), -38},
		{"60 Hz hum at -6 dBFS", sine(60, -6, 5*rate8k), -34},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustNew(t, rate8k)
			if evs := run(d, tt.samples, rate8k, frame8k); len(evs) != 0 {
				t.Errorf("events %v, want none", evs)
			}
			if d.NoiseFloorDB() > tt.maxFloor {
				t.Errorf("NoiseFloorDB() = %.1f, want at most %.1f", d.NoiseFloorDB(), tt.maxFloor)
			}
		})
	}
}

func TestNoiseFloorFollowsTheBackground(t *testing.T) {
	// White noise at -40 dBFS, then 20 dB louder, then 30 dB quieter: the
	// floor falls within a few frames and rises within the steady window.
	r := rand.New(rand.NewPCG(3, 4))
	noise := func(dBFS float64, d time.Duration) []int16 {
		s := make([]int16, int(d.Seconds()*rate8k))
		sd := 32768 * math.Pow(10, dBFS/20)
		for i := range s {
			s[i] = int16(r.NormFloat64() * sd)
		}
		return s
	}
	d := mustNew(t, rate8k)
	steps := []struct {
		dBFS     float64
		settle   time.Duration // time the floor may take
		lo, high float64       // where it must be after settle
	}{
		{-40, 100 * time.Millisecond, -43, -39},
		{-20, 700 * time.Millisecond, -23, -19},
		{-50, 200 * time.Millisecond, -53, -49},
	}
	for _, st := range steps {
		run(d, noise(st.dBFS, st.settle), rate8k, frame8k)
		for range 50 { // and stay there for a second
			d.Process(noise(st.dBFS, 20*time.Millisecond))
			if f := d.NoiseFloorDB(); f < st.lo || f > st.high {
				t.Fatalf("noise at %v dBFS: floor %.1f dBFS after %v, want %v to %v", st.dBFS, f, st.settle, st.lo, st.high)
			}
		}
	}
}

func TestResetStartsOver(t *testing.T) {
	samples, rate := load(t, "two_utterances.wav")
	fresh := run(mustNew(t, rate), samples, rate, 160)

	d := mustNew(t, rate)
	run(d, samples[:len(samples)/3], rate, 160) // stop inside the first utterance
	if !d.Speaking() {
		t.Fatal("not speaking a third into two_utterances.wav")
	}
	d.Reset()
	if d.Speaking() || d.SpeechDuration() != 0 || d.NoiseFloorDB() != silenceDB {
		t.Errorf("after Reset: Speaking %v, SpeechDuration %v, NoiseFloorDB %v; want false, 0, %v",
			d.Speaking(), d.SpeechDuration(), d.NoiseFloorDB(), silenceDB)
	}
	again := run(d, samples, rate, 160)
	if len(again) != len(fresh) {
		t.Fatalf("after Reset: events %v, want %v as from a new detector", again, fresh)
	}
	for i := range fresh {
		if again[i] != fresh[i] {
			t.Errorf("after Reset: events %v, want %v as from a new detector", again, fresh)
			break
		}
	}
}

func TestEmptyFrameChangesNothing(t *testing.T) {
	d := mustNew(t, rate8k)
	frames := synth(quiet(10), loud(10))
	for _, f := range frames {
		d.Process(f)
	}
	floor, dur, speaking := d.NoiseFloorDB(), d.SpeechDuration(), d.Speaking()
	for range 1000 {
		if ev := d.Process(nil); ev != EventNone {
			t.Fatalf("Process(nil) = %v", ev)
		}
	}
	if d.NoiseFloorDB() != floor || d.SpeechDuration() != dur || d.Speaking() != speaking {
		t.Error("empty frames changed the state")
	}
}

func TestNew(t *testing.T) {
	bad := DefaultConfig()
	bad.MinSpeech = 0
	tests := []struct {
		name    string
		cfg     Config
		rate    int
		wantErr error
	}{
		{"8 kHz", DefaultConfig(), 8000, nil},
		{"16 kHz", DefaultConfig(), 16000, nil},
		{"48 kHz", DefaultConfig(), 48000, nil},
		{"no sample rate", DefaultConfig(), 0, ErrSampleRate},
		{"4 kHz", DefaultConfig(), 4000, ErrSampleRate},
		{"96 kHz", DefaultConfig(), 96000, ErrSampleRate},
		{"an invalid config", bad, 8000, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.cfg, tt.rate)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New() error = %v, want %v", err, tt.wantErr)
			}
			if (d == nil) != (tt.wantErr != nil) {
				t.Errorf("New() = %v with error %v", d, err)
			}
		})
	}
}

func TestProcessDoesNotAllocate(t *testing.T) {
	samples, rate := load(t, "speech1_white12.wav")
	d := mustNew(t, rate)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if i+160 > len(samples) {
			i = 0
		}
		d.Process(samples[i : i+160])
		i += 160
	})
	if allocs != 0 {
		t.Errorf("Process allocates %v times a frame, want 0", allocs)
	}
}

func BenchmarkProcess20ms8k(b *testing.B)  { benchmarkProcess(b, "speech1_white12.wav", 1) }
func BenchmarkProcess20ms16k(b *testing.B) { benchmarkProcess(b, "speech1_white12.wav", 2) }
func BenchmarkProcessSilence(b *testing.B) { benchmarkProcess(b, "click.wav", 1) }

// BenchmarkProcessOverTheAgent is BenchmarkProcess20ms8k with the agent
// talking (SetEchoReference before each frame, as the reader does): the
// echo gate's learning on every frame.
func BenchmarkProcessOverTheAgent(b *testing.B) {
	benchmarkProcessRef(b, "speech1_white12.wav", 1, -10)
}

// benchmarkProcess feeds a corpus file (upsampled by factor 1 or 2) frame by
// frame, in a loop.
func benchmarkProcess(b *testing.B, name string, factor int) {
	benchmarkProcessRef(b, name, factor, noEchoDB)
}

// benchmarkProcessRef is benchmarkProcess with the agent's level refDB
// given before each frame.
func benchmarkProcessRef(b *testing.B, name string, factor int, refDB float64) {
	samples, rate, err := readWAV("testdata/" + name)
	if err != nil {
		b.Fatal(err)
	}
	if factor == 2 {
		samples, rate = upsample2(samples), 2*rate
	}
	frameLen := rate / 50
	frames := len(samples) / frameLen
	d, err := New(DefaultConfig(), rate)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(2 * frameLen))
	i := 0
	for b.Loop() {
		d.SetEchoReference(refDB)
		d.Process(samples[i*frameLen : (i+1)*frameLen])
		if i++; i == frames {
			i = 0
		}
	}
}

// TestTheAgentsEchoCannotStartAnUtterance plays the same voice (its frames
// at -36 and -47 dBFS) again and again: with the agent silent it starts an
// utterance; with the agent's own audio at -5 dBFS (SetEchoReference) it is
// no louder than that audio's echo can be, 28 dB under it, and starts
// nothing; once an utterance has started, the same reference no longer
// holds its frames back.
func TestTheAgentsEchoCannotStartAnUtterance(t *testing.T) {
	quietVoice := func() [][]int16 {
		frames := synth(quiet(50), loud(30))
		for _, f := range frames {
			for i := range f {
				f[i] /= 8 // 8000 -> 1000 peak
			}
		}
		return frames
	}
	gated := func() *Detector {
		cfg := DefaultConfig()
		cfg.EchoMarginDB = 28
		d, err := New(cfg, rate8k)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	started := func(ref float64, refFrom int) (first int) {
		d := gated()
		for i, f := range quietVoice() {
			if i >= refFrom {
				d.SetEchoReference(ref)
			}
			if d.Process(f) == EventSpeechStart {
				return i
			}
		}
		return -1
	}
	alone := started(noEchoDB, 0)
	if alone < 0 {
		t.Fatal("the voice alone started no utterance")
	}
	if got := started(-5, 0); got >= 0 {
		t.Errorf("with the agent 31 dB or more above it, the voice started an utterance at frame %d", got)
	}
	if got := started(-100.5, 0); got != alone {
		t.Errorf("a reference under -100 dBFS should lift the gate: started at frame %d, alone at %d", got, alone)
	}

	// Inside an utterance the reference changes nothing.
	d := gated()
	var evs []Event
	for i, f := range quietVoice() {
		if i > alone {
			d.SetEchoReference(-5)
		}
		if ev := d.Process(f); ev != EventNone {
			evs = append(evs, ev)
		}
	}
	if len(evs) < 2 || evs[0] != EventSpeechStart || evs[1] != EventBargeIn {
		t.Errorf("an utterance started before the agent spoke: events %v, want SpeechStart then BargeIn", evs)
	}

	// Off (a zero margin, EchoLearn false) ignores the reference.
	cfg := DefaultConfig()
	cfg.EchoLearn = false
	d, err := New(cfg, rate8k)
	if err != nil {
		t.Fatal(err)
	}
	d.SetEchoReference(-5)
	first := -1
	for i, f := range quietVoice() {
		if d.Process(f) == EventSpeechStart {
			first = i
			break
		}
	}
	if first != alone {
		t.Errorf("gate off: started at frame %d, want %d as without a reference", first, alone)
	}
}

// lineNoiseFrame is 20 ms of uniform line noise at about -65 dBFS RMS.
func lineNoiseFrame(r *rand.Rand) []int16 {
	f := make([]int16, frame8k)
	for i := range f {
		f[i] = int16(r.IntN(65) - 32)
	}
	return f
}

// scaled returns frames with every sample multiplied by gain, over line
// noise.
func scaled(frames [][]int16, gain float64, r *rand.Rand) [][]int16 {
	out := make([][]int16, len(frames))
	for i, f := range frames {
		n := lineNoiseFrame(r)
		for j := range n {
			n[j] += int16(float64(f[j]) * gain)
		}
		out[i] = n
	}
	return out
}

// TestTheEchoGateLearnsTheLine plays the agent at -5 dBFS (the reference)
// over two lines. On one, its echo comes back as words (300 ms of voice,
// 100 ms gaps) 26 dB down: the gate learns that loss, the echo starts
// nothing in 10 s, and a caller 12 dB under the agent still barges in
// without teaching the gate that they are echo. On the other, nothing
// comes back but line noise: within 3 s the gate is under the noise floor,
// and a caller 27 dB under the agent (as quiet as that first line's echo)
// starts an utterance on the same frame as with the agent silent.
func TestTheEchoGateLearnsTheLine(t *testing.T) {
	const refDB = -5
	word := synth(loud(15), quiet(5))
	// gainFor(p) scales the synthetic voice so that its loudest frame is
	// at p dBFS as the detector measures it.
	h, loudest := newHighPass(highPassHz, rate8k), math.Inf(-1)
	for _, f := range word {
		loudest = max(loudest, h.levelDB(f))
	}
	gainFor := func(peakDB float64) float64 { return math.Pow(10, (peakDB-loudest)/20) }
	r := rand.New(rand.NewPCG(1, 2))

	t.Run("echo 26 dB down", func(t *testing.T) {
		d := mustNew(t, rate8k)
		for range 50 {
			d.Process(lineNoiseFrame(r)) // the floor, before the agent talks
		}
		var echo [][]int16
		for range 25 { // 10 s
			echo = append(echo, scaled(word, gainFor(refDB-26), r)...)
		}
		for i, f := range echo {
			d.SetEchoReference(refDB)
			if ev := d.Process(f); ev != EventNone {
				t.Fatalf("the echo alone caused %v at frame %d (learnt loss %.1f dB)", ev, i, d.EchoLossDB())
			}
		}
		if loss := d.EchoLossDB(); loss < 24 || loss > 30 {
			t.Errorf("learnt loss %.1f dB, want about 26", loss)
		}
		learnt := d.EchoLossDB()
		var evs []Event
		for _, f := range scaled(synth(loud(30), quiet(40)), gainFor(refDB-12), r) {
			d.SetEchoReference(refDB)
			if ev := d.Process(f); ev != EventNone {
				evs = append(evs, ev)
			}
		}
		if len(evs) < 2 || evs[0] != EventSpeechStart || evs[1] != EventBargeIn {
			t.Errorf("a caller 12 dB under the agent: events %v, want SpeechStart then BargeIn", evs)
		}
		if loss := d.EchoLossDB(); loss < learnt-1 {
			t.Errorf("the caller taught the gate: loss %.1f dB after them, %.1f before", loss, learnt)
		}
	})

	t.Run("no echo", func(t *testing.T) {
		caller := synth(quiet(10), loud(30))
		firstStart := func(d *Detector, ref float64) int {
			for i, f := range scaled(caller, gainFor(refDB-27), rand.New(rand.NewPCG(3, 4))) {
				d.SetEchoReference(ref)
				if d.Process(f) == EventSpeechStart {
					return i
				}
			}
			return -1
		}
		fresh := func(agentTalks int) *Detector {
			d := mustNew(t, rate8k)
			for range 50 {
				d.Process(lineNoiseFrame(r))
			}
			for range agentTalks {
				d.SetEchoReference(refDB)
				d.Process(lineNoiseFrame(r))
			}
			return d
		}
		alone := firstStart(fresh(0), noEchoDB)
		if alone < 0 {
			t.Fatal("the quiet caller alone started no utterance")
		}
		if got := firstStart(fresh(0), refDB); got == alone {
			t.Errorf("before the gate learnt the line, a caller 27 dB under the agent started at frame %d as if it were silent", got)
		}
		d := fresh(150) // 3 s of the agent talking over a line that sends nothing back
		if loss := d.EchoLossDB(); loss < 40 {
			t.Errorf("learnt loss after 3 s without echo: %.1f dB, want 40 or more", loss)
		}
		if got := firstStart(d, refDB); got != alone {
			t.Errorf("after 3 s without echo, the quiet caller started at frame %d, alone at %d", got, alone)
		}
	})
}
