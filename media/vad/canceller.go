package vad

import "math"

// An echoCanceller takes the agent's echo out of the caller's audio on a
// line that sends it back loud (no echo canceller in the network), so that
// the detector hears the caller and not the agent: a cough or a knock over
// the agent's echo then carries no pitch of its own, and is not taken for a
// voice (docs/BARGE-IN.md, "An echo canceller").
//
// It is the textbook line echo canceller: the echo is the agent's audio
// delayed and filtered by the line (its 2-4 wire hybrid), so an adaptive
// FIR filter fed the agent's audio learns that path and its output is
// subtracted from what the caller's side sends. Two parts:
//
//   - The bulk delay (the return path, up to maxEchoDelayMS) is found first,
//     cheaply: the log energies of 2.5 ms blocks of the caller's audio are
//     cross-correlated with those of the agent's over every lag, and the
//     peak is the delay. A filter as long as the delay would cost a call
//     ~4,000 multiply-adds a sample.
//   - A normalized LMS filter of cancelTapsMS (12 ms) around that delay
//     learns the hybrid's response, sample by sample, as a background
//     filter whose weights the foreground (which cancels) takes when they
//     do better.
//
// The far end starts each of the agent's turns where its own clock and
// jitter buffer put it, a few ms off where the playout placed the turn, so
// the echo moves under the filter between turns; a filter a few samples
// off adds echo rather than taking it away. At each turn the canceller
// stops cancelling until it has found, from the turn's first echo, how far
// the echo moved (up to realignMS either way), and moves the filter by
// that, keeping what it learnt of the line.
//
// Both learn only from frames that cannot be the caller (the detector's
// own verdict: no utterance going on, the frame held back as echo or
// under the threshold); a caller talking would otherwise be learnt as
// echo. On a line whose echo is louder than the gate may rise (the
// detector's loudLine) the echo itself starts utterances, and there they
// also learn from frames at least 6 dB under the agent's level, as line
// echo cancellers decide double talk (the Geigel test). It is built only on a line that has been heard to send a loud echo
// back (Detector.WantsEchoAudio), with Config.EchoCancel (on by default),
// and costs such a call about 30 µs a 20 ms frame while the agent talks.
type echoCanceller struct {
	block    int // samples per delay-estimation block (2.5 ms)
	taps     int
	maxFrame int // the longest frame it takes, in samples

	// ref is the agent's audio as the far end played it, a ring written
	// twice (at i and i+len/2) so that any window of up to len/2 samples
	// is contiguous; pos is the timeline position of the next sample, the
	// same timeline as the caller's audio: ref sample t played while the
	// caller's sample t was heard.
	ref  []float32
	mask int
	pos  int

	// Delay estimation: log energies of the agent's blocks (a ring of
	// lags), the caller's block in progress, slow means, and the
	// correlation per lag.
	env            []float64 // the agent's block log energies, ring of len(corr)
	envAt          int
	micAcc, refAcc float64
	blockFill      int
	filled         int // blocks in env since the agent started talking, up to len(env)
	micMean        float64
	refMean        float64
	corr           []float64
	learnt         int // blocks learnt from
	lag            int // the delay, in blocks; -1 until found

	// The refinement of the delay (refine), sample by sample.
	xc      []float32
	refined int // frames added to xc
	ready   bool
	// realign says the refinement under way follows the echo where a new
	// turn of the agent's put it (restart): the filter is kept and moved.
	realign bool
	turnAt  int // pos when the agent's turn started (restart)
	// wb is the background filter, which learns; better counts the
	// frames in a row it has done better than w.
	wb     []float32
	better int
	// trialIn and trialOut are the energy of the caller's side and of the
	// background's residual over those frames; erle is their ratio, in
	// dB, when the foreground last took the background's weights: what
	// the foreground takes away of the echo.
	trialIn, trialOut float64
	erle              float64
	erleMax           float64 // the most erle has been
	// echoLike says the last frame was no louder than the line's echo of
	// what was played at the echo's delay (by echoLikeGain), and its
	// noise: it may be echo alone.
	echoLike bool
	noise    float64 // the line noise's mean square, as the detector's floor has it

	// echoGain is the line's echo return loss, as a ratio of energies,
	// learnt before the canceller was built.
	echoGain float64
	peak     int // the strongest delay of the echo, in samples

	w     []float32 // the filter, oldest reference sample first
	start int       // samples between the newest reference sample the filter reads and the caller's sample
	out   []int16   // the residual of the last frame
	// spread is the mean square of the residual on frames learnt from,
	// which bounds the error a step takes (clipSigmas).
	spread float64
}

const (
	// maxEchoDelayMS is the longest return path looked for, in ms, from
	// when the far end plays the agent's audio (as the playout estimates
	// it) to when its echo arrives: the far end's jitter buffer, the
	// caller's network back, the hybrid.
	maxEchoDelayMS = 400
	// maxCancelFrameMS is the longest frame the canceller takes (the
	// session's are 20 ms); a longer one is judged as it came.
	maxCancelFrameMS = 40
	// echoBlockHz sets the delay's resolution: 2.5 ms blocks.
	echoBlockHz = 400
	// cancelTapsMS is the filter's span: a hybrid's response lasts a few
	// ms; the window starts a quarter of it before the strongest lag.
	cancelTapsMS = 12
	// refineBlocks is how far either side of the blocks' delay the
	// refinement looks, refineFrames how many frames of the agent's echo
	// it takes at least (0.4 s) and refineMaxFrames at most (1.2 s).
	refineBlocks    = 8
	refineFrames    = 20
	refineMaxFrames = 60
	// At each of the agent's turns the far end may start playing a little
	// off where the playout placed the turn (its next tick, its jitter
	// buffer's next slot): the echo moves under the filter. realignMS is
	// how far either way the filter is looked for again, from
	// realignFrames of the turn's echo (0.2 s).
	realignMS        = 25
	realignFrames    = 10
	realignMaxFrames = 50
	// delayDoubt: a refinement or realignment goes on, realignFrames at a
	// time, while a delay a block or more from the best correlates within
	// this ratio of it (a voice held on one pitch correlates almost as
	// well a pitch period away).
	delayDoubt = 0.9
	// A background filter learns on every frame of echo heard with the
	// caller silent; the foreground filter, which cancels, takes its
	// weights when they have left copyGain less residual for copyAfter
	// frames in a row. A sound the detector took for line noise (hum, a
	// keyboard under the threshold) throws the background filter off,
	// never the foreground; one thrown off so far that it leaves
	// divergeGain more than the echo itself starts again from the
	// foreground.
	copyGain    = 0.8
	copyAfter   = 3
	divergeGain = 2
	// echoLikeGain is how much louder than the line's echo (6 dB) a frame
	// may be and still be taken for echo alone.
	echoLikeGain = 4
	// erleRiseDB is how far the ERLE kept may rise on one measurement.
	erleRiseDB = 3
	// maxERLE bounds the ERLE measured: echo under the line noise cannot
	// be measured, nor heard.
	maxERLE = 40
	// cancelStep is the NLMS step size (0 to 2; 1 converges fastest on
	// white noise, less is steadier on speech).
	cancelStep = 0.5
	// delayBlocksNeeded is the agent's audio (in blocks where it is
	// audible and the caller silent) the delay is found from: 0.6 s.
	delayBlocksNeeded = echoBlockHz * 6 / 10
	// envMeanRate is the weight of a block in the energies' slow means.
	envMeanRate = 0.005
	// corrDecay forgets old correlation: about 5 s of blocks.
	corrDecay = 1.0 / 2000
	// clipSigmas bounds the error an NLMS step takes, in standard
	// deviations of the recent residual; spreadRate is the weight of a
	// frame in that spread, and minSpread its floor (line noise, -65 dBFS).
	clipSigmas = 3
	// regAmp regularizes the step (NLMS's delta): the agent's audio in the
	// filter's window counts as at least this loud (-48 dBFS) an average
	// sample, so that line noise under a quiet stretch of it does not
	// throw the filter off, and nothing is learnt from quieter stretches.
	regAmp     = 128
	spreadRate = 0.1
	minSpread  = 400
)

func newEchoCanceller(rate int, lossDB float64) *echoCanceller {
	block := rate / echoBlockHz
	lags := maxEchoDelayMS*echoBlockHz/1000 + 1
	taps := cancelTapsMS * rate / 1000
	maxFrame := maxCancelFrameMS * rate / 1000
	shift := realignMS * rate / 1000
	span := lags*block + taps + maxFrame // the delay, the filter, a frame
	n := 1
	for n < span {
		n <<= 1
	}
	c := &echoCanceller{
		block: block, taps: taps, maxFrame: maxFrame,
		ref: make([]float32, 2*n), mask: n - 1,
		env: make([]float64, lags), corr: make([]float64, lags),
		xc:  make([]float32, max(2*refineBlocks*block+1, taps+2*shift)),
		lag: -1, w: make([]float32, taps), wb: make([]float32, taps),
		spread: 1e6, echoGain: math.Pow(10, -lossDB/10),
	}
	c.restart()
	return c
}

// feed writes the agent's audio played during the next frame from its
// sample from on: ref, then zeros up to n samples.
func (c *echoCanceller) feed(ref []int16, from, n int) {
	half := c.mask + 1
	for i := from; i < n; i++ {
		var v float32
		if i-from < len(ref) {
			v = float32(ref[i-from])
		}
		at := (c.pos + i) & c.mask
		c.ref[at], c.ref[at+half] = v, v
	}
}

// restart forgets the agent's audio when it starts talking again after a
// silence the canceller did not follow; what the filter and the delay
// estimate learnt of the line stays, and a filter that was learnt is
// looked for again around where it was (realign): the far end may start
// the turn a few ms off where the playout placed it, and a filter a few
// samples off adds echo instead of taking it away.
func (c *echoCanceller) restart() {
	clear(c.ref)
	c.micAcc, c.refAcc, c.blockFill, c.filled = 0, 0, 0, 0
	c.turnAt = c.pos
	if c.ready || c.realign {
		c.ready, c.realign, c.refined = false, true, 0
		c.better, c.trialIn, c.trialOut = 0, 0, 0
		clear(c.xc)
	}
}

// cancel returns frame with the echo estimate taken out. feed must have
// given the agent's audio of the same frame. With quiet (the frame before
// was judged echo or line noise, and no utterance is going on) the frame
// counts for the ERLE, and while the filter learns (adaptFrames) it also
// takes one NLMS step a sample; the error it steps by is clipped to
// clipSigmas of its recent spread, so that a sound starting within the
// frame (a caller's first syllable, a knock) barely moves it.
func (c *echoCanceller) cancel(frame []int16, quiet bool) []int16 {
	if cap(c.out) < len(frame) {
		c.out = make([]int16, len(frame))
	}
	out := c.out[:len(frame)]
	if !c.ready {
		copy(out, frame)
		return out
	}
	half := c.mask + 1
	reg := float32(c.taps) * regAmp * regAmp
	var in, left, trial float64 // energy of the frame, the foreground's residual, the background's
	var played float64          // energy of the agent's audio at the echo's delay
	at := c.taps - 1 - (c.peak - c.start)
	var p float32 // the energy of the filter's window, kept as it slides
	if quiet {
		end := (c.pos-1-c.start)&c.mask + half + 1
		x := c.ref[end-c.taps : end]
		p = dot(x, x)
	}
	for i, v := range frame {
		// The window ends c.start samples before the caller's sample.
		end := (c.pos+i-c.start)&c.mask + half + 1
		x := c.ref[end-c.taps : end]
		e := float32(v) - dot(c.w, x)
		out[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(float64(e)))))
		in += float64(v) * float64(v)
		played += float64(x[at]) * float64(x[at])
		if !quiet {
			continue
		}
		left += float64(e) * float64(e)
		// The background filter learns; the foreground (w) only takes
		// its weights once they have done better for a while.
		eb := float32(v) - dot(c.wb, x)
		trial += float64(eb) * float64(eb)
		gone := c.ref[end-c.taps-1] // the sample that left the window
		p = max(0, p+x[c.taps-1]*x[c.taps-1]-gone*gone)
		if p < reg { // the agent is (nearly) silent here: nothing to learn
			continue
		}
		lim := float32(clipSigmas * math.Sqrt(c.spread))
		axpy(c.wb, x, cancelStep*max(-lim, min(lim, eb))/(p+reg))
	}
	// A frame louder than the line's echo of what was played (and its
	// noise) holds another sound: the caller's, a noise.
	n := float64(len(frame))
	c.echoLike = in <= echoLikeGain*(c.echoGain*played+n*minSpread)
	if !quiet {
		return out
	}
	c.spread = max(minSpread, c.spread+spreadRate*(trial/n-c.spread))
	// Only a frame of echo can show the background to be better: one with
	// another sound in it (hum, music) may only show it fitting the
	// agent's audio to that sound.
	switch {
	case c.echoLike && trial < copyGain*left && trial < in:
		// The ERLE is the echo's, not the line noise's, which no
		// canceller takes away: the noise is taken out of both.
		noise := n * c.noise
		c.trialIn += max(0, in-noise)
		c.trialOut += max(0, trial-noise)
		if c.better++; c.better >= copyAfter {
			copy(c.w, c.wb)
			// The ERLE measured varies from one stretch of speech to the
			// next; the one kept falls to a lower one at once and rises
			// by erleRiseDB a copy, so that it stays near the least.
			m := min(maxERLE, 10*math.Log10(c.trialIn/max(c.trialOut, c.trialIn*math.Pow(10, -maxERLE/10), 1)))
			c.erle = min(m, c.erle+erleRiseDB)
			c.erleMax = max(c.erleMax, c.erle)
			c.better, c.trialIn, c.trialOut = 0, 0, 0
		}
	case trial > in*divergeGain && left < in:
		// The background was thrown off (a sound that was not echo):
		// start it again from the foreground.
		copy(c.wb, c.w)
		c.better, c.trialIn, c.trialOut = 0, 0, 0
	default:
		c.better, c.trialIn, c.trialOut = 0, 0, 0
	}
	return out
}

// learn takes the frame cancel was last given, and whether the detector
// judged it echo or line noise, for the delay estimate, and moves the
// timeline on.
func (c *echoCanceller) learn(frame []int16, ok bool) {
	c.estimateDelay(frame, ok)
	if ok && c.lag >= 0 && !c.ready {
		c.refine(frame)
	}
	c.pos += len(frame)
}

// refine cross-correlates the caller's audio with the agent's, sample by
// sample, over refineBlocks either side of the delay the blocks found,
// and once refineFrames have been added and no other lag is close
// (delayDoubt), puts the filter's window around the strongest lag: the
// block energies find the delay to within a few blocks, and the hybrid's
// response is short. While realigning (restart) it looks around the
// filter instead, and moves it (moveFilter).
func (c *echoCanceller) refine(frame []int16) {
	half := c.mask + 1
	lo, n := c.refineSpan()
	xc := c.xc[:n]
	if c.realign {
		// Only frames that carry the echo of the turn count, at every
		// delay looked at: its first frames are heard before its echo
		// comes back.
		if c.pos-c.turnAt < lo+n {
			return
		}
		var e float32
		for i := range frame {
			r := c.ref[(c.pos+i-c.peak)&c.mask+half]
			e += r * r
		}
		if e < float32(len(frame))*regAmp*regAmp {
			return
		}
	}
	for i, v := range frame {
		// The window holds the agent's samples at delays lo+n-1 .. lo,
		// oldest first: xc[j] is the correlation at delay lo+n-1-j.
		end := (c.pos+i-lo)&c.mask + half + 1
		axpy(xc, c.ref[end-n:end], float32(v))
	}
	c.refined++
	if c.realign {
		if c.refined%realignFrames == 0 {
			c.moveFilter(lo, xc)
		}
		return
	}
	if c.refined < refineFrames || c.refined%realignFrames != 0 {
		return
	}
	best := 0
	for j, v := range xc {
		if abs32(v) > abs32(xc[best]) {
			best = j
		}
	}
	// A voice held on one pitch correlates almost as well a pitch period
	// away, and a line whose echo is the agent's audio itself (no
	// hybrid's response to tell the delay by) only so: while that is in
	// doubt, the refinement goes on.
	if c.refined < refineMaxFrames && c.inDoubt(0, len(xc)-1, best, abs32(xc[best]), func(j int) float32 { return abs32(xc[j]) }) {
		return
	}
	peak := lo + n - 1 - best
	c.peak, c.start = peak, max(0, peak-c.taps/4)
	c.ready = true
	clear(c.w)
	clear(c.wb)
}

// refineSpan returns the shortest delay the refinement looks at, in
// samples, and how many it looks at: refineBlocks either side of the
// blocks' delay, or, to realign, the filter's window realignMS either way
// (as far as the agent's audio kept goes).
func (c *echoCanceller) refineSpan() (lo, n int) {
	if !c.realign {
		lo = max(0, (c.lag-refineBlocks)*c.block)
		return lo, (c.lag+refineBlocks)*c.block - lo + 1
	}
	shift := (len(c.xc) - c.taps) / 2
	lo = max(0, c.start-shift)
	hi := min(c.start+c.taps-1+shift, c.mask+1-c.maxFrame-1)
	return lo, hi - lo + 1
}

// moveFilter ends a realignment, unless the echo's place is still in
// doubt: xc holds the correlation of the caller's audio with the agent's
// at delays lo+len(xc)-1 .. lo (refine), and the filter's own echo of the
// agent's audio, moved by s, correlates with the caller's as the sum over
// its taps of w[m] * xc at the tap's delay plus s. That is the echo's
// autocorrelation at the filter's error less s, which is greatest where s
// is the error. A voice held on one pitch correlates almost as well a
// pitch period or two away; while another move (a block, 2.5 ms, or more
// away) scores within delayDoubt of the best, the refinement goes on
// (up to realignMaxFrames), for the voice's pitch moves and its echo's
// place does not. Then the filter moves by the best, and the canceller is
// ready again.
func (c *echoCanceller) moveFilter(lo int, xc []float32) {
	hi := lo + len(xc) - 1
	score := func(s int) float32 {
		var v float32
		for m := range c.taps { // w[taps-1-m] is the tap at delay start+m
			v += c.w[c.taps-1-m] * xc[hi-(c.start+s+m)]
		}
		return v
	}
	first, last := lo-c.start, hi-c.taps+1-c.start
	best, top := 0, float32(0)
	for s := first; s <= last; s++ {
		if v := score(s); v > top {
			best, top = s, v
		}
	}
	if c.refined < realignMaxFrames && c.inDoubt(first, last, best, top, score) {
		return
	}
	c.start += best
	c.peak += best
	copy(c.wb, c.w)
	c.ready, c.realign = true, false
	clear(c.xc)
}

// inDoubt reports whether a candidate of first..last a block (2.5 ms) or
// more from best scores within delayDoubt of best's score, top.
func (c *echoCanceller) inDoubt(first, last, best int, top float32, score func(int) float32) bool {
	for s := first; s <= last; s++ {
		if (s < best-c.block || s > best+c.block) && score(s) > delayDoubt*top {
			return true
		}
	}
	return false
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// estimateDelay adds the frame's blocks to the correlation of the
// caller's block energies with the agent's, if ok, and sets the delay
// once enough is known.
func (c *echoCanceller) estimateDelay(frame []int16, ok bool) {
	half := c.mask + 1
	for i, v := range frame {
		r := c.ref[(c.pos+i)&c.mask+half]
		c.micAcc += float64(v) * float64(v)
		c.refAcc += float64(r) * float64(r)
		c.blockFill++
		if c.blockFill < c.block {
			continue
		}
		m := blockDB(c.micAcc, c.block)
		a := blockDB(c.refAcc, c.block)
		c.micAcc, c.refAcc, c.blockFill = 0, 0, 0
		c.envAt = (c.envAt + 1) % len(c.env)
		c.env[c.envAt] = a
		c.filled = min(c.filled+1, len(c.env))
		if !ok {
			continue
		}
		if c.learnt == 0 {
			c.micMean, c.refMean = m, a
		}
		c.micMean += envMeanRate * (m - c.micMean)
		c.refMean += envMeanRate * (a - c.refMean)
		dm := m - c.micMean
		for k := range c.filled {
			j := c.envAt - k
			if j < 0 {
				j += len(c.env)
			}
			c.corr[k] += corrDecay * (dm*(c.env[j]-c.refMean) - c.corr[k])
		}
		c.learnt++
	}
	if c.learnt < delayBlocksNeeded {
		return
	}
	best := 0
	for k, v := range c.corr {
		if v > c.corr[best] {
			best = k
		}
	}
	if c.corr[best] <= 0 || best == c.lag {
		return
	}
	if c.lag >= 0 && c.corr[best] < 1.2*c.corr[c.lag] {
		return // not clearly better: keep the filter learnt
	}
	if span, moved := (len(c.xc)-c.taps)/2, best*c.block-c.peak; c.lag >= 0 && c.peak > 0 && moved >= -span && moved <= span {
		// A move the filter is followed by at each of the agent's turns
		// (realign): the blocks' estimate wanders with where the far
		// end started the last few.
		return
	}
	// The delay moved (or was found): the filter is learnt again around it.
	c.lag, c.ready, c.refined, c.erle, c.realign = best, false, 0, 0, false
	clear(c.xc)
}

// erleDB returns how far, in dB, the canceller brings the echo down (its
// echo return loss enhancement), measured on the frames that made the
// foreground filter what it is: frames where the caller spoke under the
// echo never do. 0 until it has learnt.
func (c *echoCanceller) erleDB() float64 { return c.erle }

// blockDB is the level of a block of n samples whose squares sum to sum.
func blockDB(sum float64, n int) float64 {
	return max(silenceDB, 10*math.Log10(sum/float64(n)/fullScale2+1e-12))
}

// sumSquares returns the sum of the squares of frame's samples.
func sumSquares(frame []int16) float64 {
	var s float64
	for _, v := range frame {
		s += float64(v) * float64(v)
	}
	return s
}

// dot returns the dot product of a and b (len(b) >= len(a)), in four
// partial sums so that the additions do not wait on one another.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// axpy adds k*x to y (len(x) >= len(y)).
func axpy(y, x []float32, k float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += k * x[i]
	}
}
