package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/iace/iace/store"
)

const turnCols = `call_id, seq, speaker, text, started_at, ended_at, interrupted, sentiment, latency`

func scanTurn(sc scanner) (store.Turn, error) {
	var (
		t         store.Turn
		started   int64
		ended     int64
		sentiment sql.NullFloat64
		latency   sql.NullString
	)
	if err := sc.Scan(&t.CallID, &t.Seq, &t.Speaker, &t.Text, &started, &ended, &t.Interrupted,
		&sentiment, &latency); err != nil {
		return store.Turn{}, err
	}
	t.StartedAt = fromMicros(started)
	t.EndedAt = fromMicros(ended)
	if sentiment.Valid {
		v := sentiment.Float64
		t.Sentiment = &v
	}
	if latency.Valid {
		t.Latency = new(store.Latency)
		if err := json.Unmarshal([]byte(latency.String), t.Latency); err != nil {
			return store.Turn{}, err
		}
	}
	return t, nil
}

// checkTurns reports turns that cannot be written to call.
func checkTurns(op string, call store.CallID, turns []store.Turn) error {
	for i := range turns {
		t := &turns[i]
		switch {
		case t.CallID != "" && t.CallID != call:
			return invalid(op, "turn %d belongs to call %q", t.Seq, t.CallID)
		case t.Seq < 1:
			return invalid(op, "turn seq %d, want 1 or more", t.Seq)
		case t.Speaker != store.SpeakerCaller && t.Speaker != store.SpeakerAgent:
			return invalid(op, "turn %d: unknown speaker %q", t.Seq, t.Speaker)
		}
	}
	return nil
}

// insertTurn adds a turn unless its (call, Seq) is already there.
const insertTurn = `INSERT INTO turns (org_id, ` + turnCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (call_id, seq) DO NOTHING`

// insertTurnStmt returns insertTurn prepared on the writer. It must be called
// before the transaction that uses it begins: the writer has one connection,
// which the transaction then holds.
func (s *Store) insertTurnStmt(ctx context.Context, op string) (*sql.Stmt, error) {
	st, err := s.wstmts.get(ctx, insertTurn)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return st, nil
}

// insertTurns writes turns not yet written (ins is insertTurnStmt); a turn
// whose (call, Seq) is already there is left as it is. The caller has
// checked the call is org's. A zero StartedAt becomes now, a zero EndedAt
// the StartedAt.
func insertTurns(ctx context.Context, tx *sql.Tx, ins *sql.Stmt, op string, org store.OrgID, call store.CallID, turns []store.Turn, now time.Time) error {
	if len(turns) == 0 {
		return nil
	}
	stmt := tx.StmtContext(ctx, ins) // closed with the transaction
	for i := range turns {
		t := &turns[i]
		started := now
		if !t.StartedAt.IsZero() {
			started = norm(t.StartedAt)
		}
		ended := started
		if !t.EndedAt.IsZero() {
			ended = norm(t.EndedAt)
		}
		var sentiment sql.NullFloat64
		if t.Sentiment != nil {
			sentiment = sql.NullFloat64{Float64: *t.Sentiment, Valid: true}
		}
		var latency sql.NullString
		if t.Latency != nil {
			b, err := json.Marshal(t.Latency)
			if err != nil {
				return invalid(op, "turn %d latency: %v", t.Seq, err)
			}
			latency = sql.NullString{String: string(b), Valid: true}
		}
		if _, err := stmt.ExecContext(ctx, org, call, t.Seq, t.Speaker, t.Text, micros(started), micros(ended),
			t.Interrupted, sentiment, latency); err != nil {
			return mapErr(op, err)
		}
	}
	return nil
}

// AppendTurns adds turns to a call of the organization. Turns already
// written (same call and Seq) are skipped, so a replay writes nothing twice.
func (s *Store) AppendTurns(ctx context.Context, org store.OrgID, call store.CallID, turns []store.Turn) error {
	const op = "append turns"
	if err := checkTurns(op, call, turns); err != nil {
		return err
	}
	ins, err := s.insertTurnStmt(ctx, op)
	if err != nil {
		return err
	}
	return s.withTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, op, `SELECT 1 FROM calls WHERE org_id = ? AND id = ?`, org, call); err != nil {
			return err
		}
		return insertTurns(ctx, tx, ins, op, org, call, turns, s.nowUTC())
	})
}

// ftsQuery turns free text into an FTS5 query that matches a turn holding
// every word, whole, in any case: each word becomes a quoted string (so
// FTS5 operators in the input are plain words) and the strings are ANDed.
// Words split as the unicode61 tokenizer splits them: at every rune that is
// not a letter or a number.
func ftsQuery(words string) string {
	fields := strings.FieldsFunc(words, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Mn, r)
	})
	for i, f := range fields {
		fields[i] = `"` + f + `"`
	}
	return strings.Join(fields, " ")
}

// SearchTranscripts lists the organization's turns whose text holds every
// word of words as a whole word, case-insensitively and without stemming,
// newest turn first (StartedAt desc, then call ID and Seq ascending).
func (s *Store) SearchTranscripts(ctx context.Context, org store.OrgID, words string, p store.Page) ([]store.TranscriptHit, string, error) {
	const op = "search transcripts"
	cur, after, err := decodeCursor(op, listTranscripts, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if strings.TrimSpace(words) == "" {
		return nil, "", invalid(op, "no words to search for")
	}
	match := ftsQuery(words)
	if match == "" {
		return nil, "", nil // punctuation only: no word, no match
	}
	limit := pageLimit(p)

	q := `SELECT ` + qualify(turnCols, "t") + `
		FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid
		WHERE turns_fts MATCH ? AND t.org_id = ?`
	args := []any{match, org}
	if after {
		q += ` AND (t.started_at < ? OR (t.started_at = ? AND (t.call_id, t.seq) > (?, ?)))`
		args = append(args, cur.Time, cur.Time, cur.Text, cur.Seq)
	}
	q += ` ORDER BY t.started_at DESC, t.call_id, t.seq LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.query(ctx, q, args...)
	hits, err := collect(op, rows, err, func(sc scanner) (store.TranscriptHit, error) {
		t, err := scanTurn(sc)
		return store.TranscriptHit{CallID: t.CallID, Turn: t}, err
	})
	if err != nil {
		return nil, "", err
	}
	if len(hits) <= limit {
		return hits, "", nil
	}
	hits = hits[:limit]
	last := hits[limit-1].Turn
	return hits, cursor{List: listTranscripts, Time: micros(last.StartedAt), Text: string(last.CallID), Seq: last.Seq}.encode(), nil
}
