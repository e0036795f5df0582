package vad

import (
	"encoding/json"
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

	"github.com/iace/iace/media"
)

// The barge-in corpus (testdata/bargein, made by its gen.sh, described in
// docs/BARGE-IN.md) holds what a caller may do while the agent talks:
// backchannels and noises that must not interrupt it, real interruptions that
// must, and sentences with and without a pause inside, to time endpointing.
// The harness below plays each clip into a call as the caller's side of the
// line carries it, runs a Detector with DefaultConfig over it in 20 ms frames
// and measures the figures of issue 12.
//
// A scene is sceneLead of line noise, the clip, and sceneTail of line noise:
//
//   - line noise: uniform white noise at about -65 dBFS RMS (PSTN idle
//     noise), the same seeded noise in every scene;
//   - the clip starts at sceneLead (a frame boundary), so the detector has
//     learnt the line before the caller makes a sound;
//   - in the echo conditions the agent's speech (agent.wav, looped from the
//     start of the scene) is added at -25 dB (a poor echo path: hybrid
//     echo with no canceller) or -40 dB (the residue an echo canceller
//     leaves); the agent keeps talking to the end of the scene, barge-in or
//     not. The "line" condition has no echo: the caller's side of a phone
//     line carries the caller's audio only;
//   - those echoes are the agent's audio itself, scaled, at the same
//     instant; the "hybrid" condition's is as a real line sends it back
//     (hybridPath): late, filtered by the hybrid, and G.711 on the way,
//     and its clip comes 5 s into the agent's audio (hybridLead), when an
//     echo canceller has learnt the line.
//
// End-of-turn clips play in the line condition only: it is the caller's
// turn, the agent is silent.

const (
	bargeInDir  = "testdata/bargein"
	sceneLead   = 2 * time.Second
	sceneTail   = 1500 * time.Millisecond
	lineNoise   = 32              // amplitude of the uniform line noise: RMS 32/sqrt(3) = -65 dBFS
	echoControl = 4 * time.Second // the echo-only scene after sceneLead
)

// noEcho is the echo level of the line condition.
var noEcho = math.Inf(-1)

// echoLine is how a condition's line carries the agent's echo.
type echoLine struct {
	db float64 // the echo's level under the agent's; noEcho for none
	// reference: the detector is told the level of the agent's audio the
	// echo comes from (SetEchoReference), and given that audio when it
	// asks (SetEchoAudio), as the session does.
	reference bool
	// hybrid: the echo comes back as from a real line, late and filtered
	// (hybridPath), and the caller's side is G.711 mu-law; nil: it is the
	// agent's audio itself, scaled, at the same instant.
	hybrid *hybridPath
	// lead is how long the agent has talked when the clip starts;
	// 0 means sceneLead.
	lead time.Duration
}

// leadTime is the scene's lead on this line.
func (l echoLine) leadTime() time.Duration {
	if l.lead > 0 {
		return l.lead
	}
	return sceneLead
}

// bargeInConditions are the columns of the table.
var bargeInConditions = []struct {
	name string
	line echoLine
}{
	{"line", echoLine{db: noEcho}},
	{"echo -25 dB", echoLine{db: -25}},
	{"echo -40 dB", echoLine{db: -40}},
	{"echo -25 dB, reference", echoLine{db: -25, reference: true}},
	{"echo -40 dB, reference", echoLine{db: -40, reference: true}},
	{"hybrid -25 dB, reference", echoLine{db: -25, reference: true, hybrid: &hybridPaths[0], lead: hybridLead}},
}

// A hybridPath is an echo path of a line with no echo canceller: the
// return path's delay, from when the far end plays the agent's audio to
// when its echo arrives, and the hybrid's impulse response, a damped
// oscillation at freq (cycles a sample at 8 kHz) decaying by 1/e every
// decay samples, 6 ms long, with no DC (a hybrid couples through a
// transformer): in the manner of the echo path models of ITU-T G.168,
// not one of them. Its gain is set per condition so that the echo is the
// condition's level under the agent's speech.
type hybridPath struct {
	delay       time.Duration
	decay, freq float64
}

// hybridPaths are the paths TestEchoCancellerAcrossPaths plays; the first
// is the hybrid condition's. Their delays are not multiples of a frame or
// of the canceller's 2.5 ms blocks.
var hybridPaths = []hybridPath{
	{143 * time.Millisecond, 7, 0.13},
	{61 * time.Millisecond, 4, 0.08},
	{257 * time.Millisecond, 12, 0.2},
	{377 * time.Millisecond, 9, 0.05},
	{13 * time.Millisecond, 3, 0.3},
}

// hybridLead is how long the agent has talked in the hybrid condition when
// the caller makes a sound: long enough for the echo canceller to have
// learnt the line (about 3 s: docs/BARGE-IN.md, "An echo canceller").
const hybridLead = 5 * time.Second

// response returns the path's impulse response at 8 kHz, unscaled.
func (p *hybridPath) response() []float64 {
	h := make([]float64, 48)
	var mean float64
	for n := range h {
		t := float64(n)
		h[n] = math.Exp(-t/p.decay) * math.Sin(2*math.Pi*p.freq*t+0.5)
		mean += h[n]
	}
	for n := range h {
		h[n] -= mean / float64(len(h))
	}
	return h
}

// The targets of issue 12, reported next to the figures but not asserted
// (the floors in bargeInBaseline are; see docs/BARGE-IN.md).
const (
	targetInterruptP50 = 300 * time.Millisecond
	targetEndP50       = 400 * time.Millisecond
	// backchannelMax is the BackchannelMax of the second configuration the
	// harness measures: about the longest a spoken "mm-hmm" or "okay"
	// lasts at a slow rate.
	backchannelMax = 700 * time.Millisecond
)

// holdLead is the agent audio queued at the far end when the session holds
// its playout on SpeechStart (the pacer's default HoldLead): a hold released
// by NotSpeech within it leaves no audible gap.
var holdLead = media.DefaultPacerConfig().HoldLead

// bargeInConfigs are the configurations the harness measures: the default
// (BargeIn at BargeInMin, backchannels told by the session's words) and
// BackchannelMax set (backchannels told by their length, offline).
var bargeInConfigs = []struct {
	name string
	cfg  func() Config
}{
	{"DefaultConfig", DefaultConfig},
	{fmt.Sprintf("BackchannelMax %v", backchannelMax), func() Config {
		c := DefaultConfig()
		c.BackchannelMax = backchannelMax
		return c
	}},
	{"EchoCancel off", func() Config {
		c := DefaultConfig()
		c.EchoCancel = false
		return c
	}},
	{"EchoLearn off", func() Config {
		c := DefaultConfig()
		c.EchoLearn = false
		return c
	}},
	{fmt.Sprintf("EchoMarginDB %v", echoMargin), func() Config {
		c := DefaultConfig()
		c.EchoMarginDB = echoMargin
		return c
	}},
}

// echoMargin is the margin docs/BARGE-IN.md recommends for lines that
// carry the agent's echo back.
const echoMargin = 28

// bargeInClip is one clip of testdata/bargein/labels.json.
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

// The kinds of clip.
const (
	kindBackchannel  = "backchannel"
	kindNonSpeech    = "nonspeech"
	kindInterruption = "interruption"
	kindEndComplete  = "eot_complete"
	kindEndPause     = "eot_pause"
)

// bargeInCorpus is testdata/bargein with its samples loaded.
type bargeInCorpus struct {
	Agent struct {
		File string `json:"file"`
		Text string `json:"text"`
	} `json:"agent"`
	Voices map[string]string `json:"voices"`
	Clips  []*bargeInClip    `json:"clips"`

	rate  int
	agent []int16
}

// loadBargeInCorpus reads the labels and every clip, which must all be 8 kHz
// and no longer than the labels say.
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
	c.rate = 8000
	read := func(name string) []int16 {
		s, rate, err := readWAV(filepath.Join(bargeInDir, name))
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		if rate != c.rate {
			tb.Fatalf("%s: %d Hz, want %d", name, rate, c.rate)
		}
		return s
	}
	c.agent = read(c.Agent.File)
	kinds := map[string]int{}
	for _, clip := range c.Clips {
		clip.samples = read(clip.File)
		kinds[clip.Kind]++
		n := time.Duration(len(clip.samples)) * time.Second / time.Duration(c.rate)
		if clip.onset() < 0 || clip.offset() <= clip.onset() || clip.offset() > n {
			tb.Fatalf("%s: labelled [%v, %v] in %v of audio", clip.File, clip.onset(), clip.offset(), n)
		}
		if (clip.Kind == kindEndPause) != (len(clip.PauseMS) == 2) {
			tb.Fatalf("%s: kind %s with pause %v", clip.File, clip.Kind, clip.PauseMS)
		}
	}
	for _, k := range []string{kindBackchannel, kindNonSpeech, kindInterruption, kindEndComplete, kindEndPause} {
		if kinds[k] == 0 {
			tb.Fatalf("no %s clips in %s", k, bargeInDir)
		}
	}
	return &c
}

// samplesIn converts a duration to samples at the corpus rate.
func (c *bargeInCorpus) samplesIn(d time.Duration) int {
	return int(d * time.Duration(c.rate) / time.Second)
}

// scene renders a call: line noise, the agent's echo as line carries it (none
// for noEcho), and the clip (nil for none, as in the echo control) at the
// line's lead; a scene without a clip lasts the lead + echoControl.
func (c *bargeInCorpus) scene(clip *bargeInClip, line echoLine) []int16 {
	lead := c.samplesIn(line.leadTime())
	n := lead + c.samplesIn(sceneTail)
	if clip != nil {
		n += len(clip.samples)
	} else {
		n = lead + c.samplesIn(echoControl)
	}
	gain := math.Pow(10, line.db/20) // 0 for noEcho
	echo := func(i int) float64 { return gain * float64(c.agent[i%len(c.agent)]) }
	if line.hybrid != nil {
		echo = c.hybridEcho(line.hybrid, n, gain)
	}
	r := rand.New(rand.NewPCG(12, 5))
	out := make([]int16, n)
	for i := range out {
		v := float64(r.IntN(2*lineNoise+1) - lineNoise)
		v += echo(i)
		if clip != nil && i >= lead && i-lead < len(clip.samples) {
			v += float64(clip.samples[i-lead])
		}
		out[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(v))))
	}
	if line.hybrid != nil { // the caller's side arrives as G.711
		b := make([]byte, n)
		media.DecodeULawTo(out, b[:media.EncodeULawTo(b, out)])
	}
	return out
}

// hybridEcho returns the echo over path at each of the n samples of a
// scene: the agent's audio as sent (mu-law) and played from the scene's
// start, the path's delay late, through its response scaled so that the
// echo of the agent's speech is gain (in amplitude) under it.
func (c *bargeInCorpus) hybridEcho(path *hybridPath, n int, gain float64) func(int) float64 {
	played := make([]int16, n)
	for i := range played {
		played[i] = c.agent[i%len(c.agent)]
	}
	b := make([]byte, n)
	media.DecodeULawTo(played, b[:media.EncodeULawTo(b, played)])
	echo := c.echoOver(path, played, gain)
	return func(i int) float64 { return echo[i] }
}

// echoOver returns the echo over path of what the far end played (as it
// played it, after G.711): played, the path's delay late, through its
// response scaled so that the echo of speech is gain (in amplitude)
// under it.
func (c *bargeInCorpus) echoOver(path *hybridPath, played []int16, gain float64) []float64 {
	h := path.response()
	delay := c.samplesIn(path.delay)
	echo := make([]float64, len(played))
	var in, out float64
	for i := delay; i < len(played); i++ {
		var v float64
		for k, hk := range h {
			if j := i - delay - k; j >= 0 {
				v += hk * float64(played[j])
			}
		}
		echo[i] = v
		in += float64(played[i-delay]) * float64(played[i-delay])
		out += v * v
	}
	scale := gain * math.Sqrt(in/out)
	for i := range echo {
		echo[i] *= scale
	}
	return echo
}

// runWithReference is run with the agent's level told to the detector
// before each frame, as the session does: the loudest frame of the agent's
// audio so far (at full level: what was played, not its echo), measured as
// the playout measures it, on the mu-law it sends. The agent talks from the
// scene's start to its end, looped.
func (c *bargeInCorpus) runWithReference(d *Detector, samples []int16, frameLen int) []timedEvent {
	loudest := float64(media.NoLevelDB)
	agent := make([]int16, frameLen)
	sent := make([]byte, frameLen)
	played := make([]int16, frameLen)
	var evs []timedEvent
	for i := 0; i < len(samples); i += frameLen {
		end := min(i+frameLen, len(samples))
		for j := range agent[:end-i] {
			agent[j] = c.agent[(i+j)%len(c.agent)]
		}
		n := media.EncodeULawTo(sent, agent[:end-i])
		loudest = max(loudest, media.LoudestFrameDB(sent[:n], media.EncodingPCMU, frameLen))
		d.SetEchoReference(loudest)
		if d.WantsEchoAudio() {
			d.SetEchoAudio(played[:media.DecodeULawTo(played, sent[:n])])
		}
		if ev := d.Process(samples[i:end]); ev != EventNone {
			evs = append(evs, timedEvent{ev, time.Duration(end) * time.Second / time.Duration(c.rate)})
		}
	}
	return evs
}

// clipRun is what the detector did in one scene. Times are relative to the
// clip's labelled onset (for the echo control, to the scene's lead).
type clipRun struct {
	clip     *bargeInClip
	evs      []timedEvent // scene times
	bargeIns []time.Duration
	ends     []time.Duration
	// hold is how long the session would hold the agent for the first
	// utterance that did not barge in: SpeechStart to NotSpeech (or to
	// SpeechEnd, or the end of the scene, if none came); -1 if there was
	// no such utterance.
	hold time.Duration
}

func (r clipRun) String() string {
	if r.clip == nil {
		return fmt.Sprintf("echo only: %v", r.evs)
	}
	return fmt.Sprintf("%s (%q): %v", r.clip.File, r.clip.Text, r.evs)
}

// play runs a fresh detector with cfg over one scene.
func (c *bargeInCorpus) play(tb testing.TB, cfg Config, clip *bargeInClip, line echoLine) clipRun {
	tb.Helper()
	d, err := New(cfg, c.rate)
	if err != nil {
		tb.Fatal(err)
	}
	scene, frame := c.scene(clip, line), c.rate/50
	var r clipRun
	if line.reference {
		r = clipRun{clip: clip, evs: c.runWithReference(d, scene, frame)}
	} else {
		r = clipRun{clip: clip, evs: run(d, scene, c.rate, frame)}
	}
	zero := line.leadTime()
	if clip != nil {
		zero += clip.onset()
	}
	r.hold = -1
	var start time.Duration
	holding, done := false, false
	for _, e := range r.evs {
		switch e.Event {
		case EventSpeechStart:
			start, holding = e.at, !done
		case EventBargeIn:
			r.bargeIns = append(r.bargeIns, e.at-zero)
			holding = false
		case EventNotSpeech:
			if holding {
				r.hold, holding, done = e.at-start, false, true
			}
		case EventSpeechEnd:
			r.ends = append(r.ends, e.at-zero)
			if holding {
				r.hold, holding, done = e.at-start, false, true
			}
		}
	}
	if holding {
		r.hold = zero + c.lengthOf(clip) + sceneTail - start
	}
	return r
}

// lengthOf is the duration of the clip, 0 for none.
func (c *bargeInCorpus) lengthOf(clip *bargeInClip) time.Duration {
	if clip == nil {
		return 0
	}
	return time.Duration(len(clip.samples)) * time.Second / time.Duration(c.rate)
}

// bargeInFigures are the measurements of one condition. Latencies are
// nearest-rank percentiles over the clips that have one, -1 if none has.
type bargeInFigures struct {
	// Clips, and clips with a BargeIn anywhere in their scene (the echo
	// alone may cause it: see EchoOnlyBargeIns).
	Backchannels, BackchannelFalse int
	NonSpeech, NonSpeechFalse      int
	// BargeIns in a scene of the agent's echo alone; echo conditions only.
	EchoOnlyBargeIns int
	// The hold (SpeechStart to NotSpeech) of backchannels and non-speech
	// that did not barge in: p50 and max, and how many holds outlast
	// holdLead (the agent's audio stops: an audible gap) and by how much
	// at most.
	BackchannelHoldP50, BackchannelHoldMax time.Duration
	BackchannelHeld, BackchannelGaps       int
	BackchannelGapMax                      time.Duration
	NonSpeechHoldP50, NonSpeechHoldMax     time.Duration
	NonSpeechHeld, NonSpeechGaps           int
	NonSpeechGapMax                        time.Duration

	// Detected: a BargeIn between the interruption's onset and its offset;
	// its latency is counted from the onset.
	Interruptions, Detected    int
	InterruptP50, InterruptMax time.Duration

	// Complete sentences: Early, a SpeechEnd before the sentence ended;
	// NoEnd, no SpeechEnd within sceneTail after it; EndP50 and EndMax,
	// the last SpeechEnd after the sentence's end.
	Complete, CompleteEarly, CompleteNoEnd int
	EndP50, EndMax                         time.Duration
	// Sentences with a pause inside: Splits, a SpeechEnd before the
	// sentence ended (in the pause, or before it).
	Paused, PauseSplits int

	falseClips, missed, splits []clipRun
}

// evaluate plays every clip of the corpus with the agent's echo as line
// carries it. End-of-turn clips play without echo only.
func (c *bargeInCorpus) evaluate(tb testing.TB, cfg Config, line echoLine) bargeInFigures {
	tb.Helper()
	echo := line.db != noEcho
	var f bargeInFigures
	var interrupt, end, bcHold, nsHold []time.Duration
	if echo {
		f.EchoOnlyBargeIns = len(c.play(tb, cfg, nil, line).bargeIns)
	}
	for _, clip := range c.Clips {
		eot := clip.Kind == kindEndComplete || clip.Kind == kindEndPause
		if echo && eot {
			continue
		}
		r := c.play(tb, cfg, clip, line)
		length := clip.offset() - clip.onset()
		switch clip.Kind {
		case kindBackchannel, kindNonSpeech:
			bad := len(r.bargeIns) > 0
			gap := max(0, r.hold-holdLead)
			if clip.Kind == kindBackchannel {
				f.Backchannels++
				f.BackchannelFalse += b2i(bad)
				if r.hold >= 0 {
					bcHold = append(bcHold, r.hold)
					f.BackchannelHeld++
					f.BackchannelGaps += b2i(gap > 0)
					f.BackchannelGapMax = max(f.BackchannelGapMax, gap)
				}
			} else {
				f.NonSpeech++
				f.NonSpeechFalse += b2i(bad)
				if r.hold >= 0 {
					nsHold = append(nsHold, r.hold)
					f.NonSpeechHeld++
					f.NonSpeechGaps += b2i(gap > 0)
					f.NonSpeechGapMax = max(f.NonSpeechGapMax, gap)
				}
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
	f.BackchannelHoldP50, f.BackchannelHoldMax = percentile(bcHold, 50), percentile(bcHold, 100)
	f.NonSpeechHoldP50, f.NonSpeechHoldMax = percentile(nsHold, 50), percentile(nsHold, 100)
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

// percentile returns the nearest-rank p-th percentile of ds, -1 if empty.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := (p*len(s) + 99) / 100 // ceil(p/100 * n)
	return s[max(k, 1)-1]
}

// bargeInTable formats the figures of each condition (in the order of
// bargeInConditions) with the targets.
func bargeInTable(figs []bargeInFigures) string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	ms := func(d time.Duration) string {
		if d < 0 {
			return "-"
		}
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	frac := func(n, of int) string {
		if of == 0 {
			return "-"
		}
		return fmt.Sprintf("%d of %d", n, of)
	}
	row := func(name, target string, cell func(f bargeInFigures, echo bool) string) {
		fmt.Fprint(w, name)
		for i, f := range figs {
			fmt.Fprint(w, "\t"+cell(f, bargeInConditions[i].line.db != noEcho))
		}
		fmt.Fprintln(w, "\t"+target)
	}
	fmt.Fprint(w, "figure")
	for _, c := range bargeInConditions[:len(figs)] {
		fmt.Fprint(w, "\t"+c.name)
	}
	fmt.Fprintln(w, "\ttarget")
	row("false barge-ins, backchannels", "0", func(f bargeInFigures, _ bool) string { return frac(f.BackchannelFalse, f.Backchannels) })
	row("false barge-ins, non-speech", "0", func(f bargeInFigures, _ bool) string { return frac(f.NonSpeechFalse, f.NonSpeech) })
	hold := func(p50, max time.Duration, gaps, of int, gapMax time.Duration) string {
		if p50 < 0 {
			return "-"
		}
		return fmt.Sprintf("%s / %s, %d of %d over, +%s", ms(p50), ms(max), gaps, of, ms(gapMax))
	}
	row("hold to NotSpeech, backchannels: p50 / max, over "+ms(holdLead)+", max excess", "<= "+ms(holdLead), func(f bargeInFigures, _ bool) string {
		return hold(f.BackchannelHoldP50, f.BackchannelHoldMax, f.BackchannelGaps, f.BackchannelHeld, f.BackchannelGapMax)
	})
	row("hold to NotSpeech, non-speech: p50 / max, over "+ms(holdLead)+", max excess", "<= "+ms(holdLead), func(f bargeInFigures, _ bool) string {
		return hold(f.NonSpeechHoldP50, f.NonSpeechHoldMax, f.NonSpeechGaps, f.NonSpeechHeld, f.NonSpeechGapMax)
	})
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

// bargeInBaseline holds the floors, per configuration (bargeInConfigs) and
// condition: what the voicing detector measured on 2026-12-06 (and, with the
// echo canceller, on 2026-12-07). A change that
// makes a figure worse fails TestBargeInCorpus; one that makes it better
// should move the floor here and the table in docs/BARGE-IN.md. (The energy
// detector's figures of 2026-12-05 are in the doc.)
var bargeInBaseline = map[string]map[string]bargeInFigures{
	"DefaultConfig": {
		"line": {
			BackchannelFalse: 28, NonSpeechFalse: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond,
			EndP50: 360 * time.Millisecond, CompleteEarly: 0, CompleteNoEnd: 0, PauseSplits: 0,
		},
		// The agent's echo at -25 dB is voiced speech: the voicing
		// tracker accepts it like the caller's, and its utterance is
		// open when the clip starts (so the hold is the echo's).
		// End-of-turn clips play without echo: EndP50 -1, not measured.
		"echo -25 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 13, EchoOnlyBargeIns: 2, NonSpeechHoldP50: -1,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 1, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 120 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		// Told the agent's level, the gate learns each line's echo
		// return loss (EchoLearn): the echo starts nothing. On the -25 dB
		// line the echo canceller (EchoCancel) is built within 0.3 s and
		// works from 1.2 s: a noise over the echo then has no pitch of
		// the agent's (8 of 13 got through without it). The echo no
		// longer helps the caller's quieter onsets over the gate either:
		// the median barge-in is 60 ms later. On the -40 dB line the gate
		// sits 3 dB over that echo and holds back a few of the quietest
		// caller's onsets; no canceller is built.
		"echo -25 dB, reference": {
			BackchannelFalse: 27, NonSpeechFalse: 0, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 320 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 1, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 280 * time.Millisecond, EndP50: -1,
		},
		// A line as a real one carries the echo: 143 ms late, through a
		// hybrid's response, in G.711, the caller's sound 5 s into the
		// agent's audio. With the canceller nothing gets through and
		// every interruption is heard (EchoCancel off: 7 noises, 23).
		"hybrid -25 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 0, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 320 * time.Millisecond, EndP50: -1,
		},
	},
	// DefaultConfig as it was before the echo canceller.
	"EchoCancel off": {
		"line": {
			BackchannelFalse: 28, NonSpeechFalse: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond,
			EndP50: 360 * time.Millisecond, CompleteEarly: 0, CompleteNoEnd: 0, PauseSplits: 0,
		},
		"echo -25 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 13, EchoOnlyBargeIns: 2, NonSpeechHoldP50: -1,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 1, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 120 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		// A noise over the agent that starts an utterance is kept going
		// by the echo until accepted as a voice.
		"echo -25 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 8, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 1, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 280 * time.Millisecond, EndP50: -1,
		},
		"hybrid -25 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 7, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 23, InterruptP50: 320 * time.Millisecond, EndP50: -1,
		},
	},
	// DefaultConfig as it was before the gate learnt each line (issue 12).
	"EchoLearn off": {
		"line": {
			BackchannelFalse: 28, NonSpeechFalse: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond,
			EndP50: 360 * time.Millisecond, CompleteEarly: 0, CompleteNoEnd: 0, PauseSplits: 0,
		},
		// The agent's echo at -25 dB is voiced speech: the voicing
		// tracker accepts it like the caller's, and its utterance is
		// open when the clip starts (so the hold is the echo's).
		// End-of-turn clips play without echo: EndP50 -1, not measured.
		"echo -25 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 13, EchoOnlyBargeIns: 2, NonSpeechHoldP50: -1,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 1, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 120 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		// No gate (and no canceller, which learns from the gate): the
		// reference changes nothing.
		"echo -25 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 13, EchoOnlyBargeIns: 2, NonSpeechHoldP50: -1,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 1, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 120 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		// The echo barges in within the first second and keeps that
		// utterance going to the end: no clip is heard.
		"hybrid -25 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 13, EchoOnlyBargeIns: 3, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 0, InterruptP50: -1, EndP50: -1,
		},
	},
	"BackchannelMax 700ms": {
		"line": {
			BackchannelFalse: 0, NonSpeechFalse: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 880 * time.Millisecond,
			EndP50: 360 * time.Millisecond, CompleteEarly: 0, CompleteNoEnd: 0, PauseSplits: 0,
		},
		"echo -25 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 10, EchoOnlyBargeIns: 1, NonSpeechHoldP50: -1,
			Detected: 24, InterruptP50: 380 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB": {
			BackchannelFalse: 0, NonSpeechFalse: 0, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 880 * time.Millisecond, EndP50: -1,
		},
		// With the learnt gate the echo no longer holds an utterance open
		// when the caller starts, so BargeIn waits for BackchannelMax as
		// on a clean line (380 ms before, on the echo's utterance). With
		// the canceller the echo no longer carries the agent's voice
		// into a backchannel either: they end as on a clean line (28 of
		// 28 barged in without it, and 8 of 13 noises).
		"echo -25 dB, reference": {
			BackchannelFalse: 0, NonSpeechFalse: 0, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 920 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB, reference": {
			BackchannelFalse: 0, NonSpeechFalse: 0, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 880 * time.Millisecond, EndP50: -1,
		},
		"hybrid -25 dB, reference": {
			BackchannelFalse: 0, NonSpeechFalse: 0, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 900 * time.Millisecond, EndP50: -1,
		},
	},
	// Told the agent's level (SetEchoReference), the echo cannot start an
	// utterance; a noise can, and the echo under it then keeps it going
	// until it is accepted as a voice. Without a reference nothing changes.
	"EchoMarginDB 28": {
		"line": {
			BackchannelFalse: 28, NonSpeechFalse: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond,
			EndP50: 360 * time.Millisecond, CompleteEarly: 0, CompleteNoEnd: 0, PauseSplits: 0,
		},
		"echo -25 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 13, EchoOnlyBargeIns: 2, NonSpeechHoldP50: -1,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB": {
			BackchannelFalse: 28, NonSpeechFalse: 1, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 120 * time.Millisecond,
			Detected: 24, InterruptP50: 260 * time.Millisecond, EndP50: -1,
		},
		// The canceller is built here too (the gate still learns the
		// line's echo; only the fixed margin gates onsets).
		"echo -25 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 0, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 320 * time.Millisecond, EndP50: -1,
		},
		"echo -40 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 1, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 100 * time.Millisecond,
			Detected: 24, InterruptP50: 320 * time.Millisecond, EndP50: -1,
		},
		"hybrid -25 dB, reference": {
			BackchannelFalse: 28, NonSpeechFalse: 0, EchoOnlyBargeIns: 0, NonSpeechHoldP50: 200 * time.Millisecond,
			Detected: 24, InterruptP50: 320 * time.Millisecond, EndP50: -1,
		},
	},
}

// checkFloor fails t if a figure of got is worse than the floor.
func checkFloor(t *testing.T, cond string, got, floor bargeInFigures) {
	t.Helper()
	worse := func(name string, bad bool, got, floor any) {
		if bad {
			t.Errorf("%s: %s is %v, worse than the baseline %v", cond, name, got, floor)
		}
	}
	// A latency of -1 (no clip had one) is worse than any latency; a floor
	// of -1 sets no bound.
	slower := func(got, floor time.Duration) bool { return floor >= 0 && (got < 0 || got > floor) }
	worse("false barge-ins on backchannels", got.BackchannelFalse > floor.BackchannelFalse, got.BackchannelFalse, floor.BackchannelFalse)
	worse("false barge-ins on non-speech", got.NonSpeechFalse > floor.NonSpeechFalse, got.NonSpeechFalse, floor.NonSpeechFalse)
	worse("barge-ins on the echo alone", got.EchoOnlyBargeIns > floor.EchoOnlyBargeIns, got.EchoOnlyBargeIns, floor.EchoOnlyBargeIns)
	worse("hold p50 on non-speech", slower(got.NonSpeechHoldP50, floor.NonSpeechHoldP50), got.NonSpeechHoldP50, floor.NonSpeechHoldP50)
	worse("interruptions detected", got.Detected < floor.Detected, got.Detected, floor.Detected)
	worse("barge-in latency p50", slower(got.InterruptP50, floor.InterruptP50), got.InterruptP50, floor.InterruptP50)
	worse("speech end p50 after complete sentences", slower(got.EndP50, floor.EndP50), got.EndP50, floor.EndP50)
	worse("complete sentences ended early", got.CompleteEarly > floor.CompleteEarly, got.CompleteEarly, floor.CompleteEarly)
	worse("complete sentences not ended", got.CompleteNoEnd > floor.CompleteNoEnd, got.CompleteNoEnd, floor.CompleteNoEnd)
	worse("speech ends inside pauses", got.PauseSplits > floor.PauseSplits, got.PauseSplits, floor.PauseSplits)
}

// TestBargeInCorpus measures each of bargeInConfigs on the barge-in corpus,
// logs the tables and the clips that miss (go test -run BargeIn -v
// ./media/vad/), and fails if a figure is worse than the baseline.
func TestBargeInCorpus(t *testing.T) {
	if raceDetector {
		t.Skip("make test runs the corpus without -race")
	}
	c := loadBargeInCorpus(t)
	for _, bc := range bargeInConfigs {
		t.Run(strings.ReplaceAll(bc.name, " ", "_"), func(t *testing.T) {
			figs := make([]bargeInFigures, len(bargeInConditions))
			for i, cond := range bargeInConditions {
				figs[i] = c.evaluate(t, bc.cfg(), cond.line)
			}
			t.Logf("barge-in corpus, %s, %d clips:\n%s", bc.name, len(c.Clips), bargeInTable(figs))
			for i, cond := range bargeInConditions {
				f := figs[i]
				if cond.line.db == noEcho || testing.Verbose() && os.Getenv("BARGEIN_ECHO_CLIPS") != "" {
					for _, r := range f.falseClips {
						t.Logf("%s: false barge-in: %v", cond.name, r)
					}
				}
				for _, r := range f.missed {
					t.Logf("%s: interruption missed: %v", cond.name, r)
				}
				for _, r := range f.splits {
					t.Logf("%s: speech end before the sentence ended: %v", cond.name, r)
				}
				floor, ok := bargeInBaseline[bc.name][cond.name]
				if !ok {
					t.Fatalf("no baseline for %s, %s", bc.name, cond.name)
				}
				checkFloor(t, cond.name, f, floor)
			}
		})
	}
}

// BenchmarkBargeInCorpus reports the figures of the line condition, per
// configuration, as metrics; ns/op is the time to render the scenes and run
// the detector over them:
//
//	go test -run '^$' -bench BargeIn ./media/vad/
func BenchmarkBargeInCorpus(b *testing.B) {
	c := loadBargeInCorpus(b)
	for _, bc := range bargeInConfigs {
		b.Run(strings.ReplaceAll(bc.name, " ", "_"), func(b *testing.B) {
			var f bargeInFigures
			for b.Loop() {
				f = c.evaluate(b, bc.cfg(), echoLine{db: noEcho})
			}
			b.ReportMetric(float64(f.BackchannelFalse), "false-backchannels")
			b.ReportMetric(float64(f.NonSpeechFalse), "false-nonspeech")
			b.ReportMetric(float64(f.NonSpeechHoldP50.Milliseconds()), "nonspeech-hold-p50-ms")
			b.ReportMetric(float64(f.NonSpeechGaps), "nonspeech-gaps")
			b.ReportMetric(float64(f.Interruptions-f.Detected), "missed-interruptions")
			b.ReportMetric(float64(f.InterruptP50.Milliseconds()), "bargein-p50-ms")
			b.ReportMetric(float64(f.EndP50.Milliseconds()), "end-p50-ms")
			b.ReportMetric(float64(f.PauseSplits), "pause-splits")
		})
	}
}
