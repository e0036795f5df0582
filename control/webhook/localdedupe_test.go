package webhook

import (
	"testing"
	"time"
)

func TestLocalDedupeForgetsAfterItsTTL(t *testing.T) {
	const ttl = 10 * time.Minute
	d := newLocalDeduper(ttl, 100)
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		name  string
		at    time.Time
		fresh bool
	}{
		{"the first mark", t0, true},
		{"a redelivery a minute later", t0.Add(time.Minute), false},
		{"a redelivery just inside the ttl", t0.Add(ttl - time.Nanosecond), false},
		{"a redelivery once the ttl has passed", t0.Add(ttl), true},
		{"a redelivery of that new mark", t0.Add(ttl + time.Second), false},
	} {
		if got := d.mark("ev-1", step.at); got != step.fresh {
			t.Errorf("%s: fresh=%v, want %v", step.name, got, step.fresh)
		}
	}
	if n := len(d.until); n != 1 {
		t.Errorf("%d ids remembered, want 1", n)
	}
}

func TestLocalDedupeForgetsTheOldestWhenFull(t *testing.T) {
	d := newLocalDeduper(time.Hour, 3)
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for i, id := range []string{"a", "b", "c", "d"} {
		if !d.mark(id, now.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("%s: not fresh", id)
		}
	}
	now = now.Add(time.Minute)
	for _, tt := range []struct {
		id    string
		fresh bool
	}{{"c", false}, {"d", false}, {"a", true}} { // a was forgotten for d, and marking it again forgets b
		if got := d.mark(tt.id, now); got != tt.fresh {
			t.Errorf("%s: fresh=%v, want %v", tt.id, got, tt.fresh)
		}
	}
	if got := d.mark("b", now); !got {
		t.Error("b: remembered past the bound")
	}
	if n, m := len(d.until), len(d.order); n != 3 || m != 3 {
		t.Errorf("%d ids and %d marks held, want 3 of each", n, m)
	}
}
