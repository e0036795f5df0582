package session

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// fakePlayout keeps what a turn queues, as "audio:<bytes>" and "mark:<name>"
// steps; it refuses everything once stale is set (a clear's new generation).
type fakePlayout struct {
	steps []string
	pos   int64
	stale bool
}

func (f *fakePlayout) Write(_ uint64, b []byte) (int64, bool) {
	if f.stale {
		return 0, false
	}
	f.pos += int64(len(b))
	f.steps = append(f.steps, fmt.Sprintf("audio:%d", len(b)))
	return f.pos, true
}

func (f *fakePlayout) WriteShared(_ uint64, b []byte) (int64, bool) {
	if f.stale {
		return 0, false
	}
	f.pos += int64(len(b))
	f.steps = append(f.steps, fmt.Sprintf("shared:%d", len(b)))
	return f.pos, true
}

func (f *fakePlayout) WaitRoom(context.Context, uint64) bool { return !f.stale }

func (f *fakePlayout) Mark(_ uint64, name string) (int64, bool) {
	if f.stale {
		return 0, false
	}
	f.steps = append(f.steps, "mark:"+name)
	return f.pos, true
}

// TestAnUtteranceIsFramedAndMarked: the turn's audio is held until a whole
// frame, which goes out with the start mark; the rest follows as it comes,
// each piece told where it begins; the end mark closes it.
func TestAnUtteranceIsFramedAndMarked(t *testing.T) {
	p := &fakePlayout{}
	u := &utteranceWriter{out: p, turn: 3, frame: 160}
	type step struct {
		at        int64
		first, ok bool
	}
	var got []step
	for _, n := range []int{100, 100, 500} {
		at, first, ok := u.write(make([]byte, n), false)
		got = append(got, step{at, first, ok})
	}
	end, first, ok := u.end()
	if want := []step{{-1, false, true}, {0, true, true}, {200, false, true}}; !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v (%s)", got, want, u)
	}
	if end != 700 || first || !ok {
		t.Errorf("end %d first %v ok %v, want 700 false true", end, first, ok)
	}
	if want := []string{"audio:160", "mark:t3-start", "audio:40", "audio:500", "mark:t3-end"}; !slices.Equal(p.steps, want) {
		t.Errorf("queued %q, want %q", p.steps, want)
	}
}

// TestAShortOrClearedUtterance: a turn shorter than a frame goes out at
// its end without a start mark (its first audio then); a turn with no
// audio places no mark; a cleared one stops at the first refusal.
func TestAShortOrClearedUtterance(t *testing.T) {
	p := &fakePlayout{}
	u := &utteranceWriter{out: p, turn: 1, frame: 160}
	if at, first, ok := u.write(make([]byte, 80), false); at != -1 || first || !ok {
		t.Fatalf("a partial frame: %d %v %v", at, first, ok)
	}
	if end, first, ok := u.end(); end != 80 || !first || !ok {
		t.Errorf("the end of a short turn: %d %v %v, want 80 true true", end, first, ok)
	}
	if want := []string{"audio:80", "mark:t1-end"}; !slices.Equal(p.steps, want) {
		t.Errorf("queued %q, want %q", p.steps, want)
	}

	p = &fakePlayout{}
	u = &utteranceWriter{out: p, turn: 2, frame: 160}
	if end, first, ok := u.end(); end != -1 || first || !ok || len(p.steps) != 0 {
		t.Errorf("a silent turn: %d %v %v, queued %q", end, first, ok, p.steps)
	}

	p = &fakePlayout{}
	u = &utteranceWriter{out: p, turn: 4, frame: 160}
	u.write(make([]byte, 320), false)
	p.stale = true // a barge-in cleared the playout
	if _, _, ok := u.write(make([]byte, 160), false); ok {
		t.Error("a write after the clear was taken")
	}
	if _, _, ok := u.end(); ok {
		t.Error("the end of a cleared turn was taken")
	}
}

// TestASharedUtteranceIsQueuedByReference: shared audio (a speech cache's)
// is queued by reference, but for the bytes that complete the turn's
// first frame, which are held and copied with what came before them.
func TestASharedUtteranceIsQueuedByReference(t *testing.T) {
	p := &fakePlayout{}
	u := &utteranceWriter{out: p, turn: 5, frame: 160}
	u.write(make([]byte, 100), false)
	at, first, ok := u.write(make([]byte, 1000), true)
	if at != 0 || !first || !ok {
		t.Errorf("the shared write that completes the first frame: %d %v %v, want 0 true true", at, first, ok)
	}
	if at, first, ok := u.write(make([]byte, 500), true); at != 1100 || first || !ok {
		t.Errorf("a shared write: %d %v %v, want 1100 false true", at, first, ok)
	}
	u.end()
	if want := []string{"audio:160", "mark:t5-start", "shared:940", "shared:500", "mark:t5-end"}; !slices.Equal(p.steps, want) {
		t.Errorf("queued %q, want %q", p.steps, want)
	}
}
