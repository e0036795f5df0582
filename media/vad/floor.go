package vad

import (
	"math"
	"time"
)

const (
	// floorRiseDBPerSec is how fast the floor climbs toward a louder level
	// when nothing else lifts it: slowly, so that speech does not become
	// the floor.
	floorRiseDBPerSec = 2
	// floorFallHalfLife is how fast the floor falls toward a quieter level:
	// half the gap every 20 ms, so it settles on the lower edge of the noise
	// within a few frames but is not dragged down by a single quiet frame.
	floorFallHalfLife = 20 * time.Millisecond

	// The floor is also never below the quietest frame of the last
	// longWindow (Martin's minimum statistics), and, when the level has
	// stayed within steadyDB for the last steadyWindow, never below the
	// quietest frame of that window. Speech swings by well over steadyDB
	// between syllables several times a second (15 dB or more in every
	// 500 ms of the testdata corpus, noisy files included); steady noise in
	// 20 ms frames stays within 5 dB (white 2.5, pink 3.2, brown 5.1, hum
	// 0). So noise that starts mid-call becomes the floor within
	// steadyWindow, and noise present from the first frame never fires.
	// Minima and maxima are kept per sub-window, which makes both windows
	// cost a few compares a frame.
	subWindow    = 100 * time.Millisecond
	longWindow   = 20 // sub-windows: 2 s
	steadyWindow = 5  // sub-windows: 500 ms
	steadyDB     = 7
)

// noiseFloor tracks the level of the background in dBFS.
type noiseFloor struct {
	db  float64
	set bool

	// Per-frame fall factor, cached for the last frame length.
	fallDt time.Duration
	fall   float64

	// Level minima and maxima of the last longWindow sub-windows (a ring;
	// next is the slot to fill, full counts the filled slots) and of the
	// sub-window being filled, which has run for span.
	mins, maxs     [longWindow]float64
	next, full     int
	curMin, curMax float64
	span           time.Duration
}

func (f *noiseFloor) reset() { *f = noiseFloor{db: silenceDB} }

// update moves the floor after a frame of dt at level dBFS.
func (f *noiseFloor) update(level float64, dt time.Duration) {
	switch {
	case !f.set:
		// The first frame seeds the floor: a call opens on its background,
		// and if it opens on speech the floor falls at the first pause.
		f.db, f.set = level, true
	case level < f.db:
		if dt != f.fallDt {
			f.fallDt = dt
			f.fall = 1 - math.Exp2(-float64(dt)/float64(floorFallHalfLife))
		}
		f.db += (level - f.db) * f.fall
	default:
		f.db = lower(level, f.db+floorRiseDBPerSec*dt.Seconds())
	}

	if f.span == 0 {
		f.curMin, f.curMax = level, level
	}
	f.curMin, f.curMax = lower(f.curMin, level), higher(f.curMax, level)
	f.span += dt
	if f.span < subWindow {
		return
	}
	f.mins[f.next], f.maxs[f.next] = f.curMin, f.curMax
	f.next = (f.next + 1) % longWindow
	f.full = min(f.full+1, longWindow)
	f.span = 0

	if f.full >= steadyWindow {
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := 1; i <= steadyWindow; i++ {
			j := (f.next - i + longWindow) % longWindow
			lo, hi = lower(lo, f.mins[j]), higher(hi, f.maxs[j])
		}
		if hi-lo < steadyDB {
			f.db = higher(f.db, lo)
		}
	}
	if f.full == longWindow {
		lo := math.Inf(1)
		for _, v := range f.mins {
			lo = lower(lo, v)
		}
		f.db = higher(f.db, lo)
	}
}

// lower and higher are math.Min and math.Max for levels, which are never NaN
// and never -0: plain compares, an eighth of the cost of a frame otherwise.
func lower(a, b float64) float64 {
	if b < a {
		return b
	}
	return a
}

func higher(a, b float64) float64 {
	if b > a {
		return b
	}
	return a
}
