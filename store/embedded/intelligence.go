package embedded

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/iace/iace/store"
)

// encodePrediction stores a call's prediction as JSON (its features
// compacted), NULL for none.
func encodePrediction(p *store.CallPrediction) (sql.NullString, error) {
	if p == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

// decodePrediction reads what encodePrediction stored; nil for NULL.
func decodePrediction(v sql.NullString) (*store.CallPrediction, error) {
	if !v.Valid {
		return nil, nil
	}
	var p *store.CallPrediction
	if err := json.Unmarshal([]byte(v.String), &p); err != nil {
		return nil, fmt.Errorf("prediction: %w", err)
	}
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
	c, err := scanCustomer(s.w.QueryRowContext(ctx, `UPDATE customers SET memory_summary = ?, updated_at = ?
		WHERE org_id = ? AND id = ? RETURNING `+customerCols, summary, micros(s.nowUTC()), org, id))
	if err != nil {
		return store.Customer{}, mapErr(op, err)
	}
	return c, nil
}

const modelCols = `org_id, version, trained_at, examples, resolution_auc, escalation_auc, model, created_at`

func scanModel(sc scanner) (store.PredictionModel, error) {
	var (
		m                store.PredictionModel
		model            string
		trained, created int64
	)
	if err := sc.Scan(&m.OrgID, &m.Version, &trained, &m.Examples, &m.ResolutionAUC, &m.EscalationAUC, &model, &created); err != nil {
		return store.PredictionModel{}, err
	}
	m.TrainedAt, m.CreatedAt = fromMicros(trained), fromMicros(created)
	m.Model = json.RawMessage(model)
	return m, nil
}

// SavePredictionModel stores the organization's next model version. The
// store's single writer runs one save at a time, so each reads the latest
// version after the previous one committed; the versions beyond
// store.MaxPredictionModels go in the same transaction.
func (s *Store) SavePredictionModel(ctx context.Context, m store.PredictionModel) (store.PredictionModel, error) {
	const op = "save prediction model"
	if err := m.Check(); err != nil {
		return store.PredictionModel{}, checked(op, err)
	}
	var model bytes.Buffer
	if err := json.Compact(&model, m.Model); err != nil {
		return store.PredictionModel{}, invalid(op, "model: %v", err)
	}
	m.TrainedAt = norm(m.TrainedAt)
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.now()
	}
	m.CreatedAt = norm(m.CreatedAt)
	var out store.PredictionModel
	err := s.withTx(ctx, op, func(tx *sql.Tx) error {
		// An unknown organization breaks the foreign key: ErrNotFound.
		var err error
		out, err = scanModel(tx.QueryRowContext(ctx, `INSERT INTO prediction_models (`+modelCols+`)
			SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7 FROM prediction_models WHERE org_id = ?1
			RETURNING `+modelCols,
			m.OrgID, micros(m.TrainedAt), m.Examples, m.ResolutionAUC, m.EscalationAUC, model.String(), micros(m.CreatedAt)))
		if err != nil {
			return mapErr(op, err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM prediction_models WHERE org_id = ? AND version <= ?`,
			m.OrgID, out.Version-store.MaxPredictionModels)
		return mapErr(op, err)
	})
	if err != nil {
		return store.PredictionModel{}, err
	}
	return out, nil
}

// LatestPredictionModel returns the organization's highest model version.
func (s *Store) LatestPredictionModel(ctx context.Context, org store.OrgID) (store.PredictionModel, error) {
	m, err := scanModel(s.queryRow(ctx, `SELECT `+modelCols+` FROM prediction_models WHERE org_id = ?
		ORDER BY version DESC LIMIT 1`, org))
	if err != nil {
		return store.PredictionModel{}, mapErr("latest prediction model", err)
	}
	return m, nil
}

// ListPredictionModels returns the organization's kept models, newest first.
func (s *Store) ListPredictionModels(ctx context.Context, org store.OrgID) ([]store.PredictionModel, error) {
	const op = "list prediction models"
	rows, err := s.query(ctx, `SELECT `+modelCols+` FROM prediction_models WHERE org_id = ? ORDER BY version DESC`, org)
	out, err := collect(op, rows, err, scanModel)
	if err == nil && out == nil {
		out = []store.PredictionModel{}
	}
	return out, err
}

// labelledSelect reads the calls LabelledCalls returns, through the
// calls_labelled partial index (whose predicate it repeats); AFTER is the
// condition on ended_at.
const labelledSelect = `SELECT id, ended_at, outcome, json_extract(prediction, '$.features') FROM calls
	WHERE org_id = ? AND prediction IS NOT NULL AND status = 'ended' AND outcome <> ''
		AND json_type(prediction, '$.features') = 'object' AND `

// LabelledCalls reads the organization's ended calls with an outcome and
// prediction features, newest ended first.
func (s *Store) LabelledCalls(ctx context.Context, org store.OrgID, q store.LabelledQuery) ([]store.LabelledCall, error) {
	const op = "labelled calls"
	limit := q.Limit
	if limit <= 0 || limit > store.MaxLabelledCalls {
		limit = store.MaxLabelledCalls
	}
	query, args := labelledSelect+`ended_at IS NOT NULL`, []any{org}
	if !q.After.IsZero() {
		query, args = labelledSelect+`ended_at > ?`, append(args, micros(norm(q.After)))
	}
	rows, err := s.query(ctx, query+` ORDER BY ended_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	out, err := collect(op, rows, err, func(sc scanner) (store.LabelledCall, error) {
		var (
			l        store.LabelledCall
			ended    int64
			features string
		)
		if err := sc.Scan(&l.CallID, &ended, &l.Outcome, &features); err != nil {
			return l, err
		}
		l.EndedAt, l.Features = fromMicros(ended), json.RawMessage(features)
		return l, nil
	})
	if err == nil && out == nil {
		out = []store.LabelledCall{}
	}
	return out, err
}
