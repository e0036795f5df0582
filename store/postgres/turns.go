package postgres

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/iace/iace/store"
)

// querier is the pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func validSpeaker(s store.Speaker) bool {
	return s == store.SpeakerCaller || s == store.SpeakerAgent
}

// checkTurns validates turns for a call and brings their times to what the
// database keeps (a zero start is now, a zero end the start).
func checkTurns(op string, call store.CallID, turns []store.Turn) error {
	for i := range turns {
		t := &turns[i]
		switch {
		case t.CallID != "" && t.CallID != call:
			return invalid(op, "turn %d belongs to call %q", t.Seq, t.CallID)
		case t.Seq < 1 || t.Seq > math.MaxInt32:
			return invalid(op, "turn seq %d (turns count from 1, in an integer column)", t.Seq)
		case !validSpeaker(t.Speaker):
			return invalid(op, "turn %d: unknown speaker %q", t.Seq, t.Speaker)
		}
		t.CallID = call
		t.StartedAt = orNow(t.StartedAt)
		if t.EndedAt.IsZero() {
			t.EndedAt = t.StartedAt
		}
		t.EndedAt = norm(t.EndedAt)
	}
	return nil
}

// insertTurns writes turns of a call of the organization in one statement,
// skipping those already written (same call and seq): a replay writes
// nothing twice. It reports whether the call is the organization's.
func insertTurns(ctx context.Context, q querier, org store.OrgID, call store.CallID, turns []store.Turn) (bool, error) {
	n := len(turns)
	var (
		seqs        = make([]int32, n)
		speakers    = make([]string, n)
		texts       = make([]string, n)
		starts      = make([]time.Time, n)
		ends        = make([]time.Time, n)
		interrupted = make([]bool, n)
		sentiments  = make([]*float64, n)
		latencies   = make([]*string, n)
	)
	for i, t := range turns {
		seqs[i], speakers[i], texts[i] = int32(t.Seq), string(t.Speaker), t.Text //nolint:gosec // G115: checkTurns keeps Seq within int32
		starts[i], ends[i], interrupted[i], sentiments[i] = t.StartedAt, t.EndedAt, t.Interrupted, t.Sentiment
		if t.Latency != nil {
			b, err := jsonValue(t.Latency)
			if err != nil {
				return false, err
			}
			s := string(b)
			latencies[i] = &s
		}
	}
	var found bool
	err := q.QueryRow(ctx, `WITH c AS (SELECT id, org_id FROM calls WHERE org_id = $1 AND id = $2),
		ins AS (
			INSERT INTO turns (call_id, seq, org_id, speaker, text, started_at, ended_at, interrupted, sentiment, latency)
			SELECT c.id, u.seq, c.org_id, u.speaker, u.text, u.started_at, u.ended_at, u.interrupted, u.sentiment, u.latency::jsonb
			FROM c, unnest($3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bool[], $9::float8[], $10::text[])
				AS u (seq, speaker, text, started_at, ended_at, interrupted, sentiment, latency)
			ON CONFLICT (call_id, seq) DO NOTHING)
		-- ins runs whether or not it is read: it modifies data.
		SELECT EXISTS (SELECT 1 FROM c)`,
		org, call, seqs, speakers, texts, starts, ends, interrupted, sentiments, latencies).Scan(&found)
	return found, err
}

// AppendTurns adds turns to a call of the organization. It is idempotent:
// turns are keyed by (call, Seq), and one already written is kept as it is.
func (s *Store) AppendTurns(ctx context.Context, org store.OrgID, call store.CallID, turns []store.Turn) error {
	const op = "append turns"
	turns = append([]store.Turn(nil), turns...) // checkTurns normalizes; the caller's slice stays as it was
	if err := checkTurns(op, call, turns); err != nil {
		return err
	}
	found, err := insertTurns(ctx, s.pool, org, call, turns)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if !found {
		return notFound(op)
	}
	return nil
}

// FinishCall ends a call in one transaction: the call's final state, its
// last turns, its events, summary and prediction, and its customer's
// statistics. A call already ended keeps its state (its customer is not
// counted twice); turns already written are skipped, and events, a summary
// and a prediction are each written only to a call that has none, so a
// replay writes nothing twice.
func (s *Store) FinishCall(ctx context.Context, end store.CallEnd) (store.Call, error) {
	const op = "finish call"
	if err := end.Check(); err != nil {
		return store.Call{}, checked(op, err)
	}
	turns := append([]store.Turn(nil), end.Turns...)
	if err := checkTurns(op, end.CallID, turns); err != nil {
		return store.Call{}, err
	}
	endedAt := orNow(end.EndedAt)
	var sent []byte
	if end.Sentiment != nil {
		var err error
		if sent, err = jsonValue(end.Sentiment); err != nil {
			return store.Call{}, wrap(ctx, op, err)
		}
	}
	var events []byte // NULL when there are none
	if len(end.Events) > 0 {
		var err error
		if events, err = jsonValue(end.Events); err != nil {
			return store.Call{}, wrap(ctx, op, err)
		}
	}
	pred, err := encodePrediction(end.Prediction)
	if err != nil {
		return store.Call{}, wrap(ctx, op, err)
	}
	var out store.Call
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// NO KEY UPDATE: turns appended meanwhile (their foreign key takes
		// KEY SHARE on the call) need not wait.
		c, err := scanCall(tx.QueryRow(ctx, `SELECT `+callCols+` FROM calls WHERE org_id = $1 AND id = $2 FOR NO KEY UPDATE`,
			end.OrgID, end.CallID))
		if err != nil {
			return err
		}
		if len(turns) > 0 {
			if _, err := insertTurns(ctx, tx, end.OrgID, end.CallID, turns); err != nil {
				return err
			}
		}
		if c.Status == store.CallEnded {
			out = c
			if events == nil && end.Summary == "" && pred == nil {
				return nil
			}
			// Like its turns, the events, summary and prediction of a call
			// ended first by someone else (a hang-up webhook) are kept,
			// each once.
			out, err = scanCall(tx.QueryRow(ctx, `UPDATE calls SET events = coalesce(events, $3),
				summary = CASE WHEN summary = '' THEN $4 ELSE summary END, prediction = coalesce(prediction, $5)
				WHERE org_id = $1 AND id = $2 RETURNING `+callCols,
				end.OrgID, end.CallID, events, end.Summary, pred))
			return err
		}
		dur := max(endedAt.Sub(c.StartedAt), 0)
		out, err = scanCall(tx.QueryRow(ctx, `UPDATE calls SET status = 'ended', ended_at = $3, duration_us = $4, outcome = $5,
			end_reason = $6, escalation_reason = $7, sentiment = coalesce($8, sentiment), events = coalesce(events, $9),
			summary = CASE WHEN summary = '' THEN $10 ELSE summary END, prediction = coalesce(prediction, $11)
			WHERE org_id = $1 AND id = $2 RETURNING `+callCols,
			end.OrgID, end.CallID, endedAt, dur.Microseconds(), end.Outcome, end.EndReason, end.EscalationReason, sent, events,
			end.Summary, pred))
		if err != nil {
			return err
		}
		if c.CustomerID != "" {
			_, err = tx.Exec(ctx, `UPDATE customers SET call_count = call_count + 1, last_call_at = greatest(last_call_at, $3)
				WHERE org_id = $1 AND id = $2`, end.OrgID, c.CustomerID, endedAt)
		}
		return err
	})
	if err != nil {
		return store.Call{}, wrap(ctx, op, err)
	}
	return out, nil
}

// SearchTranscripts finds the organization's turns whose text holds every
// word of words, whole words, case-insensitively, without stemming (the
// 'simple' text-search configuration, served by a GIN index), newest turn
// first.
func (s *Store) SearchTranscripts(ctx context.Context, org store.OrgID, words string, p store.Page) ([]store.TranscriptHit, string, error) {
	const op = "search transcripts"
	if strings.TrimSpace(words) == "" {
		return nil, "", invalid(op, "no words to search for")
	}
	limit := pageLimit(p)
	args := []any{org, limit + 1, words}
	where := `org_id = $1 AND to_tsvector('simple', text) @@ plainto_tsquery('simple', $3)`
	if p.Cursor != "" {
		var (
			t    time.Time
			call string
			seq  int
		)
		if err := decodeCursor(op, p.Cursor, &t, &call, &seq); err != nil {
			return nil, "", err
		}
		args = append(args, t, call, seq)
		where += ` AND (started_at < $4 OR (started_at = $4 AND (call_id, seq) > ($5, $6)))`
	}
	rows, err := s.pool.Query(ctx, `SELECT `+turnCols+` FROM turns WHERE `+where+`
		ORDER BY started_at DESC, call_id, seq LIMIT $2`, args...)
	turns, err := collect(ctx, op, rows, err, scanTurn)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(turns) > limit {
		turns = turns[:limit]
		last := turns[limit-1]
		next = encodeCursor(last.StartedAt, string(last.CallID), last.Seq)
	}
	out := make([]store.TranscriptHit, len(turns))
	for i, t := range turns {
		out[i] = store.TranscriptHit{CallID: t.CallID, Turn: t}
	}
	return out, next, nil
}
