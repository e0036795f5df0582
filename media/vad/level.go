package vad

import "math"

const (
	// highPassHz is the cutoff of the high-pass filter in front of the
	// level: the bottom of the telephone band (ITU-T G.712, 300-3400 Hz).
	// Speech keeps its formants; 50/60 Hz hum loses about 30 dB and brown
	// noise most of its rumble.
	highPassHz = 300
	// silenceDB is the level of digital silence: levels are clamped to it so
	// that log10(0) never appears.
	silenceDB = -100
	// fullScale2 is the mean square of a full-scale square wave: 0 dBFS.
	fullScale2 = 32768.0 * 32768.0
)

// highPass is a second-order Butterworth high-pass filter (RBJ audio EQ
// cookbook, Q = 1/sqrt(2)) that measures the level of what it lets through.
// Its state carries across frames, so frame boundaries leave no transient.
//
// A recursive filter is as fast as its chain of dependent multiply-adds, so
// this one is arranged to keep that chain short: direct form I, the
// numerator g*(1 - 2z^-1 + z^-2) computed exactly in integers, the gain g
// applied once to the energy rather than to every sample, and two samples a
// step, y[n+1] computed from y[n-1] and y[n-2] rather than from y[n].
type highPass struct {
	// The denominator is 1 + a1 z^-1 + a2 z^-2; c1 and c2 carry y[n-1] and
	// y[n-2] two samples ahead; g2 is the squared gain.
	a1, a2, c1, c2, g2 float64
	// The last two inputs, and the last two outputs divided by g.
	x1, x2 int32
	y1, y2 float64
}

func newHighPass(cutoffHz float64, sampleRate int) highPass {
	w0 := 2 * math.Pi * cutoffHz / float64(sampleRate)
	cosw, alpha := math.Cos(w0), math.Sin(w0)/math.Sqrt2
	a0 := 1 + alpha
	a1, a2 := -2*cosw/a0, (1-alpha)/a0
	g := (1 + cosw) / 2 / a0
	return highPass{a1: a1, a2: a2, c1: a1*a1 - a2, c2: a1 * a2, g2: g * g}
}

// levelDB filters frame (which must not be empty) and returns its mean energy
// in dBFS, no lower than silenceDB.
func (h *highPass) levelDB(frame []int16) float64 {
	a1, a2, c1, c2 := h.a1, h.a2, h.c1, h.c2
	x1, x2, y1, y2 := h.x1, h.x2, h.y1, h.y2
	var sum0, sum1 float64
	i := 0
	for ; i+1 < len(frame); i += 2 {
		x0, xn := int32(frame[i]), int32(frame[i+1])
		w0, wn := float64(x0-2*x1+x2), float64(xn-2*x0+x1)
		// y1 comes last: the terms that do not wait for it are ready by
		// the time it is.
		y0 := (w0 - a2*y2) - a1*y1
		yn := (wn - a1*w0 + c2*y2) + c1*y1 // = wn - a1*y0 - a2*y1
		sum0 += y0 * y0
		sum1 += yn * yn
		x2, x1, y2, y1 = x0, xn, y0, yn
	}
	if i < len(frame) { // odd length
		x0 := int32(frame[i])
		y0 := float64(x0-2*x1+x2) - a2*y2 - a1*y1
		sum0 += y0 * y0
		x2, x1, y2, y1 = x1, x0, y1, y0
	}
	// In digital silence the outputs decay toward subnormal floats, which
	// are a hundred times slower on x86: flush them once they are far below
	// one quantization step.
	if math.Abs(y1) < 1e-9 && math.Abs(y2) < 1e-9 {
		y1, y2 = 0, 0
	}
	h.x1, h.x2, h.y1, h.y2 = x1, x2, y1, y2
	ms := h.g2 * (sum0 + sum1) / float64(len(frame)) / fullScale2
	if ms <= 1e-10 { // silenceDB
		return silenceDB
	}
	return 10 * math.Log10(ms)
}

func (h *highPass) reset() { h.x1, h.x2, h.y1, h.y2 = 0, 0, 0, 0 }
