//go:build !race

// The race detector instruments memory accesses and changes what
// allocates, so this guard runs without it (make test runs it in a
// separate pass).

package media

import "testing"

// TestPacerTickAllocs guards BenchmarkPacerTick1000Calls's 0 allocs/op:
// once every call's queue has grown to what it holds, a pacer tick over
// 1,000 speaking calls (topping them up, pacing, writing) allocates nothing.
func TestPacerTickAllocs(t *testing.T) {
	tick := pacerTickFixture(1000)
	// Warm-up: each call's queue grows to its working size over the first
	// top-ups (a second of audio on half a second queued).
	for range 500 {
		tick()
	}
	if allocs := testing.AllocsPerRun(200, tick); allocs != 0 {
		t.Errorf("a pacer tick over 1,000 calls allocates %v times, want 0", allocs)
	}
}
