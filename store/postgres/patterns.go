package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/iace/iace/store"
)

const patternCols = `id, org_id, agent_id, kind, trigger, response, uses, successes, embedding,
	status, source, examples, source_call_ids, created_at, updated_at`

func scanPattern(r scanner, extra ...any) (store.Pattern, error) {
	var (
		p     store.Pattern
		agent *string
		vec   pgvector.Vector
		calls []string
	)
	dest := append([]any{&p.ID, &p.OrgID, &agent, &p.Kind, &p.Trigger, &p.Response, &p.Uses, &p.Successes, &vec,
		&p.Status, &p.Source, &p.Examples, &calls, &p.CreatedAt, &p.UpdatedAt}, extra...)
	if err := r.Scan(dest...); err != nil {
		return store.Pattern{}, err
	}
	p.AgentID = emptyIfNull[store.AgentID](agent)
	p.Embedding = vec.Slice()
	if len(p.Examples) == 0 {
		p.Examples = nil
	}
	p.SourceCallIDs = callIDs(calls)
	return p, nil
}

// callIDs converts a text[] of call ids, nil when empty.
func callIDs(ss []string) []store.CallID {
	if len(ss) == 0 {
		return nil
	}
	out := make([]store.CallID, len(ss))
	for i, s := range ss {
		out[i] = store.CallID(s)
	}
	return out
}

// texts is a list for a text[] column, '{}' rather than NULL when empty.
func texts[T ~string](ss []T) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// checkEmbedding requires EmbeddingDims numbers, not all zero (a zero vector
// has no direction, so no cosine similarity).
func checkEmbedding(op, what string, v []float32) error {
	if len(v) != store.EmbeddingDims {
		return invalid(op, "%s has %d dimensions, want %d", what, len(v), store.EmbeddingDims)
	}
	for _, x := range v {
		if x != 0 {
			return nil
		}
	}
	return invalid(op, "%s is the zero vector", what)
}

// CreatePattern stores a pattern with its embedding, unless its
// organization already keeps as many as it may.
func (s *Store) CreatePattern(ctx context.Context, p store.Pattern) (store.Pattern, error) {
	const op = "create pattern"
	if err := p.Check(); err != nil {
		return store.Pattern{}, checked(op, err)
	}
	if err := checkEmbedding(op, "embedding", p.Embedding); err != nil {
		return store.Pattern{}, err
	}
	if p.ID == "" {
		p.ID = store.PatternID(newID())
	}
	p.CreatedAt = orNow(p.CreatedAt)
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	p.UpdatedAt = norm(p.UpdatedAt)
	p.Embedding = append([]float32(nil), p.Embedding...)
	full := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The creates of one organization take turns on its row, so two of
		// them never both see room for one more pattern. NO KEY UPDATE
		// leaves the row free for the key-share locks of foreign keys: the
		// organization's other inserts do not wait.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, p.OrgID).Scan(&one); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM patterns WHERE org_id = $1`, p.OrgID).Scan(&n); err != nil {
			return err
		}
		if n >= s.maxPatterns {
			full = true
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO patterns (`+patternCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			p.ID, p.OrgID, nullIfEmpty(p.AgentID), p.Kind, p.Trigger, p.Response, p.Uses, p.Successes,
			pgvector.NewVector(p.Embedding), p.Status, p.Source, texts(p.Examples), texts(p.SourceCallIDs),
			p.CreatedAt, p.UpdatedAt)
		return err
	})
	switch {
	case err != nil:
		return store.Pattern{}, wrap(ctx, op, err)
	case full:
		return store.Pattern{}, fmt.Errorf("postgres: %s: %w", op, &store.LimitError{What: "patterns", Max: s.maxPatterns})
	}
	return p, nil
}

// GetPattern returns a pattern of the organization.
func (s *Store) GetPattern(ctx context.Context, org store.OrgID, id store.PatternID) (store.Pattern, error) {
	p, err := scanPattern(s.pool.QueryRow(ctx, `SELECT `+patternCols+` FROM patterns WHERE org_id = $1 AND id = $2`, org, id))
	if err != nil {
		return store.Pattern{}, wrap(ctx, "get pattern", err)
	}
	return p, nil
}

// patternWhere is the WHERE clause of a PatternFilter, its arguments
// appended to args.
func patternWhere(org store.OrgID, f store.PatternFilter, args []any) (string, []any) {
	args = append(args, org)
	where := fmt.Sprintf(`org_id = $%d`, len(args))
	if f.AgentID != "" {
		args = append(args, f.AgentID)
		where += fmt.Sprintf(` AND (agent_id = $%d OR agent_id IS NULL)`, len(args))
	}
	if f.Kind != "" {
		args = append(args, f.Kind)
		where += fmt.Sprintf(` AND kind = $%d`, len(args))
	}
	if f.Status != "" {
		args = append(args, f.Status)
		where += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	return where, args
}

// ListPatterns lists the organization's patterns newest first.
func (s *Store) ListPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, p store.Page) ([]store.Pattern, string, error) {
	const op = "list patterns"
	limit := pageLimit(p)
	where, args := patternWhere(org, f, []any{limit + 1})
	if p.Cursor != "" {
		var (
			t  time.Time
			id string
		)
		if err := decodeCursor(op, p.Cursor, &t, &id); err != nil {
			return nil, "", err
		}
		args = append(args, t, id)
		where += fmt.Sprintf(` AND (created_at, id) < ($%d, $%d)`, len(args)-1, len(args))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+patternCols+` FROM patterns WHERE `+where+`
		ORDER BY created_at DESC, id DESC LIMIT $1`, args...)
	out, err := collect(ctx, op, rows, err, func(r scanner) (store.Pattern, error) { return scanPattern(r) })
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(last.CreatedAt, string(last.ID))
	}
	return out, next, nil
}

// DeletePattern deletes a pattern of the organization.
func (s *Store) DeletePattern(ctx context.Context, org store.OrgID, id store.PatternID) error {
	const op = "delete pattern"
	tag, err := s.pool.Exec(ctx, `DELETE FROM patterns WHERE org_id = $1 AND id = $2`, org, id)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op)
	}
	return nil
}

// RecordPatternUse counts one use of a pattern, and one success if it
// worked.
func (s *Store) RecordPatternUse(ctx context.Context, org store.OrgID, id store.PatternID, success bool) error {
	const op = "record pattern use"
	tag, err := s.pool.Exec(ctx, `UPDATE patterns SET uses = uses + 1, successes = successes + CASE WHEN $3 THEN 1 ELSE 0 END,
		updated_at = $4 WHERE org_id = $1 AND id = $2`, org, id, success, now())
	if err != nil {
		return wrap(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op)
	}
	return nil
}

// MergePattern adds a call's use, example and id to a pattern (see
// store.Pattern.Merge), reading and writing it under the row's lock.
func (s *Store) MergePattern(ctx context.Context, org store.OrgID, id store.PatternID, m store.PatternMerge) (store.Pattern, error) {
	const op = "merge pattern"
	if err := m.Check(); err != nil {
		return store.Pattern{}, checked(op, err)
	}
	var p store.Pattern
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		p, err = scanPattern(tx.QueryRow(ctx, `SELECT `+patternCols+` FROM patterns WHERE org_id = $1 AND id = $2 FOR UPDATE`, org, id))
		if err != nil || !p.Merge(m, now()) {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE patterns SET uses = $3, successes = $4, examples = $5, source_call_ids = $6, updated_at = $7
			WHERE org_id = $1 AND id = $2`,
			org, id, p.Uses, p.Successes, texts(p.Examples), texts(p.SourceCallIDs), p.UpdatedAt)
		return err
	})
	if err != nil {
		return store.Pattern{}, wrap(ctx, op, err)
	}
	return p, nil
}

// SetPatternStatus sets a pattern's status.
func (s *Store) SetPatternStatus(ctx context.Context, org store.OrgID, id store.PatternID, status store.PatternStatus) (store.Pattern, error) {
	const op = "set pattern status"
	if !status.Valid() {
		return store.Pattern{}, invalid(op, "unknown pattern status %q", status)
	}
	p, err := scanPattern(s.pool.QueryRow(ctx, `UPDATE patterns SET status = $3, updated_at = $4
		WHERE org_id = $1 AND id = $2 RETURNING `+patternCols, org, id, status, now()))
	if err != nil {
		return store.Pattern{}, wrap(ctx, op, err)
	}
	return p, nil
}

// MaxSimilar caps SimilarPatterns' k.
const MaxSimilar = 100

// efSearch is the HNSW candidate list for a top-k search. pgvector's default,
// 40, gave a recall@5 of 0.96 (0.94 with an agent filter) on 100,000
// clustered 768-dimensional embeddings (loadtest/storebench); 100 gave 0.99
// (0.999) for no measurable latency.
func efSearch(k int) int { return max(100, 2*k) }

// SimilarPatterns returns the k patterns of the organization (filtered by
// agent, which also matches org-wide patterns, kind and status) most similar to
// query by cosine similarity, best first, through the HNSW index.
//
// HNSW is approximate: hnsw.ef_search, the size of the candidate list, is
// set to efSearch(k) for this transaction so recall stays high; and since
// the index knows nothing of organizations or filters, pgvector's iterative
// scan (0.8+) keeps walking the graph until k rows pass the WHERE clause, in
// exact distance order.
func (s *Store) SimilarPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, query []float32, k int) ([]store.ScoredPattern, error) {
	const op = "similar patterns"
	if k < 1 {
		return nil, invalid(op, "k is %d, want at least 1", k)
	}
	k = min(k, MaxSimilar)
	if err := checkEmbedding(op, "query", query); err != nil {
		return nil, err
	}
	where, args := patternWhere(org, f, []any{pgvector.NewVector(query), k})
	// One round trip: a batch runs in one implicit transaction, so the
	// transaction-local search settings apply to the query after them.
	var out []store.ScoredPattern
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true)`,
		fmt.Sprint(efSearch(k)))
	b.Queue(`SELECT `+patternCols+`, embedding <=> $1 AS distance FROM patterns WHERE `+where+`
			ORDER BY embedding <=> $1 LIMIT $2`, args...).Query(func(rows pgx.Rows) error {
		var err error
		out, err = scanAll(rows, nil, func(r scanner) (store.ScoredPattern, error) {
			var d float64
			p, err := scanPattern(r, &d)
			return store.ScoredPattern{Pattern: p, Similarity: 1 - d}, err
		})
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}
