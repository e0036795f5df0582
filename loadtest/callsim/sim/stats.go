package sim

import (
	"encoding/json"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Stats summarises a set of durations. Percentiles use the nearest-rank method:
// P95 is the smallest sample that at least 95 % of the samples do not exceed.
type Stats struct {
	Count int
	Mean  time.Duration
	P50   time.Duration
	P95   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// jsonStats is the stable JSON shape of Stats: milliseconds as numbers.
type jsonStats struct {
	Count  int     `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// MarshalJSON writes the stats in milliseconds (see the README for the fields).
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonStats{
		Count: s.Count, MeanMs: ms(s.Mean), P50Ms: ms(s.P50), P95Ms: ms(s.P95), P99Ms: ms(s.P99), MaxMs: ms(s.Max),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var j jsonStats
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Stats{Count: j.Count, Mean: fromMs(j.MeanMs), P50: fromMs(j.P50Ms), P95: fromMs(j.P95Ms), P99: fromMs(j.P99Ms), Max: fromMs(j.MaxMs)}
	return nil
}

// ms converts d to milliseconds rounded to the microsecond, for reports.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func fromMs(v float64) time.Duration { return time.Duration(math.Round(v * 1e6)) }

// summarize computes Stats of samples. It sorts samples in place.
func summarize(samples []time.Duration) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	return Stats{
		Count: len(samples),
		Mean:  sum / time.Duration(len(samples)),
		P50:   percentile(samples, 50),
		P95:   percentile(samples, 95),
		P99:   percentile(samples, 99),
		Max:   samples[len(samples)-1],
	}
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted
// samples: the value at rank ceil(p/100 * n).
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// histogram buckets and resolution: 100 µs up to 5 s covers jitter, latency
// and sender lag; anything longer lands in the last bucket (Max stays exact).
const (
	histResolution = 100 * time.Microsecond
	histBuckets    = int(5 * time.Second / histResolution)
)

// histogram counts durations without a lock, for figures with a sample per
// media message (jitter) or per tick (sender lag), too many to keep each one,
// and for live percentiles in the progress line. Percentiles are exact to one
// bucket (100 µs); Max and Mean are exact.
type histogram struct {
	buckets [histBuckets]atomic.Int64
	count   atomic.Int64
	sum     atomic.Int64
	max     atomic.Int64
}

// add records one sample; negative samples count as zero.
func (h *histogram) add(d time.Duration) {
	d = max(d, 0)
	i := min(int(d/histResolution), histBuckets-1)
	h.buckets[i].Add(1)
	h.count.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// percentile returns the upper edge of the bucket holding the nearest-rank
// p-th percentile, capped at the exact maximum.
func (h *histogram) percentile(p float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return min(time.Duration(i+1)*histResolution, time.Duration(h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// stats summarises the histogram.
func (h *histogram) stats() Stats {
	n := h.count.Load()
	if n == 0 {
		return Stats{}
	}
	return Stats{
		Count: int(n),
		Mean:  time.Duration(h.sum.Load() / n),
		P50:   h.percentile(50),
		P95:   h.percentile(95),
		P99:   h.percentile(99),
		Max:   time.Duration(h.max.Load()),
	}
}
