package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/iace/iace/store"
)

// statsSQL computes every bucket in one statement: c picks the calls (by
// calls_started or calls_agent, both led by org_id) with their bucket,
// cs aggregates them with FILTER clauses, ts takes the percentiles of the
// agent turns' reply latency (the sum of the stages present, as
// store.Latency.Total) through the turns primary key.
//
// The predictions are those of the ended calls with an outcome: pres is
// their predicted resolution (NULL otherwise) and hit whether it came true
// (store.PredictionStats).
//
// $1 org, $2 from, $3 to, $4 bucket width in microseconds, $5 and $6 the
// negative and positive sentiment thresholds; the agent filter, when there
// is one, is $7 and replaces the AGENT marker.
const statsSQL = `WITH c AS (
	SELECT date_bin($4::bigint * interval '1 microsecond', started_at, timestamptz '1970-01-01 00:00:00+00') AS bucket,
		id, status, outcome, duration_us, (sentiment->>'average')::float8 AS sent,
		CASE WHEN status = 'ended' AND outcome <> '' THEN (prediction->>'resolution')::float8 END AS pres,
		CASE WHEN outcome = 'resolved' THEN 1.0 ELSE 0.0 END::float8 AS resolved
	FROM calls
	WHERE org_id = $1 AND started_at >= $2 AND started_at < $3 AGENT
), cs AS (
	SELECT bucket,
		count(*) AS calls,
		count(*) FILTER (WHERE status = 'ended') AS ended,
		count(*) FILTER (WHERE status = 'ended' AND outcome = 'resolved') AS resolved,
		count(*) FILTER (WHERE status = 'ended' AND outcome = 'escalated') AS escalated,
		count(*) FILTER (WHERE status = 'ended' AND outcome = 'abandoned') AS abandoned,
		count(*) FILTER (WHERE status = 'ended' AND outcome = 'failed') AS failed,
		coalesce(avg(duration_us) FILTER (WHERE status = 'ended'), 0)::float8 / 1e6 AS avg_s,
		count(*) FILTER (WHERE sent < $5::float8) AS negative,
		count(*) FILTER (WHERE sent BETWEEN $5::float8 AND $6::float8) AS neutral,
		count(*) FILTER (WHERE sent > $6::float8) AS positive,
		count(*) FILTER (WHERE sent IS NULL) AS unknown,
		count(pres) AS predicted,
		coalesce(avg(CASE WHEN (pres >= 0.5) = (resolved = 1) THEN 1.0 ELSE 0.0 END) FILTER (WHERE pres IS NOT NULL), 0)::float8 AS accuracy,
		coalesce(avg((pres - resolved) * (pres - resolved)), 0)::float8 AS brier
	FROM c GROUP BY bucket
), ts AS (
	SELECT c.bucket, count(*) AS turns,
		percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY l.ms) AS p
	FROM c
	JOIN turns t ON t.call_id = c.id AND t.org_id = $1
	CROSS JOIN LATERAL (SELECT
		coalesce((t.latency->>'endpoint_ms')::float8, 0) + coalesce((t.latency->>'stt_ms')::float8, 0) +
		coalesce((t.latency->>'llm_first_token_ms')::float8, 0) + coalesce((t.latency->>'tts_first_byte_ms')::float8, 0) +
		coalesce((t.latency->>'llm_first_sentence_ms')::float8, 0) + coalesce((t.latency->>'overhead_ms')::float8, 0) AS ms) l
	WHERE t.speaker = 'agent' AND t.latency IS NOT NULL AND l.ms > 0
	GROUP BY c.bucket
)
SELECT cs.bucket, cs.calls, cs.ended, cs.resolved, cs.escalated, cs.abandoned, cs.failed, cs.avg_s,
	cs.negative, cs.neutral, cs.positive, cs.unknown, coalesce(ts.turns, 0), ts.p, cs.predicted, cs.accuracy, cs.brier
FROM cs LEFT JOIN ts ON ts.bucket = cs.bucket
ORDER BY cs.bucket`

// CallStats counts the organization's calls by time bucket in one query.
func (s *Store) CallStats(ctx context.Context, org store.OrgID, q store.StatsQuery) ([]store.StatsBucket, error) {
	const op = "call stats"
	if err := q.Check(); err != nil {
		return nil, checked(op, err)
	}
	args := []any{org, norm(q.From), norm(q.To), q.Bucket.Microseconds(), store.SentimentNegativeBelow, store.SentimentPositiveAbove}
	agent := ""
	if q.AgentID != "" {
		args = append(args, q.AgentID)
		agent = "AND agent_id = $7"
	}
	sql := strings.Replace(statsSQL, "AGENT", agent, 1)
	rows, err := s.pool.Query(ctx, sql, args...)
	out, err := collect(ctx, op, rows, err, func(r scanner) (store.StatsBucket, error) {
		var (
			start                                  time.Time
			resolved, escalated, abandoned, failed int
			p                                      []float64
		)
		b := store.NewStatsBucket(time.Time{})
		if err := r.Scan(&start, &b.Calls, &b.Ended, &resolved, &escalated, &abandoned, &failed, &b.AvgDurationSeconds,
			&b.Sentiment.Negative, &b.Sentiment.Neutral, &b.Sentiment.Positive, &b.Sentiment.Unknown, &b.Latency.Turns, &p,
			&b.Prediction.Predicted, &b.Prediction.Accuracy, &b.Prediction.Brier); err != nil {
			return b, err
		}
		b.Start = start.UTC()
		b.Outcomes[store.OutcomeResolved] = resolved
		b.Outcomes[store.OutcomeEscalated] = escalated
		b.Outcomes[store.OutcomeAbandoned] = abandoned
		b.Outcomes[store.OutcomeFailed] = failed
		if len(p) == 3 {
			b.Latency.P50, b.Latency.P95, b.Latency.P99 = p[0], p[1], p[2]
		}
		b.SetRates()
		return b, nil
	})
	if err == nil && out == nil {
		out = []store.StatsBucket{}
	}
	return out, err
}
