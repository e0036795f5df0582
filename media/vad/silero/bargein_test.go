//go:build silero

package silero

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/iace/iace/media/vad"
)

// This is the harness of media/vad/bargein_test.go (TestBargeInCorpus),
// copied because another package's tests cannot import it: the same corpus,
// the same scenes (2 s of seeded line noise, the clip, 1.5 s of line noise;
// the agent's echo looped at -25 or -40 dB), the same figures counted the
// same way. Keep it in step with that file.
//
// Silero's probabilities do not depend on the Config that turns them into
// events, so the harness runs the model once over every scene (in 20 ms
// frames, as the media path feeds it; a chunk's time is the end of the frame
// that completed it) and then plays each Config over the cached
// probabilities. It also runs vad.DefaultConfig over the same scenes, so
// every run compares Silero with the hand-built detector as it is in the
// work tree at that moment.

const (
	bargeInDir  = "../testdata/bargein"
	sceneLead   = 2 * time.Second
	sceneTail   = 1500 * time.Millisecond
	lineNoise   = 32
	echoControl = 4 * time.Second
	frameLen    = SampleRate / 50 // 20 ms
)

var noEcho = math.Inf(-1)

var bargeInConditions = []struct {
	name   string
	echoDB float64
}{
	{"line", noEcho},
	{"echo -25 dB", -25},
	{"echo -40 dB", -40},
}

const (
	targetInterruptP50 = 300 * time.Millisecond
	targetEndP50       = 400 * time.Millisecond
)

type bargeInClip struct {
	File     string `json:"file"`
	Kind     string `json:"kind"`
	Voice    string `json:"voice"`
	Text     string `json:"text"`
	OnsetMS  int    `json:"onset_ms"`
	OffsetMS int    `json:"offset_ms"`
	PauseMS  []int  `json:"pause_ms"`

	samples []int16
}

func (c *bargeInClip) onset() time.Duration  { return time.Duration(c.OnsetMS) * time.Millisecond }
func (c *bargeInClip) offset() time.Duration { return time.Duration(c.OffsetMS) * time.Millisecond }

const (
	kindBackchannel  = "backchannel"
	kindNonSpeech    = "nonspeech"
	kindInterruption = "interruption"
	kindEndComplete  = "eot_complete"
	kindEndPause     = "eot_pause"
)

type bargeInCorpus struct {
	Agent struct {
		File string `json:"file"`
	} `json:"agent"`
	Clips []*bargeInClip `json:"clips"`

	agent []int16
}

func loadBargeInCorpus(tb testing.TB) *bargeInCorpus {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(bargeInDir, "labels.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var c bargeInCorpus
	if err := json.Unmarshal(b, &c); err != nil {
		tb.Fatal(err)
	}
	read := func(name string) []int16 {
		s, rate, err := readWAV(filepath.Join(bargeInDir, name))
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		if rate != SampleRate {
			tb.Fatalf("%s: %d Hz, want %d", name, rate, SampleRate)
		}
		return s
	}
	c.agent = read(c.Agent.File)
	for _, clip := range c.Clips {
		clip.samples = read(clip.File)
	}
	return &c
}

func samplesIn(d time.Duration) int { return int(d * SampleRate / time.Second) }

// scene is media/vad's bargeInCorpus.scene.
func (c *bargeInCorpus) scene(clip *bargeInClip, echoDB float64) []int16 {
	lead := samplesIn(sceneLead)
	n := lead + samplesIn(sceneTail)
	if clip != nil {
		n += len(clip.samples)
	} else {
		n = lead + samplesIn(echoControl)
	}
	gain := math.Pow(10, echoDB/20)
	r := rand.New(rand.NewPCG(12, 5))
	out := make([]int16, n)
	for i := range out {
		v := float64(r.IntN(2*lineNoise+1) - lineNoise)
		v += gain * float64(c.agent[i%len(c.agent)])
		if clip != nil && i >= lead && i-lead < len(clip.samples) {
			v += float64(clip.samples[i-lead])
		}
		out[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(v))))
	}
	return out
}

type timedEvent struct {
	vad.Event
	at time.Duration
}

func (e timedEvent) String() string { return fmt.Sprintf("%v@%v", e.Event, e.at) }

// chunkProb is Silero's output for one chunk of a scene.
type chunkProb struct {
	at time.Duration // scene time of the end of the frame that completed the chunk
	p  float32
}

// sceneKey names a scene: a clip (nil for the echo control) in a condition.
type sceneKey struct {
	clip   *bargeInClip
	echoDB float64
}

// probCache holds Silero's output for every scene of the corpus.
type probCache map[sceneKey][]chunkProb

// runSilero runs one fresh stream over every scene in 20 ms frames.
func runSilero(tb testing.TB, m *Model, c *bargeInCorpus) probCache {
	tb.Helper()
	s, err := m.NewStream()
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	cache := probCache{}
	var probs []float32
	for _, cond := range bargeInConditions {
		keys := []sceneKey{}
		if cond.echoDB != noEcho {
			keys = append(keys, sceneKey{nil, cond.echoDB})
		}
		for _, clip := range c.Clips {
			if cond.echoDB != noEcho && (clip.Kind == kindEndComplete || clip.Kind == kindEndPause) {
				continue
			}
			keys = append(keys, sceneKey{clip, cond.echoDB})
		}
		for _, k := range keys {
			s.Reset()
			pcm := c.scene(k.clip, k.echoDB)
			var out []chunkProb
			for i := 0; i < len(pcm); i += frameLen {
				end := min(i+frameLen, len(pcm))
				if probs, err = s.Push(pcm[i:end], probs[:0]); err != nil {
					tb.Fatal(err)
				}
				for _, p := range probs {
					out = append(out, chunkProb{time.Duration(end) * time.Second / SampleRate, p})
				}
			}
			cache[k] = out
		}
	}
	return cache
}

// player returns the events of one scene.
type player func(clip *bargeInClip, echoDB float64) []timedEvent

// sileroPlayer plays cfg over the cached probabilities.
func sileroPlayer(cache probCache, cfg Config) player {
	return func(clip *bargeInClip, echoDB float64) []timedEvent {
		d := NewDecider(cfg)
		var evs []timedEvent
		for _, cp := range cache[sceneKey{clip, echoDB}] {
			if ev := d.Step(cp.p); ev != vad.EventNone {
				evs = append(evs, timedEvent{ev, cp.at})
			}
		}
		return evs
	}
}

// handBuiltPlayer runs media/vad's Detector with cfg, as TestBargeInCorpus.
func handBuiltPlayer(tb testing.TB, c *bargeInCorpus, cfg vad.Config) player {
	return func(clip *bargeInClip, echoDB float64) []timedEvent {
		d, err := vad.New(cfg, SampleRate)
		if err != nil {
			tb.Fatal(err)
		}
		pcm := c.scene(clip, echoDB)
		var evs []timedEvent
		for i := 0; i < len(pcm); i += frameLen {
			end := min(i+frameLen, len(pcm))
			if ev := d.Process(pcm[i:end]); ev != vad.EventNone {
				evs = append(evs, timedEvent{ev, time.Duration(end) * time.Second / SampleRate})
			}
		}
		return evs
	}
}

type clipRun struct {
	clip     *bargeInClip
	evs      []timedEvent
	bargeIns []time.Duration
	ends     []time.Duration
}

func (r clipRun) String() string {
	if r.clip == nil {
		return fmt.Sprintf("echo only: %v", r.evs)
	}
	return fmt.Sprintf("%s (%q): %v", r.clip.File, r.clip.Text, r.evs)
}

func play(p player, clip *bargeInClip, echoDB float64) clipRun {
	r := clipRun{clip: clip, evs: p(clip, echoDB)}
	zero := sceneLead
	if clip != nil {
		zero += clip.onset()
	}
	for _, e := range r.evs {
		switch e.Event {
		case vad.EventBargeIn:
			r.bargeIns = append(r.bargeIns, e.at-zero)
		case vad.EventSpeechEnd:
			r.ends = append(r.ends, e.at-zero)
		}
	}
	return r
}

type bargeInFigures struct {
	Backchannels, BackchannelFalse int
	NonSpeech, NonSpeechFalse      int
	EchoOnlyBargeIns               int

	Interruptions, Detected    int
	InterruptP50, InterruptMax time.Duration

	Complete, CompleteEarly, CompleteNoEnd int
	EndP50, EndMax                         time.Duration
	Paused, PauseSplits                    int

	falseClips, missed, splits []clipRun
}

// evaluate is media/vad's bargeInCorpus.evaluate over a player.
func (c *bargeInCorpus) evaluate(p player, echoDB float64) bargeInFigures {
	echo := echoDB != noEcho
	var f bargeInFigures
	var interrupt, end []time.Duration
	if echo {
		f.EchoOnlyBargeIns = len(play(p, nil, echoDB).bargeIns)
	}
	for _, clip := range c.Clips {
		eot := clip.Kind == kindEndComplete || clip.Kind == kindEndPause
		if echo && eot {
			continue
		}
		r := play(p, clip, echoDB)
		length := clip.offset() - clip.onset()
		switch clip.Kind {
		case kindBackchannel, kindNonSpeech:
			bad := len(r.bargeIns) > 0
			if clip.Kind == kindBackchannel {
				f.Backchannels++
				f.BackchannelFalse += b2i(bad)
			} else {
				f.NonSpeech++
				f.NonSpeechFalse += b2i(bad)
			}
			if bad {
				f.falseClips = append(f.falseClips, r)
			}
		case kindInterruption:
			f.Interruptions++
			i := slices.IndexFunc(r.bargeIns, func(d time.Duration) bool { return d >= 0 && d <= length })
			if i < 0 {
				f.missed = append(f.missed, r)
				continue
			}
			f.Detected++
			interrupt = append(interrupt, r.bargeIns[i])
		case kindEndComplete, kindEndPause:
			early := slices.ContainsFunc(r.ends, func(d time.Duration) bool { return d < length })
			if clip.Kind == kindEndComplete {
				f.Complete++
				f.CompleteEarly += b2i(early)
				if n := len(r.ends); n > 0 && r.ends[n-1] >= length {
					end = append(end, r.ends[n-1]-length)
				} else {
					f.CompleteNoEnd++
				}
			} else {
				f.Paused++
				f.PauseSplits += b2i(early)
			}
			if early {
				f.splits = append(f.splits, r)
			}
		}
	}
	f.InterruptP50, f.InterruptMax = percentile(interrupt, 50), percentile(interrupt, 100)
	f.EndP50, f.EndMax = percentile(end, 50), percentile(end, 100)
	return f
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := (p*len(s) + 99) / 100
	return s[max(k, 1)-1]
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func frac(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%d of %d", n, of)
}

// bargeInTable is media/vad's table, as Markdown.
func bargeInTable(figs []bargeInFigures) string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 1, ' ', tabwriter.Debug)
	row := func(name, target string, cell func(f bargeInFigures, echo bool) string) {
		fmt.Fprint(w, "| "+name)
		for i, f := range figs {
			fmt.Fprint(w, "\t "+cell(f, bargeInConditions[i].echoDB != noEcho))
		}
		fmt.Fprintln(w, "\t "+target+"\t")
	}
	fmt.Fprint(w, "| figure")
	for _, c := range bargeInConditions[:len(figs)] {
		fmt.Fprint(w, "\t "+c.name)
	}
	fmt.Fprintln(w, "\t target\t")
	fmt.Fprintln(w, "|---"+strings.Repeat("\t---", len(figs)+1)+"\t")
	row("false barge-ins, backchannels", "0", func(f bargeInFigures, _ bool) string { return frac(f.BackchannelFalse, f.Backchannels) })
	row("false barge-ins, non-speech", "0", func(f bargeInFigures, _ bool) string { return frac(f.NonSpeechFalse, f.NonSpeech) })
	row(fmt.Sprintf("barge-ins on the agent's echo alone (%v)", echoControl), "0", func(f bargeInFigures, echo bool) string {
		if !echo {
			return "-"
		}
		return fmt.Sprint(f.EchoOnlyBargeIns)
	})
	row("interruptions detected", "all", func(f bargeInFigures, _ bool) string { return frac(f.Detected, f.Interruptions) })
	row("barge-in latency from onset, p50", "<= "+ms(targetInterruptP50), func(f bargeInFigures, _ bool) string { return ms(f.InterruptP50) })
	row("barge-in latency from onset, max", "", func(f bargeInFigures, _ bool) string { return ms(f.InterruptMax) })
	row("speech end after a complete sentence, p50", "<= "+ms(targetEndP50), func(f bargeInFigures, _ bool) string { return ms(f.EndP50) })
	row("speech end after a complete sentence, max", "", func(f bargeInFigures, _ bool) string { return ms(f.EndMax) })
	row("complete sentences ended early", "0", func(f bargeInFigures, _ bool) string { return frac(f.CompleteEarly, f.Complete) })
	row(fmt.Sprintf("complete sentences not ended within %v", sceneTail), "0", func(f bargeInFigures, _ bool) string { return frac(f.CompleteNoEnd, f.Complete) })
	row("speech end inside a 600-800 ms pause", "0", func(f bargeInFigures, _ bool) string { return frac(f.PauseSplits, f.Paused) })
	_ = w.Flush()
	return sb.String()
}

// sweepConfigs are the Configs the sweep table compares: the reference
// thresholds with the hand-built BargeInMin, and longer ones.
func sweepConfigs() []Config {
	var cs []Config
	for _, thr := range []float32{0.5, 0.7, 0.85} {
		for _, min := range []time.Duration{200, 300, 500, 700} {
			c := DefaultConfig()
			c.Threshold, c.NegThreshold, c.BargeInMin = thr, thr-0.15, min*time.Millisecond
			cs = append(cs, c)
		}
	}
	for _, sil := range []time.Duration{300, 400} {
		c := DefaultConfig()
		c.MinSilence = sil * time.Millisecond
		cs = append(cs, c)
	}
	return cs
}

// sweepTable has one row a Config: the barge-in figures of every condition
// and the end-of-turn figures of the line condition.
func sweepTable(names []string, figs [][]bargeInFigures) string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(w, "| config\t line: false bc\t false non-speech\t detected\t p50\t max\t echo -40: false bc\t false non-speech\t detected\t p50\t echo alone\t echo -25: echo alone\t detected\t end p50\t pause splits\t")
	fmt.Fprintln(w, "|---"+strings.Repeat("\t---", 14)+"\t")
	for i, f := range figs {
		l, e40, e25 := f[0], f[2], f[1]
		fmt.Fprintf(w, "| %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %d\t %d\t %s\t %s\t %s\t\n", names[i],
			frac(l.BackchannelFalse, l.Backchannels), frac(l.NonSpeechFalse, l.NonSpeech), frac(l.Detected, l.Interruptions), ms(l.InterruptP50), ms(l.InterruptMax),
			frac(e40.BackchannelFalse, e40.Backchannels), frac(e40.NonSpeechFalse, e40.NonSpeech), frac(e40.Detected, e40.Interruptions), ms(e40.InterruptP50), e40.EchoOnlyBargeIns,
			e25.EchoOnlyBargeIns, frac(e25.Detected, e25.Interruptions), ms(l.EndP50), frac(l.PauseSplits, l.Paused))
	}
	_ = w.Flush()
	return sb.String()
}

func openModel(tb testing.TB) *Model {
	tb.Helper()
	m, err := OpenFromEnv()
	if errors.Is(err, ErrNoEnv) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestBargeInCorpusSilero logs Silero's figures with DefaultConfig, the
// sweep, the hand-built detector's figures on the same scenes, each clip
// that misses, and the peak probability Silero gives every noise and
// backchannel:
//
//	go test -tags silero -run BargeIn -v
func TestBargeInCorpusSilero(t *testing.T) {
	m := openModel(t)
	defer m.Close()
	c := loadBargeInCorpus(t)
	start := time.Now()
	cache := runSilero(t, m, c)
	chunks := 0
	for _, v := range cache {
		chunks += len(v)
	}
	t.Logf("Silero over %d scenes: %d chunks in %v (%v a chunk)", len(cache), chunks, time.Since(start).Round(time.Millisecond),
		(time.Since(start) / time.Duration(chunks)).Round(time.Microsecond))

	all := func(p player) []bargeInFigures {
		figs := make([]bargeInFigures, len(bargeInConditions))
		for i, cond := range bargeInConditions {
			figs[i] = c.evaluate(p, cond.echoDB)
		}
		return figs
	}
	hand := all(handBuiltPlayer(t, c, vad.DefaultConfig()))
	t.Logf("hand-built media/vad, vad.DefaultConfig (work tree as it is now), %d clips:\n%s", len(c.Clips), bargeInTable(hand))

	def := DefaultConfig()
	figs := all(sileroPlayer(cache, def))
	t.Logf("Silero (%s), %v, %d clips:\n%s", filepath.Base(os.Getenv(EnvModel)), def, len(c.Clips), bargeInTable(figs))
	for i, cond := range bargeInConditions {
		for _, r := range figs[i].falseClips {
			t.Logf("silero %s: false barge-in: %v", cond.name, r)
		}
		for _, r := range figs[i].missed {
			t.Logf("silero %s: interruption missed: %v", cond.name, r)
		}
		for _, r := range figs[i].splits {
			t.Logf("silero %s: speech end before the sentence ended: %v", cond.name, r)
		}
	}

	var names []string
	var sweep [][]bargeInFigures
	for _, cfg := range sweepConfigs() {
		names = append(names, fmt.Sprintf("p>=%.2f, %v, silence %v", cfg.Threshold, cfg.BargeInMin, cfg.MinSilence))
		sweep = append(sweep, all(sileroPlayer(cache, cfg)))
	}
	names = append(names, "hand-built vad.DefaultConfig")
	sweep = append(sweep, hand)
	t.Logf("sweep (Silero rows: threshold, BargeInMin, MinSilence):\n%s", sweepTable(names, sweep))

	// What Silero makes of each sound that must not barge in, with no echo:
	// its peak probability and the time at or above 0.5.
	var sb strings.Builder
	for _, clip := range c.Clips {
		if clip.Kind != kindBackchannel && clip.Kind != kindNonSpeech {
			continue
		}
		var peak float32
		var over time.Duration
		for _, cp := range cache[sceneKey{clip, noEcho}] {
			peak = max(peak, cp.p)
			if cp.p >= 0.5 {
				over += ChunkDuration
			}
		}
		fmt.Fprintf(&sb, "%-11s %-22s %-30q %4d ms long: peak p %.2f, %4d ms at p>=0.5\n", clip.Kind, clip.File, clip.Text,
			(clip.offset() - clip.onset()).Milliseconds(), peak, over.Milliseconds())
	}
	t.Logf("line condition, per clip:\n%s", sb.String())

	// A sanity floor, so that a broken model or wrapper fails: Silero must
	// hear speech in most interruptions on a clean line.
	if figs[0].Detected < figs[0].Interruptions/2 {
		t.Errorf("Silero detected %d of %d interruptions on the line", figs[0].Detected, figs[0].Interruptions)
	}
}
