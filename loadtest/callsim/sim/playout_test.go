package sim

import (
	"slices"
	"testing"
	"time"
)

func TestPlayout(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	t.Run("a mark with nothing queued echoes at once", func(t *testing.T) {
		var p playout
		if !p.mark(at(0), "m") {
			t.Error("mark on an empty queue was queued")
		}
	})

	t.Run("a mark echoes when the audio before it has played", func(t *testing.T) {
		var p playout
		p.media(at(0), 100*time.Millisecond)
		if p.mark(at(0), "first") {
			t.Fatal("mark after audio echoed at once")
		}
		p.media(at(10), 200*time.Millisecond) // queued behind: plays 100-300
		if p.mark(at(10), "last") {
			t.Fatal("mark echoed at once")
		}
		if names, _ := p.due(at(99), nil); len(names) != 0 {
			t.Errorf("due at 99ms: %q", names)
		}
		names, tail := p.due(at(100), nil)
		if !slices.Equal(names, []string{"first"}) || tail {
			t.Errorf("due at 100ms: %q tail %v, want first, not at the tail", names, tail)
		}
		names, tail = p.due(at(300), nil)
		if !slices.Equal(names, []string{"last"}) || !tail {
			t.Errorf("due at 300ms: %q tail %v, want last at the tail", names, tail)
		}
		if p.busy(at(300)) || p.pending() != 0 {
			t.Error("queue not empty after its audio played")
		}
	})

	t.Run("audio plays back to back and an empty queue is an underrun", func(t *testing.T) {
		var p playout
		start, idle, gap := p.media(at(0), 40*time.Millisecond)
		if start != at(0) || !idle || gap != 0 {
			t.Errorf("first audio: start %v idle %v gap %v", start.Sub(t0), idle, gap)
		}
		start, idle, _ = p.media(at(20), 40*time.Millisecond)
		if start != at(40) || idle {
			t.Errorf("queued audio starts at %v idle %v, want 40ms", start.Sub(t0), idle)
		}
		start, idle, gap = p.media(at(100), 20*time.Millisecond)
		if start != at(100) || !idle || gap != 20*time.Millisecond {
			t.Errorf("late audio: start %v idle %v gap %v, want a 20ms gap", start.Sub(t0), idle, gap)
		}
	})

	t.Run("clear drops the audio and returns every queued mark", func(t *testing.T) {
		var p playout
		p.media(at(0), time.Second)
		p.mark(at(0), "a")
		p.media(at(0), time.Second)
		p.mark(at(0), "b")
		names := p.clear(at(300), nil)
		if !slices.Equal(names, []string{"a", "b"}) {
			t.Errorf("clear returned %q", names)
		}
		if p.busy(at(300)) || p.pending() != 0 {
			t.Error("audio still queued after clear")
		}
		if !p.mark(at(310), "c") {
			t.Error("mark after clear was queued")
		}
		if start, _, _ := p.media(at(320), frameDuration); start != at(320) {
			t.Errorf("audio after clear starts at %v", start.Sub(t0))
		}
	})
}

func TestRecorderCut(t *testing.T) {
	var r recorder
	one := func(n int) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = 1
		}
		return s
	}
	r.place(0, one(800))                    // 0-100 ms
	r.place(200*time.Millisecond, one(800)) // 200-300 ms
	r.place(400*time.Millisecond, one(800)) // 400-500 ms, never played
	r.cut(250 * time.Millisecond)
	pcm := r.render()
	if len(pcm) != 2000 {
		t.Fatalf("rendered %d samples, want 250 ms", len(pcm))
	}
	if pcm[799] != 1 || pcm[800] != 0 || pcm[1599] != 0 || pcm[1600] != 1 {
		t.Error("audio not placed at its playout time with silence between")
	}
}
