//go:build !race

// The race detector instruments memory accesses and changes what
// allocates, so these guards run without it (make test runs them in a
// separate pass).

package session

import "testing"

// TestInboundFrameAllocs guards BenchmarkInboundFrame's 0 allocs/op: a
// caller frame's whole work on the reader (parse, base64, reorder, G.711,
// VAD) allocates nothing once the call is under way.
func TestInboundFrameAllocs(t *testing.T) {
	f := newInboundFixture(t, nil, nil)
	i := 0
	// Past the warm-up: the reorder buffer and the VAD's history fill.
	for ; i < 500; i++ {
		f.frame(i)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		f.frame(i)
		i++
	})
	if allocs != 0 {
		t.Errorf("an inbound frame allocates %v times, want 0", allocs)
	}
	f.checkQuiet()
}
