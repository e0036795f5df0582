package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"github.com/iace/iace/store"
)

const patternCols = `id, org_id, agent_id, kind, trigger_text, response_text, uses, successes, embedding,
	created_at, updated_at`

// patternColsNoEmbedding reads a pattern whose embedding comes from memory.
const patternColsNoEmbedding = `id, org_id, agent_id, kind, trigger_text, response_text, uses, successes, NULL,
	created_at, updated_at`

func scanPattern(sc scanner) (store.Pattern, error) {
	var (
		p                store.Pattern
		emb              []byte
		created, updated int64
	)
	if err := sc.Scan(&p.ID, &p.OrgID, &p.AgentID, &p.Kind, &p.Trigger, &p.Response, &p.Uses, &p.Successes,
		&emb, &created, &updated); err != nil {
		return store.Pattern{}, err
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

// CreatePattern adds a learned pattern.
func (s *Store) CreatePattern(ctx context.Context, p store.Pattern) (store.Pattern, error) {
	const op = "create pattern"
	switch {
	case p.OrgID == "":
		return store.Pattern{}, invalid(op, "org id is empty")
	case strings.TrimSpace(p.Trigger) == "":
		return store.Pattern{}, invalid(op, "trigger is empty")
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

	if err := s.lockPatterns(ctx, op); err != nil {
		return store.Pattern{}, err
	}
	defer s.unlockPatterns()
	_, err := s.w.ExecContext(ctx, `INSERT INTO patterns (`+patternCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.OrgID, p.AgentID, p.Kind, p.Trigger, p.Response, p.Uses, p.Successes,
		encodeVector(p.Embedding), micros(p.CreatedAt), micros(p.UpdatedAt))
	if err != nil {
		return store.Pattern{}, mapErr(op, err)
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
		ids:    make([]store.PatternID, 0, n),
		agents: make([]store.AgentID, 0, n),
		kinds:  make([]string, 0, n),
		vecs:   make([]float32, n*dims),
		inv:    make([]float32, 0, n),
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, agent_id, kind, embedding FROM patterns WHERE org_id = ?`, org)
	_, err = collect(op, rows, err, func(sc scanner) (struct{}, error) {
		var (
			id    store.PatternID
			agent store.AgentID
			kind  string
			emb   sql.RawBytes // decoded at once, before the next row
		)
		if err := sc.Scan(&id, &agent, &kind, &emb); err != nil {
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
		v.inv = append(v.inv, invNorm(row))
		return struct{}{}, nil
	})
	if err != nil {
		return nil, err
	}
	v.vecs = v.vecs[:len(v.ids)*dims]
	return v, nil
}
