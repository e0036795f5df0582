package store

import (
	"strings"
	"time"
)

// Bucket widths that StatsQuery.Bucket commonly takes.
const (
	BucketHour = time.Hour
	BucketDay  = 24 * time.Hour
)

// MaxStatsBuckets caps the buckets one StatsQuery may span.
const MaxStatsBuckets = 1000

// Sentiment thresholds of the call statistics: a call whose average caller
// sentiment is below SentimentNegativeBelow is negative, above
// SentimentPositiveAbove positive, and neutral in between (bounds included).
const (
	SentimentNegativeBelow = -0.25
	SentimentPositiveAbove = 0.25
)

// StatsQuery asks CallStats for an organization's calls started in
// [From, To), counted by time bucket.
//
// Buckets are Bucket wide and aligned on the Unix epoch in UTC (an hour
// bucket starts on the hour, a day bucket at midnight UTC), so the first
// bucket may start before From; it still counts only calls from From on.
type StatsQuery struct {
	From, To time.Time
	// Bucket is the width of a bucket: a whole number of minutes, at least
	// one (BucketHour, BucketDay, 15*time.Minute...).
	Bucket time.Duration
	// AgentID, when set, counts only that agent's calls.
	AgentID AgentID
}

// ParseBucket reads a bucket width as an API gives it: "hour", "day", or a
// Go duration such as "15m" (checked by StatsQuery.Check).
func ParseBucket(s string) (time.Duration, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "hour":
		return BucketHour, nil
	case "day":
		return BucketDay, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, invalidf("bucket %q: want hour, day or a duration such as 15m", s)
	}
	return d, nil
}

// Check applies the rules of a statistics query: From before To, a bucket
// of whole minutes, and at most MaxStatsBuckets buckets. Its error wraps
// ErrInvalid.
func (q StatsQuery) Check() error {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return invalidf("stats: from and to are required")
	case !q.From.Before(q.To):
		return invalidf("stats: from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	case q.Bucket < time.Minute || q.Bucket%time.Minute != 0:
		return invalidf("stats: bucket %v is not a whole number of minutes", q.Bucket)
	}
	if n := q.Buckets(); n > MaxStatsBuckets {
		return invalidf("stats: %d buckets of %v between from and to, at most %d", n, q.Bucket, MaxStatsBuckets)
	}
	return nil
}

// BucketStart is the start of the bucket that holds t.
func (q StatsQuery) BucketStart(t time.Time) time.Time {
	us := t.UnixMicro()
	w := q.Bucket.Microseconds()
	r := us % w
	if r < 0 {
		r += w
	}
	return time.UnixMicro(us - r).UTC()
}

// Buckets is how many buckets [From, To) touches. It assumes Bucket is
// positive.
func (q StatsQuery) Buckets() int64 {
	last := q.BucketStart(q.To.Add(-time.Microsecond))
	first := q.BucketStart(q.From)
	return int64(last.Sub(first)/q.Bucket) + 1
}

// SentimentCounts counts calls by their average caller sentiment (see
// SentimentNegativeBelow); Unknown calls have no sentiment summary.
type SentimentCounts struct {
	Negative int `json:"negative"`
	Neutral  int `json:"neutral"`
	Positive int `json:"positive"`
	Unknown  int `json:"unknown"`
}

// Add counts one call with the sentiment summary s (nil: unknown).
func (c *SentimentCounts) Add(s *Sentiment) {
	switch {
	case s == nil:
		c.Unknown++
	case s.Average < SentimentNegativeBelow:
		c.Negative++
	case s.Average > SentimentPositiveAbove:
		c.Positive++
	default:
		c.Neutral++
	}
}

// LatencyPercentiles are the percentiles of the agent's reply latency over
// the agent turns of a bucket's calls, in milliseconds, interpolated
// linearly between the closest ranks (PostgreSQL's percentile_cont).
//
// A turn's reply latency is the sum of the stages its Latency records
// (endpointing, STT, LLM first token and first sentence, TTS first byte,
// IACE overhead): a
// turn that records only some stages counts those. Turns with no latency
// recorded (none, or every stage zero) are left out; Turns counts the rest,
// and with none the percentiles are 0.
type LatencyPercentiles struct {
	Turns int     `json:"turns"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
}

// Total is the reply latency a turn's stages add up to, in milliseconds.
func (l *Latency) Total() int {
	if l == nil {
		return 0
	}
	return l.EndpointMs + l.STTMs + l.LLMFirstToken + l.LLMFirstSentenceMs + l.TTSFirstByteMs + l.OverheadMs
}

// StatsBucket is the statistics of the calls that started in one bucket.
type StatsBucket struct {
	// Start is the start of the bucket, in UTC.
	Start time.Time
	// Calls started in the bucket (and in [From, To)), whatever their status.
	Calls int
	// Ended is how many of them have ended.
	Ended int
	// Outcomes counts the ended calls by outcome; every outcome but
	// OutcomeNone has an entry, zero included.
	Outcomes map[Outcome]int
	// AvgDurationSeconds is the mean duration of the ended calls (0 when
	// none has ended).
	AvgDurationSeconds float64
	// EscalationRate and ResolutionRate are the shares of the ended calls
	// escalated and resolved, 0..1 (0 when none has ended).
	EscalationRate float64
	ResolutionRate float64
	// Sentiment counts the bucket's calls by average caller sentiment.
	Sentiment SentimentCounts
	// Latency is the agent's reply latency over the bucket's calls.
	Latency LatencyPercentiles
	// Prediction is how well the calls' outcome predictions came true.
	Prediction PredictionStats
}

// NewStatsBucket is an empty bucket starting at start, its Outcomes map
// holding a zero for every outcome.
func NewStatsBucket(start time.Time) StatsBucket {
	return StatsBucket{Start: start.UTC(), Outcomes: map[Outcome]int{
		OutcomeResolved: 0, OutcomeEscalated: 0, OutcomeAbandoned: 0, OutcomeFailed: 0,
	}}
}

// SetRates fills EscalationRate and ResolutionRate from Ended and Outcomes.
func (b *StatsBucket) SetRates() {
	b.EscalationRate, b.ResolutionRate = 0, 0
	if b.Ended > 0 {
		b.EscalationRate = float64(b.Outcomes[OutcomeEscalated]) / float64(b.Ended)
		b.ResolutionRate = float64(b.Outcomes[OutcomeResolved]) / float64(b.Ended)
	}
}
