package store

import (
	"errors"
	"testing"
	"time"
)

func TestParseBucket(t *testing.T) {
	for in, want := range map[string]time.Duration{"hour": time.Hour, "Day": 24 * time.Hour, "15m": 15 * time.Minute} {
		got, err := ParseBucket(in)
		if err != nil || got != want {
			t.Errorf("ParseBucket(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseBucket("week"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseBucket(week): %v, want ErrInvalid", err)
	}
}

func TestStatsQueryBuckets(t *testing.T) {
	day := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		q        StatsQuery
		buckets  int64
		firstAt  time.Time
		wantFail bool
	}{
		{"a whole day by hour is 24 buckets", StatsQuery{From: day, To: day.Add(24 * time.Hour), Bucket: time.Hour}, 24, day, false},
		{"an unaligned start adds the bucket it falls in", StatsQuery{From: day.Add(30 * time.Minute), To: day.Add(2 * time.Hour), Bucket: time.Hour}, 2, day, false},
		{"day buckets start at midnight UTC whatever the zone of From",
			StatsQuery{From: time.Date(2025, 3, 14, 0, 30, 0, 0, time.FixedZone("CET", 3600)), To: day.Add(48 * time.Hour), Bucket: 24 * time.Hour}, 3, day.Add(-24 * time.Hour), false},
		{"1000 buckets are allowed", StatsQuery{From: day, To: day.Add(1000 * time.Minute), Bucket: time.Minute}, 1000, day, false},
		{"1001 buckets are not", StatsQuery{From: day, To: day.Add(1001 * time.Minute), Bucket: time.Minute}, 1001, day, true},
		{"a century by minute is refused", StatsQuery{From: day.AddDate(-100, 0, 0), To: day, Bucket: time.Minute}, -1, time.Time{}, true},
		{"a bucket of seconds is refused", StatsQuery{From: day, To: day.Add(time.Hour), Bucket: 90 * time.Second}, -1, time.Time{}, true},
		{"an empty range is refused", StatsQuery{From: day, To: day, Bucket: time.Hour}, -1, time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.q.Check()
			if tc.wantFail != (err != nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("Check: %v, want failure %v wrapping ErrInvalid", err, tc.wantFail)
			}
			if tc.buckets >= 0 {
				if got := tc.q.Buckets(); got != tc.buckets {
					t.Errorf("Buckets = %d, want %d", got, tc.buckets)
				}
				if got := tc.q.BucketStart(tc.q.From); !got.Equal(tc.firstAt) || got.Location() != time.UTC {
					t.Errorf("BucketStart(From) = %v, want %v in UTC", got, tc.firstAt)
				}
			}
		})
	}
}

func TestSentimentCountsBounds(t *testing.T) {
	var c SentimentCounts
	for _, avg := range []float64{-0.26, -0.25, 0, 0.25, 0.26} {
		c.Add(&Sentiment{Average: avg})
	}
	c.Add(nil)
	if want := (SentimentCounts{Negative: 1, Neutral: 3, Positive: 1, Unknown: 1}); c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
}
