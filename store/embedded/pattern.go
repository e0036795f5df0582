package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/iace/iace/store"
)

const patternCols = `id, org_id, agent_id, kind, trigger_text, response_text, uses, successes, embedding,
	status, source, examples, source_call_ids, created_at, updated_at`

// patternColsNoEmbedding reads a pattern whose embedding comes from memory.
const patternColsNoEmbedding = `id, org_id, agent_id, kind, trigger_text, response_text, uses, successes, NULL,
	status, source, examples, source_call_ids, created_at, updated_at`

func scanPattern(sc scanner) (store.Pattern, error) {
	var (
		p                store.Pattern
		emb              []byte
		examples, calls  string
		created, updated int64
	)
	if err := sc.Scan(&p.ID, &p.OrgID, &p.AgentID, &p.Kind, &p.Trigger, &p.Response, &p.Uses, &p.Successes,
		&emb, &p.Status, &p.Source, &examples, &calls, &created, &updated); err != nil {
		return store.Pattern{}, err
	}
	if err := json.Unmarshal([]byte(examples), &p.Examples); err != nil {
		return store.Pattern{}, fmt.Errorf("pattern %s: examples: %w", p.ID, err)
	}
	if err := json.Unmarshal([]byte(calls), &p.SourceCallIDs); err != nil {
		return store.Pattern{}, fmt.Errorf("pattern %s: source call ids: %w", p.ID, err)
	}
	if len(p.Examples) == 0 {
		p.Examples = nil
	}
	if len(p.SourceCallIDs) == 0 {
		p.SourceCallIDs = nil
	}
	if emb != nil {
		if len(emb) != 4*dims {
			return store.Pattern{}, fmt.Errorf("pattern %s: embedding of %d bytes", p.ID, len(emb))
		}
		p.Embedding = make([]float32, dims)
		decodeVectorTo(p.Embedding, emb)
	}
	p.CreatedAt = fromMicros(created)
	p.UpdatedAt = fromMicros(updated)
	return p, nil
}

// checkVector reports a vector that cannot be an embedding.
func checkVector(op, what string, v []float32) error {
	if len(v) != dims {
		return invalid(op, "%s has %d dimensions, want %d", what, len(v), dims)
	}
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return invalid(op, "%s holds %v", what, f)
		}
	}
	return nil
}

// lockPatterns waits for the turn to write patterns (see Store).
func (s *Store) lockPatterns(ctx context.Context, op string) error {
	select {
	case s.patternWrites <- struct{}{}:
		return nil
	case <-ctx.Done():
		return mapErr(op, ctx.Err())
	}
}

func (s *Store) unlockPatterns() { <-s.patternWrites }

// jsonList is a list as a JSON column: '[]' when empty.
func jsonList[T any](v []T) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// patternLists encodes a pattern's examples and source call ids.
func patternLists(op string, p *store.Pattern) (examples, calls string, err error) {
	if examples, err = jsonList(p.Examples); err != nil {
		return "", "", invalid(op, "examples: %v", err)
	}
	if calls, err = jsonList(p.SourceCallIDs); err != nil {
		return "", "", invalid(op, "source call ids: %v", err)
	}
	return examples, calls, nil
}

// CreatePattern adds a pattern, unless its organization already keeps as
// many as it may.
func (s *Store) CreatePattern(ctx context.Context, p store.Pattern) (store.Pattern, error) {
	const op = "create pattern"
	if err := p.Check(); err != nil {
		return store.Pattern{}, checked(op, err)
	}
	if err := checkVector(op, "embedding", p.Embedding); err != nil {
		return store.Pattern{}, err
	}
	if p.ID == "" {
		p.ID = store.PatternID(newID())
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	p.CreatedAt, p.UpdatedAt = norm(p.CreatedAt), norm(p.UpdatedAt)
	p.Embedding = append([]float32(nil), p.Embedding...) // the index keeps it
	examples, calls, err := patternLists(op, &p)
	if err != nil {
		return store.Pattern{}, err
	}

	if err := s.lockPatterns(ctx, op); err != nil {
		return store.Pattern{}, err
	}
	defer s.unlockPatterns()
	full := false
	// One writer: the count and the insert are not interleaved with
	// another create's.
	err = s.withTx(ctx, op, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM patterns WHERE org_id = ?`, p.OrgID).Scan(&n); err != nil {
			return mapErr(op, err)
		}
		if n >= s.maxPatterns {
			full = true
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO patterns (`+patternCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.OrgID, p.AgentID, p.Kind, p.Trigger, p.Response, p.Uses, p.Successes,
			encodeVector(p.Embedding), p.Status, p.Source, examples, calls, micros(p.CreatedAt), micros(p.UpdatedAt))
		return mapErr(op, err)
	})
	switch {
	case err != nil:
		return store.Pattern{}, err
	case full:
		return store.Pattern{}, fmt.Errorf("embedded: %s: %w", op, &store.LimitError{What: "patterns", Max: s.maxPatterns})
	}
	s.vec.update(p.OrgID, func(v *orgVectors) *orgVectors { return v.with(&p) })
	return p, nil
}

// GetPattern reads a pattern of the organization.
func (s *Store) GetPattern(ctx context.Context, org store.OrgID, id store.PatternID) (store.Pattern, error) {
	p, err := scanPattern(s.r.QueryRowContext(ctx,
		`SELECT `+patternCols+` FROM patterns WHERE org_id = ? AND id = ?`, org, id))
	if err != nil {
		return store.Pattern{}, mapErr("get pattern", err)
	}
	return p, nil
}

// ListPatterns lists the organization's patterns, newest first (CreatedAt
// desc, ID desc). A filter's agent also matches org-wide patterns.
func (s *Store) ListPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, p store.Page) ([]store.Pattern, string, error) {
	const op = "list patterns"
	cur, after, err := decodeCursor(op, listPatterns, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(p)
	q := `SELECT ` + patternCols + ` FROM patterns WHERE org_id = ?`
	args := []any{org}
	if f.AgentID != "" {
		q += ` AND agent_id IN (?, '')`
		args = append(args, f.AgentID)
	}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if after {
		q += ` AND (created_at, id) < (?, ?)`
		args = append(args, cur.Time, cur.ID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.query(ctx, q, args...)
	patterns, err := collect(op, rows, err, scanPattern)
	if err != nil {
		return nil, "", err
	}
	if len(patterns) <= limit {
		return patterns, "", nil
	}
	patterns = patterns[:limit]
	last := patterns[limit-1]
	return patterns, cursor{List: listPatterns, Time: micros(last.CreatedAt), ID: string(last.ID)}.encode(), nil
}

// DeletePattern removes a pattern of the organization.
func (s *Store) DeletePattern(ctx context.Context, org store.OrgID, id store.PatternID) error {
	const op = "delete pattern"
	if err := s.lockPatterns(ctx, op); err != nil {
		return err
	}
	defer s.unlockPatterns()
	res, err := s.w.ExecContext(ctx, `DELETE FROM patterns WHERE org_id = ? AND id = ?`, org, id)
	if err != nil {
		return mapErr(op, err)
	}
	if err := affectedOne(op, res); err != nil {
		return err
	}
	s.vec.update(org, func(v *orgVectors) *orgVectors { return v.without(id) })
	return nil
}

// RecordPatternUse counts a use of a pattern and, when it helped, a success.
func (s *Store) RecordPatternUse(ctx context.Context, org store.OrgID, id store.PatternID, success bool) error {
	const op = "record pattern use"
	res, err := s.w.ExecContext(ctx, `
		UPDATE patterns SET uses = uses + 1, successes = successes + ?, updated_at = ?
		WHERE org_id = ? AND id = ?`,
		success, micros(s.nowUTC()), org, id)
	if err != nil {
		return mapErr(op, err)
	}
	return affectedOne(op, res)
}

// MergePattern adds a call's use, example and id to a pattern (see
// store.Pattern.Merge), reading and writing it in one write transaction.
// Nothing the vector index holds changes.
func (s *Store) MergePattern(ctx context.Context, org store.OrgID, id store.PatternID, m store.PatternMerge) (store.Pattern, error) {
	const op = "merge pattern"
	if err := m.Check(); err != nil {
		return store.Pattern{}, checked(op, err)
	}
	var p store.Pattern
	err := s.withTx(ctx, op, func(tx *sql.Tx) error {
		var err error
		p, err = scanPattern(tx.QueryRowContext(ctx, `SELECT `+patternCols+` FROM patterns WHERE org_id = ? AND id = ?`, org, id))
		if err != nil {
			return mapErr(op, err)
		}
		if !p.Merge(m, s.nowUTC()) {
			return nil
		}
		examples, calls, err := patternLists(op, &p)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE patterns SET uses = ?, successes = ?, examples = ?, source_call_ids = ?, updated_at = ?
			WHERE org_id = ? AND id = ?`,
			p.Uses, p.Successes, examples, calls, micros(p.UpdatedAt), org, id)
		return mapErr(op, err)
	})
	if err != nil {
		return store.Pattern{}, err
	}
	return p, nil
}

// SetPatternStatus sets a pattern's status, in the database and then in the
// vector index, whose searches filter by it.
func (s *Store) SetPatternStatus(ctx context.Context, org store.OrgID, id store.PatternID, status store.PatternStatus) (store.Pattern, error) {
	const op = "set pattern status"
	if !status.Valid() {
		return store.Pattern{}, invalid(op, "unknown pattern status %q", status)
	}
	if err := s.lockPatterns(ctx, op); err != nil {
		return store.Pattern{}, err
	}
	defer s.unlockPatterns()
	p, err := scanPattern(s.w.QueryRowContext(ctx, `UPDATE patterns SET status = ?, updated_at = ?
		WHERE org_id = ? AND id = ? RETURNING `+patternCols, status, micros(s.nowUTC()), org, id))
	if err != nil {
		return store.Pattern{}, mapErr(op, err)
	}
	s.vec.update(org, func(v *orgVectors) *orgVectors { return v.withStatus(id, status) })
	return p, nil
}

// maxSimilar caps SimilarPatterns' k.
const maxSimilar = 100

// SimilarPatterns ranks the organization's patterns (filtered as in
// ListPatterns) by cosine similarity to query, best first, at most k (at
// most 100). The search is exact: a scan of the organization's embeddings,
// kept decoded in memory.
func (s *Store) SimilarPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, query []float32, k int) ([]store.ScoredPattern, error) {
	const op = "similar patterns"
	if k < 1 {
		return nil, invalid(op, "k is %d, want 1 to %d", k, maxSimilar)
	}
	k = min(k, maxSimilar)
	if err := checkVector(op, "query", query); err != nil {
		return nil, err
	}
	if invNorm(query) == 0 {
		return nil, invalid(op, "query is the zero vector")
	}
	snap, err := s.vec.snapshot(ctx, org, func(ctx context.Context) (*orgVectors, error) {
		return s.loadVectors(ctx, org)
	})
	if err != nil {
		return nil, err
	}
	hits := snap.search(f, query, k)
	if len(hits) == 0 {
		return nil, nil
	}

	// The rest of each pattern, current uses included, from the database.
	args := make([]any, 0, len(hits)+1)
	args = append(args, org)
	for _, h := range hits {
		args = append(args, h.id)
	}
	rows, err := s.query(ctx, `SELECT `+patternColsNoEmbedding+` FROM patterns
		WHERE +org_id = ? AND id IN (?`+strings.Repeat(", ?", len(hits)-1)+`)`, args...)
	found, err := collect(op, rows, err, scanPattern)
	if err != nil {
		return nil, err
	}
	byID := make(map[store.PatternID]store.Pattern, len(found))
	for _, p := range found {
		byID[p.ID] = p
	}
	out := make([]store.ScoredPattern, 0, len(hits))
	for _, h := range hits {
		p, ok := byID[h.id]
		if !ok {
			continue // deleted since the snapshot was taken
		}
		p.Embedding = append([]float32(nil), snap.embedding(h.row)...)
		sim := math.Max(-1, math.Min(1, float64(h.sim)))
		out = append(out, store.ScoredPattern{Pattern: p, Similarity: sim})
	}
	return out, nil
}

// loadVectors reads every embedding of org into a new snapshot.
func (s *Store) loadVectors(ctx context.Context, org store.OrgID) (*orgVectors, error) {
	const op = "load embeddings"
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to lose
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM patterns WHERE org_id = ?`, org).Scan(&n); err != nil {
		return nil, mapErr(op, err)
	}
	v := &orgVectors{
		ids:      make([]store.PatternID, 0, n),
		agents:   make([]store.AgentID, 0, n),
		kinds:    make([]string, 0, n),
		statuses: make([]store.PatternStatus, 0, n),
		vecs:     make([]float32, n*dims),
		inv:      make([]float32, 0, n),
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, agent_id, kind, status, embedding FROM patterns WHERE org_id = ?`, org)
	_, err = collect(op, rows, err, func(sc scanner) (struct{}, error) {
		var (
			id     store.PatternID
			agent  store.AgentID
			kind   string
			status store.PatternStatus
			emb    sql.RawBytes // decoded at once, before the next row
		)
		if err := sc.Scan(&id, &agent, &kind, &status, &emb); err != nil {
			return struct{}{}, err
		}
		i := len(v.ids)
		if i >= n || len(emb) != 4*dims {
			return struct{}{}, fmt.Errorf("pattern %s: embedding of %d bytes", id, len(emb))
		}
		row := v.vecs[i*dims : (i+1)*dims]
		decodeVectorTo(row, emb)
		v.ids = append(v.ids, id)
		v.agents = append(v.agents, agent)
		v.kinds = append(v.kinds, kind)
		v.statuses = append(v.statuses, status)
		v.inv = append(v.inv, invNorm(row))
		return struct{}{}, nil
	})
	if err != nil {
		return nil, err
	}
	v.vecs = v.vecs[:len(v.ids)*dims]
	return v, nil
}
