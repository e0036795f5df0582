package storetest

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// statsCall is a call of the statistics fixture: its start, status,
// outcome, duration, average sentiment (nil: none) and the reply latencies
// of its agent turns (a nil *Latency: a turn without one).
type statsCall struct {
	agent     store.AgentID
	start     time.Time
	status    store.CallStatus
	outcome   store.Outcome
	seconds   int
	sentiment *float64
	latencies []*store.Latency
}

func (f fixture) statsCall(t *testing.T, sc statsCall) {
	t.Helper()
	c := store.Call{AgentID: sc.agent, StartedAt: sc.start, Status: sc.status, Outcome: sc.outcome,
		Duration: time.Duration(sc.seconds) * time.Second}
	if sc.status == store.CallEnded {
		c.EndedAt = ptr(sc.start.Add(c.Duration))
	}
	if sc.sentiment != nil {
		c.Sentiment = &store.Sentiment{Average: *sc.sentiment, Min: -1, Last: *sc.sentiment, Turns: 2}
	}
	c = f.call(t, c)
	// A caller turn (never counted for latency) before each agent turn.
	var turns []store.Turn
	for i, l := range sc.latencies {
		at := sc.start.Add(time.Duration(i) * 10 * time.Second)
		caller := turn(2*i+1, store.SpeakerCaller, "a question", at)
		caller.Sentiment = ptr(0.0)
		caller.Latency = &store.Latency{OverheadMs: 77777} // a caller turn's latency is not a reply's
		agent := turn(2*i+2, store.SpeakerAgent, "an answer", at.Add(5*time.Second))
		agent.Latency = l
		turns = append(turns, caller, agent)
	}
	if len(turns) > 0 {
		ok(t, f.s.AppendTurns(t.Context(), f.org.ID, c.ID, turns))
	}
}

func lat(ms int) *store.Latency { return &store.Latency{LLMFirstToken: ms} }

func testCallStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	a2 := must(s.CreateAgent(ctx, store.Agent{OrgID: a.org.ID, Name: "A second agent"})).of(t).ID
	b := newFixture(t, s, "B")

	h9 := base.Truncate(time.Hour) // 09:00, the bucket of base (09:26:53.589793)
	from, to := base, h9.Add(4*time.Hour)
	ended := store.CallEnded
	for _, sc := range []statsCall{
		// Bucket 09:00. Reply latencies 700 (every stage), 5 (overhead
		// only), 1000 and 400; a turn without latency and one whose stages
		// are all zero are left out.
		{start: base.Add(time.Minute), status: ended, outcome: store.OutcomeResolved, seconds: 60, sentiment: ptr(0.5),
			latencies: []*store.Latency{{EndpointMs: 300, STTMs: 60, LLMFirstToken: 200, LLMFirstSentenceMs: 40, TTSFirstByteMs: 100}, {OverheadMs: 5}}},
		{start: base.Add(2 * time.Minute), status: ended, outcome: store.OutcomeEscalated, seconds: 120, sentiment: ptr(-0.6),
			latencies: []*store.Latency{lat(1000), nil, {}}},
		{start: base.Add(3 * time.Minute), status: store.CallActive, latencies: []*store.Latency{lat(400)}},
		// In the 09:00 bucket but before From.
		{start: base.Add(-time.Minute), status: ended, outcome: store.OutcomeResolved, seconds: 9, latencies: []*store.Latency{lat(9999)}},
		// Bucket 10:00: sentiments on the neutral bounds.
		{agent: a2, start: h9.Add(90 * time.Minute), status: ended, outcome: store.OutcomeAbandoned, seconds: 30, sentiment: ptr(-0.25)},
		{start: h9.Add(100 * time.Minute), status: ended, outcome: store.OutcomeFailed, seconds: 90, sentiment: ptr(0.25)},
		// No call at 11:00. Bucket 12:00.
		{start: h9.Add(190 * time.Minute), status: ended, outcome: store.OutcomeResolved, seconds: 200, sentiment: ptr(0.1),
			latencies: []*store.Latency{lat(250)}},
		// At To: left out.
		{start: to, status: ended, outcome: store.OutcomeFailed, seconds: 1, latencies: []*store.Latency{lat(1)}},
	} {
		if sc.agent == "" {
			sc.agent = a.agent.ID
		}
		a.statsCall(t, sc)
	}
	// Another organization's calls in the same hours are never counted.
	for i := range 3 {
		b.statsCall(t, statsCall{agent: b.agent.ID, start: base.Add(time.Duration(i) * time.Minute), status: ended,
			outcome: store.OutcomeFailed, seconds: 5, sentiment: ptr(-1.0), latencies: []*store.Latency{lat(3)}})
	}

	bucket := func(start time.Time, calls, ended int, outcomes [4]int, avg float64, sent store.SentimentCounts, l store.LatencyPercentiles) store.StatsBucket {
		b := store.NewStatsBucket(start)
		b.Calls, b.Ended, b.AvgDurationSeconds, b.Sentiment, b.Latency = calls, ended, avg, sent, l
		for i, o := range []store.Outcome{store.OutcomeResolved, store.OutcomeEscalated, store.OutcomeAbandoned, store.OutcomeFailed} {
			b.Outcomes[o] = outcomes[i]
		}
		b.SetRates()
		return b
	}

	t.Run("by hour, empty hours omitted", func(t *testing.T) {
		got := must(s.CallStats(ctx, a.org.ID, store.StatsQuery{From: from, To: to, Bucket: store.BucketHour})).of(t)
		sameStats(t, got, []store.StatsBucket{
			// Latencies 5, 400, 700, 1000: p50 at rank 1.5, p95 at 2.85, p99 at 2.97.
			bucket(h9, 3, 2, [4]int{1, 1, 0, 0}, 90, store.SentimentCounts{Negative: 1, Positive: 1, Unknown: 1},
				store.LatencyPercentiles{Turns: 4, P50: 550, P95: 955, P99: 991}),
			bucket(h9.Add(time.Hour), 2, 2, [4]int{0, 0, 1, 1}, 60, store.SentimentCounts{Neutral: 2}, store.LatencyPercentiles{}),
			bucket(h9.Add(3*time.Hour), 1, 1, [4]int{1, 0, 0, 0}, 200, store.SentimentCounts{Neutral: 1},
				store.LatencyPercentiles{Turns: 1, P50: 250, P95: 250, P99: 250}),
		})
		if r := got[0]; !near(r.EscalationRate, 0.5) || !near(r.ResolutionRate, 0.5) {
			t.Errorf("09:00 rates: escalation %v, resolution %v, want 0.5 and 0.5 of the ended calls", r.EscalationRate, r.ResolutionRate)
		}
	})
	t.Run("by day", func(t *testing.T) {
		got := must(s.CallStats(ctx, a.org.ID, store.StatsQuery{From: from, To: to, Bucket: store.BucketDay})).of(t)
		// Latencies 5, 250, 400, 700, 1000.
		sameStats(t, got, []store.StatsBucket{
			bucket(base.Truncate(24*time.Hour), 6, 5, [4]int{2, 1, 1, 1}, 100,
				store.SentimentCounts{Negative: 1, Neutral: 3, Positive: 1, Unknown: 1},
				store.LatencyPercentiles{Turns: 5, P50: 400, P95: 940, P99: 988}),
		})
		if len(got) == 1 && (!near(got[0].EscalationRate, 0.2) || !near(got[0].ResolutionRate, 0.4)) {
			t.Errorf("rates: escalation %v, resolution %v, want 0.2 and 0.4", got[0].EscalationRate, got[0].ResolutionRate)
		}
	})
	t.Run("of one agent", func(t *testing.T) {
		got := must(s.CallStats(ctx, a.org.ID, store.StatsQuery{From: from, To: to, Bucket: store.BucketHour, AgentID: a2})).of(t)
		sameStats(t, got, []store.StatsBucket{
			bucket(h9.Add(time.Hour), 1, 1, [4]int{0, 0, 1, 0}, 30, store.SentimentCounts{Neutral: 1}, store.LatencyPercentiles{}),
		})
	})
	t.Run("in 15-minute buckets", func(t *testing.T) {
		got := must(s.CallStats(ctx, a.org.ID, store.StatsQuery{From: from, To: to, Bucket: 15 * time.Minute})).of(t)
		var starts []time.Time
		for _, b := range got {
			starts = append(starts, b.Start)
		}
		// 09:27-09:29, 10:30 and 10:40, 12:10.
		same(t, "bucket starts", starts, []time.Time{h9.Add(15 * time.Minute), h9.Add(90 * time.Minute), h9.Add(180 * time.Minute)})
	})
	t.Run("of another organization", func(t *testing.T) {
		got := must(s.CallStats(ctx, b.org.ID, store.StatsQuery{From: from, To: to, Bucket: store.BucketHour})).of(t)
		if len(got) != 1 || got[0].Calls != 3 || got[0].Outcomes[store.OutcomeFailed] != 3 || got[0].Latency.Turns != 3 {
			t.Errorf("B's stats %+v, want its 3 calls only", got)
		}
	})
	t.Run("with no calls", func(t *testing.T) {
		got := must(s.CallStats(ctx, a.org.ID, store.StatsQuery{From: to.Add(time.Hour), To: to.Add(5 * time.Hour), Bucket: store.BucketHour})).of(t)
		if len(got) != 0 {
			t.Errorf("stats of an empty range: %+v", got)
		}
	})
	t.Run("predictions are scored over the ended calls with a prediction and an outcome", func(t *testing.T) {
		c := newFixture(t, s, "C")
		d := newFixture(t, s, "D")
		c2 := must(s.CreateAgent(ctx, store.Agent{OrgID: c.org.ID, Name: "C second agent"})).of(t).ID
		// finish ends a call of f that started at start, predicted res
		// (none when negative); a hang-up ends it first when hungUp is set,
		// and the prediction comes with the session's finish after it.
		finish := func(f fixture, agent store.AgentID, start time.Time, o store.Outcome, res float64, hungUp bool) {
			t.Helper()
			call := f.call(t, store.Call{AgentID: agent, StartedAt: start})
			end := store.CallEnd{OrgID: f.org.ID, CallID: call.ID, EndedAt: start.Add(time.Minute), Outcome: o}
			if hungUp {
				must(s.FinishCall(ctx, end)).of(t)
			}
			if res >= 0 {
				end.Prediction = &store.CallPrediction{Resolution: res, EscalationRisk: 1 - res, ModelVersion: 1,
					Features: json.RawMessage(`{"turns":3}`)}
			}
			must(s.FinishCall(ctx, end)).of(t)
		}
		// Bucket 09:00: four scored calls (right, right at one half, wrong,
		// right), squared errors 0.01, 0.25, 0.49 and 0.04.
		finish(c, c.agent.ID, base.Add(time.Minute), store.OutcomeResolved, 0.9, false)
		finish(c, c.agent.ID, base.Add(2*time.Minute), store.OutcomeResolved, 0.5, true)
		finish(c, c.agent.ID, base.Add(3*time.Minute), store.OutcomeEscalated, 0.7, false)
		finish(c, c2, base.Add(4*time.Minute), store.OutcomeAbandoned, 0.2, false)
		// Not scored: no prediction, no outcome, not ended, before From.
		finish(c, c.agent.ID, base.Add(5*time.Minute), store.OutcomeResolved, -1, false)
		finish(c, c.agent.ID, base.Add(6*time.Minute), store.OutcomeNone, 0.9, false)
		c.call(t, store.Call{StartedAt: base.Add(7 * time.Minute)})
		finish(c, c.agent.ID, base.Add(-time.Minute), store.OutcomeResolved, 0.0, false)
		// Bucket 10:00: one right (a failed call predicted 0, error 0).
		finish(c, c.agent.ID, h9.Add(70*time.Minute), store.OutcomeFailed, 0, false)
		// Bucket 11:00: calls, none scored.
		finish(c, c.agent.ID, h9.Add(130*time.Minute), store.OutcomeResolved, -1, false)
		// Another organization's predictions in the same hour, all wrong.
		for i := range 3 {
			finish(d, d.agent.ID, base.Add(time.Duration(i)*time.Minute), store.OutcomeResolved, 0, false)
		}

		pred := func(start time.Time, calls, ended int, outcomes [4]int, sent store.SentimentCounts, p store.PredictionStats) store.StatsBucket {
			b := bucket(start, calls, ended, outcomes, 60, sent, store.LatencyPercentiles{})
			b.Prediction = p
			return b
		}
		got := must(s.CallStats(ctx, c.org.ID, store.StatsQuery{From: from, To: to, Bucket: store.BucketHour})).of(t)
		sameStats(t, got, []store.StatsBucket{
			pred(h9, 7, 6, [4]int{3, 1, 1, 0}, store.SentimentCounts{Unknown: 7},
				store.PredictionStats{Predicted: 4, Accuracy: 0.75, Brier: (0.01 + 0.25 + 0.49 + 0.04) / 4}),
			pred(h9.Add(time.Hour), 1, 1, [4]int{0, 0, 0, 1}, store.SentimentCounts{Unknown: 1},
				store.PredictionStats{Predicted: 1, Accuracy: 1, Brier: 0}),
			pred(h9.Add(2*time.Hour), 1, 1, [4]int{1, 0, 0, 0}, store.SentimentCounts{Unknown: 1}, store.PredictionStats{}),
		})
		got = must(s.CallStats(ctx, c.org.ID, store.StatsQuery{From: from, To: to, Bucket: store.BucketHour, AgentID: c2})).of(t)
		sameStats(t, got, []store.StatsBucket{
			pred(h9, 1, 1, [4]int{0, 0, 1, 0}, store.SentimentCounts{Unknown: 1}, store.PredictionStats{Predicted: 1, Accuracy: 1, Brier: 0.04}),
		})
		got = must(s.CallStats(ctx, d.org.ID, store.StatsQuery{From: from, To: to, Bucket: store.BucketHour})).of(t)
		sameStats(t, got, []store.StatsBucket{
			pred(h9, 3, 3, [4]int{3, 0, 0, 0}, store.SentimentCounts{Unknown: 3}, store.PredictionStats{Predicted: 3, Accuracy: 0, Brier: 1}),
		})
	})
	t.Run("bad queries are ErrInvalid", func(t *testing.T) {
		h := time.Hour
		for name, q := range map[string]store.StatsQuery{
			"from equal to to":        {From: from, To: from, Bucket: h},
			"from after to":           {From: to, To: from, Bucket: h},
			"no from":                 {To: to, Bucket: h},
			"no bucket":               {From: from, To: to},
			"a bucket under a minute": {From: from, To: to, Bucket: 30 * time.Second},
			"a bucket of 90 seconds":  {From: from, To: to, Bucket: 90 * time.Second},
			"1001 buckets":            {From: h9, To: h9.Add(1001 * h), Bucket: h},
			"1001 buckets touched":    {From: base, To: h9.Add(1000 * h).Add(time.Microsecond), Bucket: h},
		} {
			_, err := s.CallStats(ctx, a.org.ID, q)
			wantErr(t, name, err, store.ErrInvalid)
		}
		_, err := s.CallStats(ctx, a.org.ID, store.StatsQuery{From: base, To: h9.Add(1000 * h), Bucket: h})
		ok(t, err)
	})
}

// sameStats compares buckets, floats to 1e-4.
func sameStats(t *testing.T, got, want []store.StatsBucket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d buckets, want %d:\n got  %+v\n want %+v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		floats := [][2]float64{{g.AvgDurationSeconds, w.AvgDurationSeconds}, {g.EscalationRate, w.EscalationRate},
			{g.ResolutionRate, w.ResolutionRate}, {g.Latency.P50, w.Latency.P50}, {g.Latency.P95, w.Latency.P95}, {g.Latency.P99, w.Latency.P99},
			{g.Prediction.Accuracy, w.Prediction.Accuracy}, {g.Prediction.Brier, w.Prediction.Brier}}
		close := true
		for _, f := range floats {
			close = close && near(f[0], f[1])
		}
		if !g.Start.Equal(w.Start) || g.Start.Location() != time.UTC || g.Calls != w.Calls || g.Ended != w.Ended ||
			g.Sentiment != w.Sentiment || g.Latency.Turns != w.Latency.Turns || g.Prediction.Predicted != w.Prediction.Predicted ||
			!close || !maps.Equal(g.Outcomes, w.Outcomes) {
			t.Errorf("bucket %d:\n got  %+v\n want %+v", i, g, w)
		}
	}
}
