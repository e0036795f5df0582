package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/iace/iace/store"
)

// compactJSON is b without insignificant white space: jsonb gives its
// text back with a space after every comma and colon.
func compactJSON(b []byte) (json.RawMessage, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodePrediction is a call's prediction for its jsonb column, nil (NULL)
// for none.
func encodePrediction(p *store.CallPrediction) ([]byte, error) {
	if p == nil {
		return nil, nil
	}
	return jsonValue(p)
}

// decodePrediction reads a call's prediction column; NULL is nil.
func decodePrediction(b []byte) (*store.CallPrediction, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var p *store.CallPrediction
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("prediction: %w", err)
	}
	if p == nil {
		return nil, nil
	}
	f, err := compactJSON(p.Features)
	if err != nil {
		return nil, fmt.Errorf("prediction features: %w", err)
	}
	p.Features = f
	return p, nil
}

// SetCustomerMemory replaces a customer's memory summary, trimmed, and its
// UpdatedAt, in one statement that writes no other column.
func (s *Store) SetCustomerMemory(ctx context.Context, org store.OrgID, id store.CustomerID, summary string) (store.Customer, error) {
	const op = "set customer memory"
	summary, err := store.CheckMemorySummary(summary)
	if err != nil {
		return store.Customer{}, checked(op, err)
	}
	c, err := scanCustomer(s.pool.QueryRow(ctx, `UPDATE customers SET memory_summary = $3, updated_at = $4
		WHERE org_id = $1 AND id = $2 RETURNING `+customerCols, org, id, summary, now()))
	if err != nil {
		return store.Customer{}, wrap(ctx, op, err)
	}
	return c, nil
}

const modelCols = `org_id, version, trained_at, examples, resolution_auc, escalation_auc, model, created_at`

func scanModel(r scanner) (store.PredictionModel, error) {
	var (
		m     store.PredictionModel
		org   string
		model []byte
	)
	if err := r.Scan(&org, &m.Version, &m.TrainedAt, &m.Examples, &m.ResolutionAUC, &m.EscalationAUC, &model, &m.CreatedAt); err != nil {
		return store.PredictionModel{}, err
	}
	m.OrgID = store.OrgID(org)
	var err error
	if m.Model, err = compactJSON(model); err != nil {
		return store.PredictionModel{}, fmt.Errorf("prediction model %d: %w", m.Version, err)
	}
	return m, nil
}

// SavePredictionModel stores the organization's next model version. The
// saves of one organization take turns on its row (as pattern creates do),
// so each reads the latest version after the previous one committed; the
// versions beyond store.MaxPredictionModels go in the same transaction.
func (s *Store) SavePredictionModel(ctx context.Context, m store.PredictionModel) (store.PredictionModel, error) {
	const op = "save prediction model"
	if err := m.Check(); err != nil {
		return store.PredictionModel{}, checked(op, err)
	}
	m.TrainedAt = norm(m.TrainedAt)
	m.CreatedAt = orNow(m.CreatedAt)
	var out store.PredictionModel
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// An unknown organization is pgx.ErrNoRows: ErrNotFound.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, m.OrgID).Scan(&one); err != nil {
			return err
		}
		var err error
		out, err = scanModel(tx.QueryRow(ctx, `INSERT INTO prediction_models (`+modelCols+`)
			SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7 FROM prediction_models WHERE org_id = $1
			RETURNING `+modelCols,
			m.OrgID, m.TrainedAt, m.Examples, m.ResolutionAUC, m.EscalationAUC, []byte(m.Model), m.CreatedAt))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM prediction_models WHERE org_id = $1 AND version <= $2`,
			m.OrgID, out.Version-store.MaxPredictionModels)
		return err
	})
	if err != nil {
		return store.PredictionModel{}, wrap(ctx, op, err)
	}
	return out, nil
}

// LatestPredictionModel returns the organization's highest model version.
func (s *Store) LatestPredictionModel(ctx context.Context, org store.OrgID) (store.PredictionModel, error) {
	m, err := scanModel(s.pool.QueryRow(ctx, `SELECT `+modelCols+` FROM prediction_models WHERE org_id = $1
		ORDER BY version DESC LIMIT 1`, org))
	if err != nil {
		return store.PredictionModel{}, wrap(ctx, "latest prediction model", err)
	}
	return m, nil
}

// ListPredictionModels returns the organization's kept models, newest first.
func (s *Store) ListPredictionModels(ctx context.Context, org store.OrgID) ([]store.PredictionModel, error) {
	const op = "list prediction models"
	rows, err := s.pool.Query(ctx, `SELECT `+modelCols+` FROM prediction_models WHERE org_id = $1 ORDER BY version DESC`, org)
	out, err := collect(ctx, op, rows, err, scanModel)
	if err == nil && out == nil {
		out = []store.PredictionModel{}
	}
	return out, err
}

// labelledWhere repeats the predicate of the calls_labelled index, so that
// the planner may use it.
const labelledWhere = `status = 'ended' AND outcome <> '' AND prediction ? 'features'`

// LabelledCalls reads the organization's ended calls with an outcome and
// prediction features, newest ended first, through the calls_labelled
// partial index.
func (s *Store) LabelledCalls(ctx context.Context, org store.OrgID, q store.LabelledQuery) ([]store.LabelledCall, error) {
	const op = "labelled calls"
	limit := q.Limit
	if limit <= 0 || limit > store.MaxLabelledCalls {
		limit = store.MaxLabelledCalls
	}
	after := `ended_at IS NOT NULL`
	args := []any{org, limit}
	if !q.After.IsZero() {
		after = `ended_at > $3`
		args = append(args, norm(q.After))
	}
	rows, err := s.pool.Query(ctx, `SELECT id, ended_at, outcome, prediction -> 'features' FROM calls
		WHERE org_id = $1 AND `+labelledWhere+` AND `+after+`
		ORDER BY ended_at DESC, id DESC LIMIT $2`, args...)
	out, err := collect(ctx, op, rows, err, func(r scanner) (store.LabelledCall, error) {
		var (
			l           store.LabelledCall
			id, outcome string
			features    []byte
		)
		if err := r.Scan(&id, &l.EndedAt, &outcome, &features); err != nil {
			return l, err
		}
		l.CallID, l.Outcome = store.CallID(id), store.Outcome(outcome)
		f, err := compactJSON(features)
		if err != nil {
			return l, fmt.Errorf("call %s features: %w", id, err)
		}
		l.Features = f
		return l, nil
	})
	if err == nil && out == nil {
		out = []store.LabelledCall{}
	}
	return out, err
}
