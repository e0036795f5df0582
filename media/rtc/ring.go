package rtc

import (
	"math/bits"
	"sync/atomic"

	"github.com/iace/iace/media"
)

// byteRing is a single-producer single-consumer byte queue: the call's
// goroutine writes, the Monitor's goroutine reads, and neither ever waits
// for the other. Positions count bytes since the start and only grow; the
// atomic store of a position publishes the bytes before it (Go memory
// model: a store is synchronized before the load that observes it).
type byteRing struct {
	buf  []byte
	mask uint64
	w    atomic.Uint64 // written up to; only the producer stores it
	r    atomic.Uint64 // read up to; only the consumer stores it
}

// newByteRing holds at least n bytes (a power of two).
func newByteRing(n int) *byteRing {
	size := uint64(1) << bits.Len64(uint64(max(n, 2)-1))
	return &byteRing{buf: make([]byte, size), mask: size - 1}
}

// write appends all of p, or nothing when it does not fit. Producer only.
func (b *byteRing) write(p []byte) bool {
	w := b.w.Load()
	if uint64(len(b.buf))-(w-b.r.Load()) < uint64(len(p)) {
		return false
	}
	i := w & b.mask
	n := copy(b.buf[i:], p)
	copy(b.buf, p[n:])
	b.w.Store(w + uint64(len(p)))
	return true
}

// written is the producer's position: everything before it has been written.
func (b *byteRing) written() uint64 { return b.w.Load() }

// read takes up to len(p) bytes, in whole multiples of unit, and returns
// how many. Consumer only.
func (b *byteRing) read(p []byte, unit int) int {
	r := b.r.Load()
	avail := b.w.Load() - r
	n := min(uint64(len(p)), avail)
	n -= n % uint64(unit) //nolint:gosec // G115: a sample's size, 1 or 2
	if n == 0 {
		return 0
	}
	i := r & b.mask
	m := copy(p[:n], b.buf[i:])
	copy(p[m:n], b.buf)
	b.r.Store(r + n)
	return int(n) //nolint:gosec // G115: at most len(p)
}

// skipTo drops what was written before pos. Consumer only.
func (b *byteRing) skipTo(pos uint64) {
	if r := b.r.Load(); pos > r {
		b.r.Store(min(pos, b.w.Load()))
	}
}

// mixULaw mixes two 20 ms mu-law frames into dst: each side at half its
// level (-6 dB), so that two full-scale talkers cannot clip, summed and
// clamped, then encoded again. a, b and dst hold FrameSamples codes; pa
// and pb are scratch.
func mixULaw(dst, a, b []byte, pa, pb []int16) {
	n := media.DecodeULawTo(pa, a)
	media.DecodeULawTo(pb, b)
	for i := range n {
		s := int32(pa[i])/2 + int32(pb[i])/2
		pa[i] = int16(min(max(s, -32768), 32767))
	}
	media.EncodeULawTo(dst, pa[:n])
}
