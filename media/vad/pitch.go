package vad

import "math"

const (
	// pitchRate is the rate the pitch tracker works at: the audio is
	// low-passed and decimated to about 2 kHz. Voicing lives in the
	// fundamental and the first harmonics, under 1 kHz; working at 2 kHz
	// makes the autocorrelation a sixteenth of its cost at 8 kHz, and it
	// whitens broadband noise (a click, a cough, a fricative), which has
	// no periodicity left to find in that band.
	pitchRate = 2000
	// pitchHighPassHz is the cutoff of the high-pass in front of the
	// tracker: above mains hum (50-60 Hz), under most voices' fundamental;
	// a deep voice at 70-100 Hz loses some of its fundamental, but its
	// harmonics carry the same period.
	pitchHighPassHz = 90
	// minF0Hz and maxF0Hz bound the fundamental the tracker looks for:
	// adult speech runs from about 70 Hz (a deep male voice at the bottom
	// of its range) to 400 Hz (a high female voice, raised). Mains hum
	// (50 Hz) falls below it.
	minF0Hz, maxF0Hz = 70, 400
	// pitchWindow is the length of the correlation window: two periods of
	// a 100 Hz voice, short enough that pitch hardly moves inside it.
	pitchWindow = 0.032 // seconds
	// maxLags bounds the lags of any supported rate: the decimated rate is
	// at most 2250 Hz (8999 / 4), so the lags of minF0Hz..maxF0Hz span at
	// most 33 - 5 + 1 = 29.
	maxLags = 40
	// pitchBufLen is the decimated history kept: the window plus the
	// longest lag (93 samples at 8 kHz, at most 105 at any supported
	// rate); the rest is room to append before shifting the kept tail to
	// the front, about once per analyzed 20 ms frame. It is part of every
	// call's detector, 1 KiB: 256 (a shift every fourth frame) cost every
	// call another KiB for a copy of under 1 KB saved per frame.
	pitchBufLen = 128
	// rawMS is the raw audio kept for decimating lazily: 60 ms, more than
	// the window plus the longest lag (48 ms) and the filters' settling (a
	// few ms) at any rate; 960 bytes at 8 kHz.
	rawMS = 60
)

// pitchTracker low-passes and decimates the audio and finds, per frame, how
// periodic it is (the peak of the normalized cross-correlation, NCCF, over
// lags of 70-400 Hz) and at what fundamental.
type pitchTracker struct {
	// Anti-alias filter: the mean of k input samples (exact, in integers),
	// then the mean of two decimated samples. The pair is a cheap low-pass
	// with nulls at the decimated rate and half of it: at 8 kHz it passes
	// 500 Hz at -1.7 dB and takes 1.5 kHz down by 13 dB, enough to keep
	// fricatives and clicks from folding into the pitch band.
	k, n      int
	acc, last int32
	// Then a second-order high-pass at hpHz (two one-pole DC blockers):
	// mains hum at 50-60 Hz sits under the lowest voice, and at a 10 dB SNR
	// it would otherwise be the periodicity the tracker finds. hp is the
	// pole; hx and hy the state of the two stages.
	hp     float64
	hx, hy [2]float64

	rate           float64 // decimated rate, Hz
	win            int     // correlation window, decimated samples
	minLag, maxLag int

	buf  [pitchBufLen]float64 // decimated history, oldest first
	size int                  // filled samples of buf
	r    [maxLags + 2]float64 // NCCF per lag of the last analysis

	// The raw audio of the last rawMS, kept for every frame. Only frames
	// that are analyzed are decimated: silence, most of a call, costs a
	// copy. A frame analyzed after one that was not rebuilds the history
	// from raw.
	raw   []int16 // a ring of rawMS of samples
	rawAt int     // where the next sample goes
	rawN  int     // samples in the ring, at most len(raw)
	stale bool
}

func newPitchTracker(sampleRate int) pitchTracker {
	k := max(1, int(math.Round(float64(sampleRate)/pitchRate)))
	rate := float64(sampleRate) / float64(k)
	return pitchTracker{
		k: k, rate: rate, hp: math.Exp(-2 * math.Pi * pitchHighPassHz / rate),
		win:    int(math.Round(pitchWindow * rate)),
		minLag: int(math.Floor(rate / maxF0Hz)),
		maxLag: int(math.Ceil(rate / minF0Hz)),
		raw:    make([]int16, sampleRate*rawMS/1000),
	}
}

func (p *pitchTracker) reset() {
	p.restart()
	p.rawAt, p.rawN, p.stale = 0, 0, false
}

// restart empties the decimated history and the filters' state.
func (p *pitchTracker) restart() {
	p.n, p.acc, p.last, p.size = 0, 0, 0, 0
	p.hx, p.hy = [2]float64{}, [2]float64{}
}

// keep records frame's raw audio without decimating it: the frame will
// not be analyzed.
func (p *pitchTracker) keep(frame []int16) {
	p.remember(frame)
	p.stale = true
}

// next takes a frame that will be analyzed: it is decimated into the
// history, after the history is rebuilt from the raw audio kept if frames
// before it were not.
func (p *pitchTracker) next(frame []int16) {
	p.remember(frame)
	if !p.stale {
		p.feed(frame)
		return
	}
	p.stale = false
	p.restart()
	// The ring's oldest samples first.
	if start := p.rawAt - p.rawN; start >= 0 {
		p.feed(p.raw[start:p.rawAt])
	} else {
		p.feed(p.raw[len(p.raw)+start:])
		p.feed(p.raw[:p.rawAt])
	}
}

// remember keeps the last rawMS of raw audio in the ring.
func (p *pitchTracker) remember(frame []int16) {
	need := len(p.raw)
	if len(frame) > need {
		frame = frame[len(frame)-need:]
	}
	p.rawN = min(p.rawN+len(frame), need)
	for len(frame) > 0 {
		n := copy(p.raw[p.rawAt:], frame)
		frame = frame[n:]
		if p.rawAt += n; p.rawAt == need {
			p.rawAt = 0
		}
	}
}

// feed filters and decimates frame into the history.
func (p *pitchTracker) feed(frame []int16) {
	// Finish a group of k samples a shorter frame left open.
	for p.n > 0 && len(frame) > 0 {
		p.acc += int32(frame[0])
		frame = frame[1:]
		if p.n++; p.n == p.k {
			p.push(float64(p.acc+p.last) / float64(2*p.k))
			p.last, p.n, p.acc = p.acc, 0, 0
		}
	}
	// Whole groups: the common case, every frame of a 20 ms stream.
	k, scale := p.k, 1/float64(2*p.k)
	for len(frame) >= k {
		var acc int32
		for _, s := range frame[:k] {
			acc += int32(s)
		}
		frame = frame[k:]
		p.push(float64(acc+p.last) * scale)
		p.last = acc
	}
	// Open a group with what is left.
	for _, s := range frame {
		p.acc += int32(s)
		p.n++
	}
	// In digital silence the high-pass state decays toward subnormal
	// floats, a hundred times slower on x86: flush it, as highPass does.
	for i := range p.hy {
		if math.Abs(p.hy[i]) < 1e-9 {
			p.hy[i] = 0
		}
	}
}

// push high-passes one decimated sample into the history.
func (p *pitchTracker) push(v float64) {
	y0 := v - p.hx[0] + p.hp*p.hy[0]
	y1 := y0 - p.hx[1] + p.hp*p.hy[1]
	p.hx[0], p.hy[0], p.hx[1], p.hy[1] = v, y0, y0, y1
	v = y1
	if p.size == len(p.buf) {
		keep := p.win + p.maxLag
		copy(p.buf[:keep], p.buf[p.size-keep:])
		p.size = keep
	}
	p.buf[p.size] = v
	p.size++
}

// analyze returns the periodicity of the newest window, the NCCF peak in
// [0, 1] (0 if there is not enough audio yet, it is silent, or the peak is
// at the short end of the lag range, which is where noise puts it), and the
// fundamental at that peak in Hz.
func (p *pitchTracker) analyze() (corr, f0 float64) {
	keep := p.win + p.maxLag
	if p.size < keep {
		return 0, 0
	}
	x := p.buf[p.size-keep : p.size]
	cur := x[p.maxLag:]
	var e0 float64
	for _, v := range cur {
		e0 += v * v
	}
	if e0 < float64(p.win) { // under 1 LSB RMS: silence
		return 0, 0
	}
	// The energy of the lagged window, slid one sample a lag.
	lo, hi := p.minLag, p.maxLag
	var e float64
	for _, v := range x[p.maxLag-lo : p.maxLag-lo+p.win] {
		e += v * v
	}
	best, bestLag := 0.0, 0
	for lag := lo; lag <= hi; lag++ {
		if lag > lo {
			in, out := x[p.maxLag-lag], x[p.maxLag-lag+p.win]
			e += in*in - out*out
		}
		seg := x[p.maxLag-lag : p.maxLag-lag+p.win]
		seg = seg[:len(cur)]
		var c0, c1 float64
		i := 0
		for ; i+1 < len(cur); i += 2 {
			c0 += cur[i] * seg[i]
			c1 += cur[i+1] * seg[i+1]
		}
		if i < len(cur) {
			c0 += cur[i] * seg[i]
		}
		r := 0.0
		if e > 0 {
			r = (c0 + c1) / math.Sqrt(e0*e)
		}
		p.r[lag-lo+1] = r
		if r > best {
			best, bestLag = r, lag
		}
	}
	if bestLag == 0 {
		return 0, 0
	}
	// Prefer the shortest lag whose peak is nearly as high: the
	// correlation at two periods is as high as at one.
	for lag := lo + 1; lag < bestLag; lag++ {
		r := p.r[lag-lo+1]
		if r >= 0.95*best && r >= p.r[lag-lo] && r >= p.r[lag-lo+2] {
			bestLag = lag
			break
		}
	}
	if bestLag == lo {
		// No peak inside the range: the correlation just falls with the
		// lag, as it does for noise.
		return 0, 0
	}
	// Parabolic interpolation around the peak for a sub-sample period.
	period := float64(bestLag)
	if bestLag < hi {
		a, b, c := p.r[bestLag-lo], p.r[bestLag-lo+1], p.r[bestLag-lo+2]
		if den := a - 2*b + c; den < 0 {
			period += 0.5 * (a - c) / den
		}
	}
	return best, p.rate / period
}
