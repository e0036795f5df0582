package media

import (
	"fmt"
	"math"
	"sync"
)

// The resampler is a polyphase FIR: conceptually the input is upsampled by L
// (zeros inserted), low-pass filtered at the high rate L*inRate, and decimated
// by M, with L/M = outRate/inRate reduced. Only the taps that meet non-zero
// input samples are computed, so each output sample costs one dot product of
// rsTaps(in, out) coefficients. The prototype filter is a Kaiser-windowed sinc
// whose stopband starts at min(in, out)/2, so nothing above the lower Nyquist
// frequency aliases into (or images out of) the band.
const (
	// rsStopbandDB is the design attenuation of the Kaiser window.
	rsStopbandDB = 80.0
	// rsPassEdge and rsStopEdge bound the transition band, as fractions of the
	// lower of the two rates: for 8 kHz the passband is flat to 3360 Hz, past
	// the 3.4 kHz telephony band edge, and the stopband starts at 4000 Hz.
	rsPassEdge = 0.42
	rsStopEdge = 0.50
	// rsBlock is how many input samples are buffered per inner step; it bounds
	// the history buffer so that Process never allocates.
	rsBlock = 512
	// rsMinRate and rsMaxRate bound the rates NewResampler accepts; the
	// supported set is 8000, 16000, 22050, 24000 and 48000 Hz, but any rate in
	// range works if its filter is not too large (rsMaxCoefs).
	rsMinRate  = 1000
	rsMaxRate  = 192000
	rsMaxCoefs = 1 << 20
)

// rsKernel is the immutable polyphase filter for one rate pair. Kernels are
// shared by every Resampler of that pair.
type rsKernel struct {
	l, m   int       // interpolation and decimation factors, reduced
	taps   int       // coefficients per phase, a multiple of 4
	center int64     // centre of the prototype filter, in high-rate samples
	coefs  []float32 // phase p occupies coefs[p*taps : (p+1)*taps], in input order
}

var (
	rsKernelsMu sync.Mutex
	rsKernels   = map[[2]int]*rsKernel{}
)

// Resampler converts a mono stream of 16-bit samples from one rate to another.
// It is streaming: history is kept between calls to Process, so feeding a signal
// in chunks yields exactly the same samples as feeding it at once. The filter
// delay is compensated: output sample n is the input at time n/outRate, so the
// first output lines up with the first input and Flush emits the tail.
//
// A Resampler is not safe for concurrent use.
type Resampler struct {
	inRate, outRate int
	k               *rsKernel // nil when inRate == outRate

	buf      []float32 // buf[j] is input sample bufStart+j
	n        int       // valid samples in buf
	bufStart int64
	inCount  int64 // input samples received
	outCount int64 // output samples produced
	idx      int64 // input index of the newest sample the next output needs
	phase    int   // polyphase branch of the next output
}

// NewResampler returns a resampler from inRate to outRate Hz. Equal rates are
// allowed and copy the samples through.
func NewResampler(inRate, outRate int) (*Resampler, error) {
	if inRate < rsMinRate || inRate > rsMaxRate || outRate < rsMinRate || outRate > rsMaxRate {
		return nil, fmt.Errorf("%w: resample %d Hz to %d Hz", ErrUnsupportedEncoding, inRate, outRate)
	}
	r := &Resampler{inRate: inRate, outRate: outRate}
	if inRate == outRate {
		return r, nil
	}
	k, err := rsKernelFor(inRate, outRate)
	if err != nil {
		return nil, err
	}
	r.k = k
	r.buf = make([]float32, k.taps-1+rsBlock)
	r.Reset()
	return r, nil
}

// String prints the conversion, as "resample 22050->8000".
func (r *Resampler) String() string {
	return fmt.Sprintf("resample %d->%d", r.inRate, r.outRate)
}

// Reset discards the history so the resampler can start a new stream.
func (r *Resampler) Reset() {
	k := r.k
	if k == nil {
		return
	}
	// taps-1 zeros stand for the silence before the first input sample.
	clear(r.buf)
	r.n = k.taps - 1
	r.bufStart = -int64(k.taps - 1)
	r.inCount, r.outCount = 0, 0
	r.idx = k.center / int64(k.l)
	r.phase = int(k.center % int64(k.l))
}

// MaxOut returns an upper bound of the number of samples Process appends for n
// input samples, so a caller can size dst once.
func (r *Resampler) MaxOut(n int) int {
	if r.k == nil {
		return n
	}
	return int((int64(n)*int64(r.k.l)+int64(r.k.m)-1)/int64(r.k.m)) + 1
}

// flushMax is an upper bound of the number of samples Flush appends.
func (r *Resampler) flushMax() int {
	if r.k == nil {
		return 0
	}
	return r.MaxOut(r.k.taps/2 + 1)
}

// Process resamples src, appends the output to dst and returns it. It does not
// allocate when dst has room for MaxOut(len(src)) more samples.
func (r *Resampler) Process(dst, src []int16) []int16 {
	if r.k == nil {
		return append(dst, src...)
	}
	for len(src) > 0 {
		free := r.buf[r.n:]
		c := min(len(free), len(src))
		for i, s := range src[:c] {
			free[i] = float32(s)
		}
		src = src[c:]
		r.n += c
		r.inCount += int64(c)
		dst = r.emit(dst, math.MaxInt64)
		r.compact()
	}
	return dst
}

// Flush appends the output still held back by the filter delay, as if the
// stream were followed by silence, and resets the resampler for a new stream.
func (r *Resampler) Flush(dst []int16) []int16 {
	k := r.k
	if k == nil {
		return dst
	}
	// The stream lasts inCount/inRate seconds, so it owns the outputs at times
	// n/outRate before that: n*M < inCount*L.
	want := (r.inCount*int64(k.l) + int64(k.m) - 1) / int64(k.m)
	for r.outCount < want {
		free := r.buf[r.n:]
		clear(free)
		r.n += len(free)
		r.inCount += int64(len(free))
		dst = r.emit(dst, want)
		r.compact()
	}
	r.Reset()
	return dst
}

// emit appends every output whose input window is complete, up to limit
// outputs in total.
func (r *Resampler) emit(dst []int16, limit int64) []int16 {
	k := r.k
	taps := k.taps
	for r.idx < r.inCount && r.outCount < limit {
		end := int(r.idx-r.bufStart) + 1
		x := r.buf[end-taps : end]
		h := k.coefs[r.phase*taps : (r.phase+1)*taps]
		dst = append(dst, rsSaturate(rsDot(h, x)))
		r.outCount++
		r.phase += k.m
		r.idx += int64(r.phase / k.l)
		r.phase %= k.l
	}
	return dst
}

// compact keeps the last taps-1 input samples, the history the next output
// can need (its newest sample is at or past inCount).
func (r *Resampler) compact() {
	keep := r.k.taps - 1
	drop := r.n - keep
	if drop <= 0 {
		return
	}
	copy(r.buf, r.buf[drop:r.n])
	r.n = keep
	r.bufStart += int64(drop)
}

// rsDot returns the dot product of h and x, whose length is a multiple of 4.
// Four accumulators shorten the dependency chain; the three-index slices let
// the compiler drop the bounds checks inside the loop.
func rsDot(h, x []float32) float32 {
	x = x[:len(h)]
	var s0, s1, s2, s3 float32
	for len(h) >= 4 {
		hh, xx := h[:4:4], x[:4:4]
		s0 += hh[0] * xx[0]
		s1 += hh[1] * xx[1]
		s2 += hh[2] * xx[2]
		s3 += hh[3] * xx[3]
		h, x = h[4:], x[4:]
	}
	return (s0 + s1) + (s2 + s3)
}

// rsSaturate rounds v to the nearest int16, clipping at full scale.
func rsSaturate(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}

// rsKernelFor returns the shared kernel for a rate pair, building it once.
func rsKernelFor(inRate, outRate int) (*rsKernel, error) {
	key := [2]int{inRate, outRate}
	rsKernelsMu.Lock()
	defer rsKernelsMu.Unlock()
	if k, ok := rsKernels[key]; ok {
		return k, nil
	}
	k, err := rsDesign(inRate, outRate)
	if err != nil {
		return nil, err
	}
	rsKernels[key] = k
	return k, nil
}

// rsDesign computes the polyphase Kaiser-windowed sinc for a rate pair.
func rsDesign(inRate, outRate int) (*rsKernel, error) {
	g := rsGCD(inRate, outRate)
	l, m := outRate/g, inRate/g
	low := float64(min(inRate, outRate))

	// Kaiser's estimate of the filter length for the attenuation and
	// transition width (Oppenheim & Schafer 7.6), counted in input samples.
	beta := 0.1102 * (rsStopbandDB - 8.7)
	width := 2 * math.Pi * (rsStopEdge - rsPassEdge) * low / float64(inRate)
	taps := int(math.Ceil((rsStopbandDB - 7.95) / (2.285 * width)))
	// A multiple of 4 suits rsDot; being even, it also gives the prototype
	// below an odd length and an integer centre.
	taps = (taps + 3) &^ 3
	if int64(taps)*int64(l) > rsMaxCoefs {
		return nil, fmt.Errorf("%w: resample %d Hz to %d Hz needs too large a filter", ErrUnsupportedEncoding, inRate, outRate)
	}

	// Prototype at the high rate L*inRate: length L*taps-1 (odd), centred on
	// c; the last slot of the last phase stays zero.
	length := l*taps - 1
	c := (length - 1) / 2
	cutoff := (rsPassEdge + rsStopEdge) / 2 * low / float64(inRate) / float64(l) // cycles per high-rate sample
	i0beta := rsBesselI0(beta)
	proto := make([]float64, l*taps)
	for j := range length {
		t := float64(j - c)
		ratio := t / float64(c)
		w := rsBesselI0(beta*math.Sqrt(math.Max(0, 1-ratio*ratio))) / i0beta
		proto[j] = 2 * cutoff * rsSinc(2*cutoff*t) * w
	}

	// Phase p applies proto[p + i*L] to input x[idx-i]; store it reversed so
	// the dot product runs forward over the history buffer. Each phase is
	// normalised to unity DC gain, which removes the DC ripple of the
	// interpolation.
	coefs := make([]float32, l*taps)
	for p := range l {
		var sum float64
		for i := range taps {
			sum += proto[p+i*l]
		}
		for i := range taps {
			coefs[p*taps+taps-1-i] = float32(proto[p+i*l] / sum)
		}
	}
	return &rsKernel{l: l, m: m, taps: taps, center: int64(c), coefs: coefs}, nil
}

// delay returns the group delay of the filter in output samples; Process
// compensates it, so it is the latency a caller sees, not a shift.
func (r *Resampler) delay() float64 {
	if r.k == nil {
		return 0
	}
	return float64(r.k.center) / float64(r.k.m)
}

func rsSinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// rsBesselI0 is the modified Bessel function of the first kind, order 0, by
// its power series, which converges quickly for the arguments of a window.
func rsBesselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200; k++ {
		f := x / (2 * float64(k))
		term *= f * f
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func rsGCD(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
