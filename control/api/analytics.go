package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/sync/singleflight"

	"github.com/iace/iace/store"
)

type analyticsInput struct {
	From    time.Time `query:"from" required:"true" doc:"Start of the period (RFC 3339), inclusive"`
	To      time.Time `query:"to" required:"true" doc:"End of the period (RFC 3339), exclusive"`
	Bucket  string    `query:"bucket" default:"hour" maxLength:"10" doc:"hour, day, or minutes such as 15m"`
	AgentID string    `query:"agent_id" maxLength:"100"`
}

type outcomesBody struct {
	Resolved  int `json:"resolved"`
	Escalated int `json:"escalated"`
	Abandoned int `json:"abandoned"`
	Failed    int `json:"failed"`
}

type bucketBody struct {
	Start              time.Time                `json:"start"`
	Calls              int                      `json:"calls"`
	Ended              int                      `json:"ended"`
	Outcomes           outcomesBody             `json:"outcomes"`
	AvgDurationSeconds float64                  `json:"avg_duration_seconds"`
	EscalationRate     float64                  `json:"escalation_rate"`
	ResolutionRate     float64                  `json:"resolution_rate"`
	Sentiment          store.SentimentCounts    `json:"sentiment"`
	Latency            store.LatencyPercentiles `json:"latency" doc:"Agent reply latency percentiles, ms"`
	Prediction         predictionStatsBody      `json:"prediction" doc:"How well the outcome predictions of the bucket's ended calls came true"`
}

type analyticsOutput struct {
	Body struct {
		Bucket  string       `json:"bucket"`
		Buckets []bucketBody `json:"buckets" doc:"Buckets without calls are omitted"`
	}
}

func (a *API) analyticsRoutes() {
	o := op("analytics", http.MethodGet, "/analytics", "Call statistics by time bucket", "analytics", store.RoleSupervisor)
	o.Description = "Calls, outcomes, average duration, escalation and resolution rates, sentiment distribution, reply latency percentiles " +
		"and how well the outcome predictions came true. Answers are cached for a few seconds."
	huma.Register(a.huma, o, func(ctx context.Context, in *analyticsInput) (*analyticsOutput, error) {
		if a.deps.Stats == nil {
			return nil, huma.Error503ServiceUnavailable("analytics are not available")
		}
		width, err := store.ParseBucket(in.Bucket)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity(invalidDetail(err))
		}
		q := store.StatsQuery{From: in.From.UTC(), To: in.To.UTC(), Bucket: width, AgentID: store.AgentID(in.AgentID)}
		if err := q.Check(); err != nil {
			return nil, huma.Error422UnprocessableEntity(invalidDetail(err))
		}
		org := principal(ctx).OrgID
		buckets, hit, err := a.stats.get(ctx, org, q, a.deps.Stats)
		if err != nil {
			return nil, a.storeError(ctx, "analytics", err)
		}
		if hit {
			a.metrics.statsCache.WithLabelValues("hit").Inc()
		} else {
			a.metrics.statsCache.WithLabelValues("miss").Inc()
		}
		out := &analyticsOutput{}
		out.Body.Bucket = width.String()
		out.Body.Buckets = make([]bucketBody, 0, len(buckets))
		for _, b := range buckets {
			out.Body.Buckets = append(out.Body.Buckets, bucketBody{
				Start: b.Start, Calls: b.Calls, Ended: b.Ended,
				Outcomes: outcomesBody{Resolved: b.Outcomes[store.OutcomeResolved], Escalated: b.Outcomes[store.OutcomeEscalated],
					Abandoned: b.Outcomes[store.OutcomeAbandoned], Failed: b.Outcomes[store.OutcomeFailed]},
				AvgDurationSeconds: b.AvgDurationSeconds, EscalationRate: b.EscalationRate, ResolutionRate: b.ResolutionRate,
				Sentiment: b.Sentiment, Latency: b.Latency,
				Prediction: predictionStatsBody{Predicted: b.Prediction.Predicted, Accuracy: b.Prediction.Accuracy, Brier: b.Prediction.Brier},
			})
		}
		return out, nil
	})
}

// statsCache keeps analytics answers for a short time: dashboards poll the
// same query, and a few seconds of staleness is fine for statistics.
// Concurrent misses of one query share one store read (singleflight): a
// month of statistics is one of the heaviest queries, and a dashboard
// refresh must not start it once per viewer.
type statsCache struct {
	ttl    time.Duration
	flight singleflight.Group
	mu     sync.Mutex
	m      map[statsKey]statsEntry
}

type statsKey struct {
	org store.OrgID
	q   store.StatsQuery
}

type statsEntry struct {
	at      time.Time
	buckets []store.StatsBucket
}

// maxStatsEntries bounds the cache; it is cleared when full.
const maxStatsEntries = 1024

func newStatsCache(ttl time.Duration) *statsCache {
	return &statsCache{ttl: ttl, m: make(map[statsKey]statsEntry)}
}

// get answers q from the cache or from src, and reports whether it was a
// hit (a read shared with a concurrent miss counts as one).
func (c *statsCache) get(ctx context.Context, org store.OrgID, q store.StatsQuery, src Stats) ([]store.StatsBucket, bool, error) {
	key := statsKey{org: org, q: q}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.buckets, true, nil
	}
	fk := string(org) + "|" + q.From.Format(time.RFC3339Nano) + "|" + q.To.Format(time.RFC3339Nano) + "|" + q.Bucket.String() + "|" + string(q.AgentID)
	led := false // this request ran the read; the others shared it
	v, err, _ := c.flight.Do(fk, func() (any, error) {
		led = true
		// The read outlives one caller's cancellation: others wait on it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statsReadTimeout)
		defer cancel()
		buckets, err := src.CallStats(rctx, org, q)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if len(c.m) >= maxStatsEntries {
			clear(c.m)
		}
		c.m[key] = statsEntry{at: time.Now(), buckets: buckets}
		c.mu.Unlock()
		return buckets, nil
	})
	if err != nil {
		return nil, false, err
	}
	return v.([]store.StatsBucket), !led, nil
}

// statsReadTimeout bounds one statistics query.
const statsReadTimeout = 10 * time.Second
