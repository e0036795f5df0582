package sim

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"no samples give zero", nil, 50, 0},
		{"one sample is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"the median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p95 of 20 is the 19th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19 * time.Millisecond},
		{"p99 of 20 is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 99, 20 * time.Millisecond},
		{"p100 is the largest", ms(1, 5, 9), 100, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	s := summarize(samples)
	want := Stats{Count: 100, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond, P95: 95 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if s != want {
		t.Errorf("summarize = %+v, want %+v", s, want)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"count":100,"mean_ms":50.5,"p50_ms":50,"p95_ms":95,"p99_ms":99,"max_ms":100}` {
		t.Errorf("json %s", b)
	}
	var back Stats
	if err := json.Unmarshal(b, &back); err != nil || back != s {
		t.Errorf("round trip %+v, %v", back, err)
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	if h.stats() != (Stats{}) {
		t.Error("empty histogram has stats")
	}
	for i := range 1000 {
		h.add(time.Duration(i) * time.Millisecond / 10) // 0 .. 99.9 ms
	}
	h.add(-time.Second) // counts as zero
	h.add(time.Hour)    // beyond the last bucket: max stays exact
	s := h.stats()
	if s.Count != 1002 || s.Max != time.Hour {
		t.Errorf("count %d max %v", s.Count, s.Max)
	}
	// Nearest rank 501 of 1002 is the sample 49.9 ms, reported as the upper
	// edge of its 100 µs bucket.
	if s.P50 != 50*time.Millisecond {
		t.Errorf("p50 %v, want 50ms", s.P50)
	}
	// Rank 992 is the sample 99.0 ms, in the bucket [99.0, 99.1).
	if s.P99 != 99100*time.Microsecond {
		t.Errorf("p99 %v, want 99.1ms", s.P99)
	}
}

// Jitter is measured against the playout schedule: an agent that sends a
// 200 ms lead at once and then paces exactly has none; a message that finds
// less audio queued than the best-served one counts by the difference.
func TestJitterAgainstPlayout(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	c := &call{col: &collector{}, cfg: &Config{}, res: CallResult{}}
	c.started = t0
	msg := func(ms int) { c.onMedia(t0.Add(time.Duration(ms)*time.Millisecond), 100*time.Millisecond, nil) }
	// Lead burst: three 100 ms chunks at once, then one every 100 ms.
	msg(0)
	msg(0)
	msg(0)
	msg(100)
	msg(200)
	if j := c.col.jitter.stats(); j.Max != 0 || j.Count != 4 {
		t.Errorf("paced with a lead: jitter %+v, want 4 samples of 0", j)
	}
	// 30 ms late: it finds 170 ms queued instead of 200.
	msg(330)
	if c.res.JitterMax != 30*time.Millisecond || c.res.Underruns != 0 {
		t.Errorf("late message: jitter max %v underruns %d", c.res.JitterMax, c.res.Underruns)
	}
	// 300 ms later still: the queue (ending at 600) ran dry 100 ms before.
	msg(700)
	if c.res.Underruns != 1 || c.res.UnderrunTime != 100*time.Millisecond || c.res.JitterMax != 200*time.Millisecond {
		t.Errorf("underrun: %d, %v, jitter max %v", c.res.Underruns, c.res.UnderrunTime, c.res.JitterMax)
	}
}
