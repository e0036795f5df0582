package embedded

import (
	"context"
	"database/sql"
	"math"
	"slices"

	"github.com/iace/iace/store"
)

// statsSelect reads the calls of a statistics query, each joined with the
// reply latency of its agent turns (one row per such turn, or one row with
// a NULL latency for a call without any), ordered by call so that a call's
// rows are adjacent. One query, so calls and turns are one snapshot.
const statsSelect = `SELECT c.id, c.started_at, c.status, c.outcome, c.duration_us,
		json_extract(c.sentiment, '$.average'), t.ms,
		CASE WHEN c.status = 'ended' AND c.outcome <> '' THEN json_extract(c.prediction, '$.resolution') END
	FROM calls c
	LEFT JOIN (SELECT call_id, org_id,
			coalesce(json_extract(latency, '$.endpoint_ms'), 0) + coalesce(json_extract(latency, '$.stt_ms'), 0) +
			coalesce(json_extract(latency, '$.llm_first_token_ms'), 0) + coalesce(json_extract(latency, '$.tts_first_byte_ms'), 0) +
			coalesce(json_extract(latency, '$.llm_first_sentence_ms'), 0) + coalesce(json_extract(latency, '$.overhead_ms'), 0) AS ms
		FROM turns WHERE speaker = 'agent' AND latency IS NOT NULL) t
		ON t.org_id = c.org_id AND t.call_id = c.id AND t.ms > 0
	WHERE c.org_id = ? AND c.started_at >= ? AND c.started_at < ?`

// CallStats counts the organization's calls by time bucket. It reads the
// calls of the range (by the calls_started or calls_agent index) and
// aggregates them in Go.
func (s *Store) CallStats(ctx context.Context, org store.OrgID, q store.StatsQuery) ([]store.StatsBucket, error) {
	const op = "call stats"
	if err := q.Check(); err != nil {
		return nil, checked(op, err)
	}
	query, args := statsSelect, []any{org, micros(norm(q.From)), micros(norm(q.To))}
	if q.AgentID != "" {
		query += ` AND c.agent_id = ?`
		args = append(args, q.AgentID)
	}
	rows, err := s.query(ctx, query+` ORDER BY c.id`, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	agg := newStatsAgg(q)
	var (
		lastID string
		row    statsRow
	)
	for rows.Next() {
		if err := rows.Scan(&row.id, &row.started, &row.status, &row.outcome, &row.durationUs, &row.avg, &row.ms, &row.pres); err != nil {
			_ = rows.Close()
			return nil, mapErr(op, err)
		}
		agg.add(&row, row.id != lastID)
		lastID = row.id
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return nil, mapErr(op, err)
	}
	if err := rows.Close(); err != nil {
		return nil, mapErr(op, err)
	}
	return agg.buckets(), nil
}

// statsRow is a row of statsSelect.
type statsRow struct {
	id         string
	started    int64
	status     store.CallStatus
	outcome    store.Outcome
	durationUs int64
	avg        sql.NullFloat64 // the sentiment's average; NULL without sentiment
	ms         sql.NullFloat64
	// pres is the predicted resolution of an ended call with an outcome;
	// NULL for the other calls and those without a prediction.
	pres sql.NullFloat64
}

// statsAgg accumulates the buckets of one query.
type statsAgg struct {
	q     store.StatsQuery
	by    map[int64]*bucketAgg // by bucket start, Unix microseconds
	order []int64
}

type bucketAgg struct {
	b          store.StatsBucket
	durationUs int64 // sum over the ended calls
	latencies  []float64
	hits       int     // predictions that came true
	sqErr      float64 // sum of the predictions' squared errors
}

func newStatsAgg(q store.StatsQuery) *statsAgg {
	return &statsAgg{q: q, by: map[int64]*bucketAgg{}}
}

// add counts a row: the call itself when first is set (its first row), and
// its turn's latency when it has one.
func (a *statsAgg) add(r *statsRow, first bool) {
	start := a.q.BucketStart(fromMicros(r.started))
	k := start.UnixMicro()
	ba := a.by[k]
	if ba == nil {
		ba = &bucketAgg{b: store.NewStatsBucket(start)}
		a.by[k] = ba
		a.order = append(a.order, k)
	}
	if r.ms.Valid {
		ba.latencies = append(ba.latencies, r.ms.Float64)
	}
	if !first {
		return
	}
	b := &ba.b
	b.Calls++
	if r.status == store.CallEnded {
		b.Ended++
		ba.durationUs += r.durationUs
		if r.outcome != store.OutcomeNone {
			b.Outcomes[r.outcome]++
		}
	}
	if r.pres.Valid {
		resolved := r.outcome == store.OutcomeResolved
		b.Prediction.Predicted++
		if (r.pres.Float64 >= 0.5) == resolved {
			ba.hits++
		}
		y := 0.0
		if resolved {
			y = 1
		}
		ba.sqErr += (r.pres.Float64 - y) * (r.pres.Float64 - y)
	}
	var sent *store.Sentiment
	if r.avg.Valid {
		sent = &store.Sentiment{Average: r.avg.Float64}
	}
	b.Sentiment.Add(sent)
}

// buckets finishes the buckets, in time order.
func (a *statsAgg) buckets() []store.StatsBucket {
	slices.Sort(a.order)
	out := make([]store.StatsBucket, 0, len(a.order))
	for _, k := range a.order {
		ba := a.by[k]
		b := ba.b
		if b.Ended > 0 {
			b.AvgDurationSeconds = float64(ba.durationUs) / float64(b.Ended) / 1e6
		}
		b.SetRates()
		if n := b.Prediction.Predicted; n > 0 {
			b.Prediction.Accuracy = float64(ba.hits) / float64(n)
			b.Prediction.Brier = ba.sqErr / float64(n)
		}
		if n := len(ba.latencies); n > 0 {
			slices.Sort(ba.latencies)
			b.Latency = store.LatencyPercentiles{Turns: n,
				P50: percentile(ba.latencies, 0.50), P95: percentile(ba.latencies, 0.95), P99: percentile(ba.latencies, 0.99)}
		}
		out = append(out, b)
	}
	return out
}

// percentile of sorted values, interpolated linearly between the closest
// ranks as PostgreSQL's percentile_cont does.
func percentile(sorted []float64, p float64) float64 {
	pos := p * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[lo+1]-sorted[lo])
}
