package vad

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/media"
)

// cancelConfig is DefaultConfig with the echo canceller on (as it is by
// default; the tests of the canceller say so whatever the default).
func cancelConfig() Config {
	c := DefaultConfig()
	c.EchoCancel = true
	return c
}

// lineCall plays a scene of the barge-in corpus over line frame by frame,
// with the agent's level and audio given as the session gives them (see
// runWithReference), and calls at after every frame with the scene time at
// its end and the event it caused.
func (c *bargeInCorpus) lineCall(tb testing.TB, d *Detector, clip *bargeInClip, line echoLine, at func(time.Duration, Event)) {
	tb.Helper()
	scene, frame := c.scene(clip, line), c.rate/50
	loudest := float64(media.NoLevelDB)
	agent, sent, played := make([]int16, frame), make([]byte, frame), make([]int16, frame)
	for i := 0; i+frame <= len(scene); i += frame {
		for j := range agent {
			agent[j] = c.agent[(i+j)%len(c.agent)]
		}
		n := media.EncodeULawTo(sent, agent)
		loudest = max(loudest, media.LoudestFrameDB(sent[:n], media.EncodingPCMU, frame))
		d.SetEchoReference(loudest)
		if d.WantsEchoAudio() {
			d.SetEchoAudio(played[:media.DecodeULawTo(played, sent[:n])])
		}
		ev := d.Process(scene[i : i+frame])
		at(time.Duration(i+frame)*time.Second/time.Duration(c.rate), ev)
	}
}

// TestTheEchoCancellerLearnsTheLine plays the agent's audio alone over the
// hybrid condition's line (its echo 25 dB down, 143 ms late, through a
// hybrid): the detector asks for the agent's audio within half a second,
// finds the echo's delay to the sample, takes at least 15 dB of the echo
// away within 3 s, reports the line's own echo return loss, and nothing
// in the echo starts an utterance.
func TestTheEchoCancellerLearnsTheLine(t *testing.T) {
	c := loadBargeInCorpus(t)
	path := &hybridPaths[0]
	line := echoLine{db: -25, reference: true, hybrid: path, lead: hybridLead}
	d, err := New(cancelConfig(), c.rate)
	if err != nil {
		t.Fatal(err)
	}
	var wanted, learnt time.Duration = -1, -1
	var evs []Event
	c.lineCall(t, d, nil, line, func(now time.Duration, ev Event) {
		if ev != EventNone {
			evs = append(evs, ev)
		}
		if wanted < 0 && d.WantsEchoAudio() {
			wanted = now
		}
		if learnt < 0 && d.EchoCancelledDB() >= 15 {
			learnt = now
		}
	})
	t.Logf("asked for the agent's audio at %v, 15 dB cancelled at %v; ERLE %.1f dB, loss %.1f dB, events %v",
		wanted, learnt, d.EchoCancelledDB(), d.EchoLossDB(), evs)
	if wanted < 0 || wanted > 500*time.Millisecond {
		t.Errorf("the detector asked for the agent's audio at %v, want within 500ms", wanted)
	}
	if learnt < 0 || learnt > 3*time.Second {
		t.Errorf("the canceller took 15 dB of the echo away at %v, want within 3s", learnt)
	}
	// The echo's strongest lag: the delay plus the response's peak.
	h := path.response()
	peak := c.samplesIn(path.delay)
	for k := range h {
		if math.Abs(h[k]) > math.Abs(h[peak-c.samplesIn(path.delay)]) {
			peak = c.samplesIn(path.delay) + k
		}
	}
	if got := d.canceller.peak; got < peak-1 || got > peak+1 {
		t.Errorf("the canceller found the echo %d samples late, want %d, give or take one", got, peak)
	}
	if loss := d.EchoLossDB(); loss < 22 || loss > 28 {
		t.Errorf("echo return loss %.1f dB, want about the line's 25 dB", loss)
	}
	if len(evs) > 0 {
		t.Errorf("the agent's echo alone caused %v", evs)
	}
}

// TestNoEchoCancellerWithoutALoudEcho: on a line whose echo is 40 dB down
// (the residue of a network echo canceller) or that sends none back, the
// detector never asks for the agent's audio, and builds no canceller.
func TestNoEchoCancellerWithoutALoudEcho(t *testing.T) {
	c := loadBargeInCorpus(t)
	for _, line := range []echoLine{
		{db: -40, reference: true},
		{db: -40, reference: true, hybrid: &hybridPaths[0], lead: 8 * time.Second},
		{db: -120, reference: true, hybrid: &hybridPaths[0], lead: 8 * time.Second},
	} {
		d, err := New(cancelConfig(), c.rate)
		if err != nil {
			t.Fatal(err)
		}
		asked := false
		c.lineCall(t, d, nil, line, func(time.Duration, Event) { asked = asked || d.WantsEchoAudio() })
		if asked || d.canceller != nil {
			t.Errorf("echo at %v dB (hybrid %v): the detector asked for the agent's audio", line.db, line.hybrid != nil)
		}
	}
}

// TestTheEchoCancellerDoesNotLearnTheCaller: a caller talking over the
// agent on the hybrid line leaves the filter that cancels exactly as it
// was (only the background filter learns, and it is not taken up while
// the frame is louder than the echo can be), and is heard: BargeIn.
func TestTheEchoCancellerDoesNotLearnTheCaller(t *testing.T) {
	c := loadBargeInCorpus(t)
	i := slices.IndexFunc(c.Clips, func(cl *bargeInClip) bool { return cl.Kind == kindInterruption })
	clip := c.Clips[i]
	line := echoLine{db: -25, reference: true, hybrid: &hybridPaths[0], lead: hybridLead}
	d, err := New(cancelConfig(), c.rate)
	if err != nil {
		t.Fatal(err)
	}
	onset, offset := line.leadTime()+clip.onset(), line.leadTime()+clip.offset()
	var before []float32
	var erle float64
	bargedIn := false
	c.lineCall(t, d, clip, line, func(now time.Duration, ev Event) {
		bargedIn = bargedIn || ev == EventBargeIn
		switch {
		case now <= onset:
			if d.canceller != nil {
				before, erle = slices.Clone(d.canceller.w), d.EchoCancelledDB()
			}
		case now <= offset:
			if !slices.Equal(d.canceller.w, before) || d.EchoCancelledDB() != erle {
				t.Fatalf("at %v, %v into %s, the canceller learnt from the caller", now, now-onset, clip.File)
			}
		}
	})
	if !bargedIn {
		t.Errorf("%s over the agent did not barge in", clip.File)
	}
}

// TestEchoCancellerAcrossPaths plays the corpus over five echo paths
// (hybridPaths: delays from 13 to 377 ms, responses from 0.4 to 2.4 kHz)
// at -25 and -30 dB, with and without the canceller, logs the figures
// (go test -run AcrossPaths -v ./media/vad/) and holds the totals to
// those measured on 2026-12-07 (docs/BARGE-IN.md, "An echo canceller").
func TestEchoCancellerAcrossPaths(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("plays the corpus 20 times; make test runs it without -race")
	}
	c := loadBargeInCorpus(t)
	off := DefaultConfig()
	off.EchoCancel = false
	type totals struct{ noise, echoOnly, detected int }
	var on, without totals
	var b strings.Builder
	for i := range hybridPaths {
		p := &hybridPaths[i]
		for _, db := range []float64{-25, -30} {
			line := echoLine{db: db, reference: true, hybrid: p, lead: hybridLead}
			f, g := c.evaluate(t, cancelConfig(), line), c.evaluate(t, off, line)
			on = totals{on.noise + f.NonSpeechFalse, on.echoOnly + f.EchoOnlyBargeIns, on.detected + f.Detected}
			without = totals{without.noise + g.NonSpeechFalse, without.echoOnly + g.EchoOnlyBargeIns, without.detected + g.Detected}
			b.WriteString(strings.Join([]string{
				p.delay.String(), fmtF(p.freq), fmtF(db),
				pair(f.NonSpeechFalse, g.NonSpeechFalse), pair(f.EchoOnlyBargeIns, g.EchoOnlyBargeIns),
				pair(f.Detected, g.Detected), f.InterruptP50.String() + " / " + g.InterruptP50.String(),
			}, " | ") + "\n")
		}
	}
	t.Logf("delay | response (cycles/sample) | echo dB | false barge-ins on noise, with / without | on the echo alone | interruptions detected of 24 | barge-in p50\n%s"+
		"totals with the canceller %+v, without %+v", b.String(), on, without)
	if on.noise > 0 || on.echoOnly > 0 || on.detected < 240 {
		t.Errorf("with the canceller: %+v, want no noise and nothing on the echo alone barging in, every interruption heard", on)
	}
	if on.noise >= without.noise || on.detected < without.detected {
		t.Errorf("the canceller does no better: %+v with, %+v without", on, without)
	}
}

// TestALoudLineAcrossPaths plays the corpus over the five echo paths at
// -15 dB: an echo louder than the gate may ever rise (19 dB under the
// agent). The agent's echo starts an utterance as the agent starts
// talking; the detector takes it for the line's echo (suspectLoudLine):
// the utterance reports NotSpeech at once and never barges in, and the
// canceller learns the line during it. It logs, per path (go test -run
// LoudLine -v ./media/vad/), the scenes whose agent the echo cut off
// before the caller made a sound, and what follows from the caller's sound
// on (5 s into the agent's audio). It holds the totals to those measured
// on 2026-12-07 (docs/BARGE-IN.md, "A line louder than the gate" and "The
// loud line's first words"): the echo cuts no scene off (it cut all 185
// before the echo's utterance was held), no noise barges in, 100 or more
// of the 120 interruptions are heard. Before the canceller learnt during
// utterances, none was: the echo's utterance went on for as long as the
// agent talked.
func TestALoudLineAcrossPaths(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("plays the corpus 10 times; make test runs it without -race")
	}
	c := loadBargeInCorpus(t)
	off := DefaultConfig()
	off.EchoCancel = false
	var b strings.Builder
	var cut, noise, detected, cutOff, noiseOff, detectedOff int
	for i := range hybridPaths {
		p := &hybridPaths[i]
		line := echoLine{db: -15, reference: true, hybrid: p, lead: hybridLead}
		f, g := c.afterTheLead(t, cancelConfig(), line), c.afterTheLead(t, off, line)
		cut, noise, detected = cut+f.cut, noise+f.noise, detected+f.detected
		cutOff, noiseOff, detectedOff = cutOff+g.cut, noiseOff+g.noise, detectedOff+g.detected
		b.WriteString(strings.Join([]string{p.delay.String(), fmtF(p.freq), pair(f.cut, g.cut), pair(f.noise, g.noise), pair(f.detected, g.detected),
			f.p50.String() + " / " + g.p50.String()}, " | ") + "\n")
	}
	t.Logf("delay | response (cycles/sample) | scenes the echo cut off, with / without the canceller | noises barging in | interruptions detected of 24 | barge-in p50\n%s"+
		"totals with the canceller: %d scenes of 185 cut, %d noises of 65, %d interruptions of 120; without: %d, %d, %d",
		b.String(), cut, noise, detected, cutOff, noiseOff, detectedOff)
	if cut > 0 || noise > 0 || detected < 100 {
		t.Errorf("on a line 15 dB down: the echo cut %d scenes off, %d noises barged in and %d of 120 interruptions were heard, want none, none and 100 or more",
			cut, noise, detected)
	}
}

// TestALineTwentyDBDown plays the corpus over the five echo paths at -20
// dB, where the agent's echo sits at the gate's floor (19 dB under the
// agent) until the canceller has learnt it. What the canceller then leaves
// of the agent's voice may start an utterance of its own; it is voiced
// speech, but not the caller's, and a noise that follows in the same
// utterance must not barge in as if the caller went on speaking (13 of 65
// noises did, all on the 61 ms path, before such a run was told apart:
// docs/BARGE-IN.md, "What the canceller leaves"). It holds what was
// measured on 2026-12-07: the echo cuts nothing off, at most one noise
// barges in, every interruption is heard.
func TestALineTwentyDBDown(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("plays the corpus 5 times; make test runs it without -race")
	}
	c := loadBargeInCorpus(t)
	var b strings.Builder
	var cut, noise, detected int
	for i := range hybridPaths {
		p := &hybridPaths[i]
		f := c.afterTheLead(t, cancelConfig(), echoLine{db: -20, reference: true, hybrid: p, lead: hybridLead})
		cut, noise, detected = cut+f.cut, noise+f.noise, detected+f.detected
		b.WriteString(strings.Join([]string{p.delay.String(), strconv.Itoa(f.cut), strconv.Itoa(f.noise), strconv.Itoa(f.detected), f.p50.String()}, " | ") + "\n")
	}
	t.Logf("delay | scenes the echo cut off | noises barging in | interruptions detected of 24 | barge-in p50\n%s"+
		"totals: %d scenes of 185 cut, %d noises of 65, %d interruptions of 120", b.String(), cut, noise, detected)
	if cut > 0 || noise > 1 || detected < 120 {
		t.Errorf("on a line 20 dB down: the echo cut %d scenes off, %d noises barged in and %d of 120 interruptions were heard, want none, at most one and all",
			cut, noise, detected)
	}
}

// afterTheLead counts, over the corpus's noises and interruptions on line,
// the scenes the agent's echo cut off before the caller made a sound (a
// barge-in before the clip's start), the noises that barged in at or
// after their start, and the interruptions heard while they were said,
// with their p50 latency.
func (c *bargeInCorpus) afterTheLead(tb testing.TB, cfg Config, line echoLine) (f struct {
	cut, noise, detected int
	p50                  time.Duration
}) {
	tb.Helper()
	var latencies []time.Duration
	for _, clip := range c.Clips {
		if clip.Kind != kindNonSpeech && clip.Kind != kindInterruption {
			continue
		}
		r := c.play(tb, cfg, clip, line)
		if len(r.bargeIns) > 0 && r.bargeIns[0] < 0 {
			f.cut++
		}
		i := slices.IndexFunc(r.bargeIns, func(d time.Duration) bool { return d >= 0 })
		switch {
		case i < 0:
		case clip.Kind == kindNonSpeech:
			f.noise++
		case r.bargeIns[i] <= clip.offset()-clip.onset():
			f.detected++
			latencies = append(latencies, r.bargeIns[i])
		}
	}
	f.p50 = percentile(latencies, 50)
	return f
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func pair(a, b int) string { return strconv.Itoa(a) + " / " + strconv.Itoa(b) }

// TestCancellingDoesNotAllocate: once the canceller is built and has
// learnt the line, a frame with the agent's audio costs no allocation.
func TestCancellingDoesNotAllocate(t *testing.T) {
	d, frames, refs := cancellingDetector(t)
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		d.SetEchoReference(-10)
		d.SetEchoAudio(refs[i%len(refs)])
		d.Process(frames[i%len(frames)])
		i++
	})
	if allocs != 0 {
		t.Errorf("a frame with the canceller allocates %v times, want 0", allocs)
	}
}

// BenchmarkProcessCancelling is BenchmarkProcessOverTheAgent on a line
// whose echo the canceller works on: the agent's echo alone, so that
// every frame both cancels and learns (the dearest case).
func BenchmarkProcessCancelling(b *testing.B) {
	d, frames, refs := cancellingDetector(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.SetEchoReference(-10)
		d.SetEchoAudio(refs[i%len(refs)])
		d.Process(frames[i%len(frames)])
		i++
	}
}

// BenchmarkProcessRealigning is the first second of each of the agent's
// turns on the same line: the canceller looks for where the far end put
// the turn's echo (up to 50 frames of correlation instead of cancelling)
// and then cancels. ns/frame compares with BenchmarkProcessCancelling.
func BenchmarkProcessRealigning(b *testing.B) {
	d, frames, refs := cancellingDetector(b)
	const turn = 50 // frames: 1 s
	b.ReportAllocs()
	for b.Loop() {
		d.SetEchoReference(media.NoLevelDB) // the agent falls silent
		for i := range turn {
			d.SetEchoReference(-10) // and talks again: the first restarts the canceller
			d.SetEchoAudio(refs[i%len(refs)])
			d.Process(frames[i%len(frames)])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*turn), "ns/frame")
}

// cancellingDetector returns a detector that has learnt the hybrid line
// from 5 s of the agent's echo, and the next 4 s of it and of the agent's
// audio, in frames.
func cancellingDetector(tb testing.TB) (*Detector, [][]int16, [][]int16) {
	tb.Helper()
	c := loadBargeInCorpus(tb)
	line := echoLine{db: -25, reference: true, hybrid: &hybridPaths[0], lead: hybridLead}
	scene, frame := c.scene(nil, line), c.rate/50
	d, err := New(cancelConfig(), c.rate)
	if err != nil {
		tb.Fatal(err)
	}
	// The first 5 s of the same line (a scene of the echo alone is its
	// lead and echoControl), then the rest as frames.
	warm := line
	warm.lead = hybridLead - echoControl
	c.lineCall(tb, d, nil, warm, func(time.Duration, Event) {})
	lead := c.samplesIn(hybridLead)
	if !d.WantsEchoAudio() || !d.canceller.ready {
		tb.Fatal("the canceller has not learnt the line")
	}
	var frames, refs [][]int16
	sent := make([]byte, frame)
	for i := lead; i+frame <= len(scene); i += frame {
		agent := make([]int16, frame)
		for j := range agent {
			agent[j] = c.agent[(i+j)%len(c.agent)]
		}
		media.DecodeULawTo(agent, sent[:media.EncodeULawTo(sent, agent)])
		frames, refs = append(frames, scene[i:i+frame]), append(refs, agent)
	}
	return d, frames, refs
}

// turnOffsets are how far from where the playout places it the far end
// starts each of the agent's turns, in samples at 8 kHz: a far end plays
// a talkspurt from its next tick or its jitter buffer's next slot, which
// no sender knows (0 to 20 ms with callsim; a real network's adaptive
// jitter buffer moves it between talkspurts too).
var turnOffsets = []int{0, 37, 151, 12, -40, 96, 160, 3, 77, -8}

// TestTheEchoCancellerFollowsEachTurn plays an agent that talks in turns
// (2.5 s each, 1.5 s apart, the caller silent) over the hybrid line, with
// the far end starting each turn a little off where the playout placed it
// (turnOffsets): the echo moves under the filter by up to 25 ms between
// turns. Nothing in the echo may start an utterance, and the canceller
// takes 8 dB or more of it away over the last second of every turn after
// the first (the echo against what the canceller left of it; a canceller
// left where the first turn put it adds echo on the second, -4.8 dB, and
// is dropped by the fourth).
func TestTheEchoCancellerFollowsEachTurn(t *testing.T) {
	c := loadBargeInCorpus(t)
	path := &hybridPaths[0]
	frame := c.rate / 50
	talk, gap, tail := c.samplesIn(2500*time.Millisecond), c.samplesIn(1500*time.Millisecond), c.samplesIn(500*time.Millisecond)
	turn := talk + gap
	n := len(turnOffsets)*turn + gap
	// sent is the agent's audio where the playout placed it; played is
	// where the far end played it.
	sent, played := make([]int16, n), make([]int16, n)
	for k, off := range turnOffsets {
		start := gap + k*turn
		for j := range talk {
			v := c.agent[(k*talk+j)%len(c.agent)]
			sent[start+j] = v
			if i := start + off + j; i >= 0 && i < n {
				played[i] = v
			}
		}
	}
	b := make([]byte, n)
	media.DecodeULawTo(sent, b[:media.EncodeULawTo(b, sent)])
	media.DecodeULawTo(played, b[:media.EncodeULawTo(b, played)])
	echo := c.echoOver(path, played, math.Pow(10, -25.0/20))
	r := rand.New(rand.NewPCG(3, 7))
	mic := make([]int16, n)
	for i := range mic {
		v := echo[i] + float64(r.IntN(2*lineNoise+1)-lineNoise)
		mic[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(v))))
	}
	media.DecodeULawTo(mic, b[:media.EncodeULawTo(b, mic)])

	d, err := New(cancelConfig(), c.rate)
	if err != nil {
		t.Fatal(err)
	}
	loudest := float64(media.NoLevelDB)
	var evs []timedEvent
	erle := make([]float64, len(turnOffsets))
	var in, left float64
	for i := 0; i+frame <= n; i += frame {
		k := max(0, (i-gap)/turn)
		inTurn := i >= gap && (i-gap)%turn < talk+tail
		if inTurn {
			if (i-gap)%turn < talk {
				loudest = max(loudest, media.LoudestFrameDB(b[:media.EncodeULawTo(b, sent[i:i+frame])], media.EncodingPCMU, frame))
			}
			d.SetEchoReference(loudest)
		} else {
			d.SetEchoReference(media.NoLevelDB)
		}
		if d.WantsEchoAudio() {
			d.SetEchoAudio(sent[i : i+frame])
		}
		if ev := d.Process(mic[i : i+frame]); ev != EventNone {
			evs = append(evs, timedEvent{ev, time.Duration(i+frame) * time.Second / time.Duration(c.rate)})
		}
		if at := (i - gap) % turn; i >= gap && at >= talk-c.samplesIn(time.Second) && at < talk {
			out := mic[i : i+frame]
			if d.canceller != nil && d.canceller.ready {
				out = d.canceller.out
			}
			// What is left of the echo is what the canceller left less
			// the line's noise: out - (mic - echo).
			for j, v := range mic[i : i+frame] {
				e := echo[i+j]
				r := float64(out[j]) - float64(v) + e
				in += e * e
				left += r * r
			}
			if at == talk-frame {
				erle[k] = 10 * math.Log10(in/left)
				in, left = 0, 0
			}
		}
	}
	t.Logf("ERLE at the end of each turn: %.1f dB; events: %v", erle, evs)
	if len(evs) > 0 {
		t.Errorf("the agent's echo alone caused %v", evs)
	}
	for k, e := range erle[1:] {
		if e < 8 {
			t.Errorf("turn %d (the far end %d samples off): %.1f dB of the echo taken away over its last second, want 8 dB or more", k+1, turnOffsets[k+1], e)
		}
	}
}

// TestAnInterruptionOverTheStartOfAReply plays the corpus's interruptions
// 100 and 300 ms into the agent's audio, on a line with no echo, one 40 dB
// down and the hybrid 25 dB down: over the agent's first words on the
// call (the greeting) and over the first words of a later turn. A sound
// that starts over the greeting's first words, 10 dB or more under the
// agent, is taken for a loud line's echo (heldEcho), so a quiet caller
// talking over the greeting is not heard for the first few seconds; the
// test holds that cost to what was measured on 2026-12-07 (13 to 17 of 24
// heard, docs/BARGE-IN.md, "The loud line's first words"). Over a later
// turn every interruption is heard, as before.
func TestAnInterruptionOverTheStartOfAReply(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("plays the corpus 12 times; make test runs it without -race")
	}
	c := loadBargeInCorpus(t)
	var b strings.Builder
	for _, lead := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
		for _, line := range []echoLine{
			{db: noEcho, reference: true, lead: lead},
			{db: -40, reference: true, lead: lead},
			{db: -25, reference: true, hybrid: &hybridPaths[0], lead: lead},
		} {
			greeting, later := c.heardOverTheStart(t, line, false), c.heardOverTheStart(t, line, true)
			b.WriteString(strings.Join([]string{lead.String(), fmtF(line.db), strconv.FormatBool(line.hybrid != nil),
				strconv.Itoa(greeting), strconv.Itoa(later)}, " | ") + "\n")
			if greeting < 13 || later < 24 {
				t.Errorf("%v into the agent's audio, echo %v dB (hybrid %v): %d of 24 interruptions heard over the greeting, %d over a later turn; want 13 or more, and 24",
					lead, line.db, line.hybrid != nil, greeting, later)
			}
		}
	}
	t.Logf("into the agent's audio | echo (dB) | hybrid | heard of 24 over the greeting | over a later turn\n%s", b.String())
}

// heardOverTheStart counts the interruptions heard (BargeIn while they
// are said) on line, of the clips given or else of the corpus's; with
// later, the detector has first heard a turn of the agent (2 s, on a line
// sending nothing back) and a second of its silence.
func (c *bargeInCorpus) heardOverTheStart(tb testing.TB, line echoLine, later bool, clips ...*bargeInClip) int {
	tb.Helper()
	frame := c.rate / 50
	quiet := make([]int16, frame)
	heard := 0
	if len(clips) == 0 {
		clips = c.Clips
	}
	for _, clip := range clips {
		if clip.Kind != kindInterruption {
			continue
		}
		d, err := New(cancelConfig(), c.rate)
		if err != nil {
			tb.Fatal(err)
		}
		for i := 0; later && i < 150; i++ {
			level := -12.0 // the agent's earlier turn, 2 s ...
			if i >= 100 {
				level = noEchoDB // ... and a second of its silence
			}
			d.SetEchoReference(level)
			d.Process(quiet)
		}
		zero := line.leadTime() + clip.onset()
		for _, e := range c.runWithReference(d, c.scene(clip, line), frame) {
			if e.Event == EventBargeIn {
				if at := e.at - zero; at >= 0 && at <= clip.offset()-clip.onset() {
					heard++
				}
				break
			}
		}
	}
	return heard
}

// TestACallerTalkingOnOverTheGreetingIsHeard: a caller who starts talking
// over the greeting's first words, 10 dB or more under the agent, on a line
// that sends nothing back, is taken for a loud line's echo (heldEcho): the
// agent goes on (NotSpeech at once). If the caller goes on talking, the
// canceller finds no echo to take away, and once loudPinFor has passed
// the caller's speech barges in, within a second after that.
func TestACallerTalkingOnOverTheGreetingIsHeard(t *testing.T) {
	c := loadBargeInCorpus(t)
	line := echoLine{db: noEcho, reference: true, lead: 100 * time.Millisecond}
	var held []*bargeInClip
	for _, clip := range c.Clips {
		if clip.Kind == kindInterruption && c.heardOverTheStart(t, line, false, clip) == 0 {
			held = append(held, clip)
		}
	}
	if len(held) == 0 {
		t.Fatal("no interruption of the corpus is held over the greeting's first words")
	}
	// The held callers one after another, as one caller talking on for 6 s.
	long := &bargeInClip{Kind: kindInterruption, File: "held callers", OnsetMS: held[0].OnsetMS}
	for i := 0; len(long.samples) < c.samplesIn(6*time.Second); i++ {
		long.samples = append(long.samples, held[i%len(held)].samples...)
	}
	long.OffsetMS = len(long.samples) * 1000 / c.rate
	d, err := New(cancelConfig(), c.rate)
	if err != nil {
		t.Fatal(err)
	}
	evs := c.runWithReference(d, c.scene(long, line), c.rate/50)
	zero := line.leadTime() + long.onset()
	if len(evs) < 2 || evs[0].Event != EventSpeechStart || evs[1].Event != EventNotSpeech || evs[1].at-evs[0].at > 20*time.Millisecond {
		t.Fatalf("events %v: want SpeechStart, then NotSpeech on the next frame", evs)
	}
	i := slices.IndexFunc(evs, func(e timedEvent) bool { return e.Event == EventBargeIn })
	if i < 0 {
		t.Fatalf("the caller talked for %v over the agent and never barged in: %v", long.offset()-long.onset(), evs)
	}
	if at := evs[i].at - zero; at < loudPinFor-time.Second || at > loudPinFor+time.Second {
		t.Errorf("the caller barged in %v after starting to talk, want %v to %v", at, loudPinFor-time.Second, loudPinFor+time.Second)
	}
	t.Logf("%d of the corpus's interruptions are held over the greeting's first words; talking on, the caller barged in %v after starting: %v",
		len(held), evs[i].at-zero, evs)
}
