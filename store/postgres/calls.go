package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/iace/iace/store"
)

// callWriteCols are the columns CreateCall writes; callCols adds the
// summary and prediction, which only FinishCall writes.
const (
	callWriteCols = `id, org_id, agent_id, customer_id, call_control_id, call_session_id, direction, from_number, to_number,
	status, outcome, end_reason, escalation_reason, started_at, answered_at, ended_at, duration_us, sentiment`
	callCols = callWriteCols + `, summary, prediction`
)

func callColsOf(alias string) string {
	cols := strings.Split(callCols, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// callRow scans a call. Its typed strings (ids, status...) are scanned as
// plain strings: pgx converts to a named string type by reflection, which
// a list of 200 calls would pay 2,000 times.
type callRow struct {
	c                                      store.Call
	id, org, agent, from, to, status, outc string
	customer                               *string
	durationUs                             int64
	sentiment, prediction                  []byte
}

func (r *callRow) dest() []any {
	c := &r.c
	return []any{&r.id, &r.org, &r.agent, &r.customer, &c.CallControlID, &c.CallSessionID, &c.Direction, &r.from, &r.to,
		&r.status, &r.outc, &c.EndReason, &c.EscalationReason, &c.StartedAt, &c.AnsweredAt, &c.EndedAt, &r.durationUs, &r.sentiment,
		&c.Summary, &r.prediction}
}

func (r *callRow) call() (store.Call, error) {
	c := r.c
	c.ID, c.OrgID, c.AgentID = store.CallID(r.id), store.OrgID(r.org), store.AgentID(r.agent)
	c.From, c.To = store.PhoneNumber(r.from), store.PhoneNumber(r.to)
	c.Status, c.Outcome = store.CallStatus(r.status), store.Outcome(r.outc)
	c.CustomerID = emptyIfNull[store.CustomerID](r.customer)
	c.Duration = time.Duration(r.durationUs) * time.Microsecond
	if err := jsonScan(r.sentiment, &c.Sentiment); err != nil {
		return store.Call{}, fmt.Errorf("call %s: %w", c.ID, err)
	}
	var err error
	if c.Prediction, err = decodePrediction(r.prediction); err != nil {
		return store.Call{}, fmt.Errorf("call %s: %w", c.ID, err)
	}
	return c, nil
}

func scanCall(r scanner) (store.Call, error) {
	var row callRow
	if err := r.Scan(row.dest()...); err != nil {
		return store.Call{}, err
	}
	return row.call()
}

func checkCall(op string, c *store.Call) error {
	if err := c.Check(); err != nil {
		return checked(op, err)
	}
	c.StartedAt = norm(c.StartedAt)
	c.AnsweredAt = normPtr(c.AnsweredAt)
	c.EndedAt = normPtr(c.EndedAt)
	c.Duration = c.Duration.Truncate(time.Microsecond)
	return nil
}

// CreateCall records a call. Its customer, when set, must be one of the
// organization's (store.ErrNotFound otherwise). Its summary and prediction
// are FinishCall's to write: the call is created without them.
func (s *Store) CreateCall(ctx context.Context, c store.Call) (store.Call, error) {
	const op = "create call"
	if err := checkCall(op, &c); err != nil {
		return store.Call{}, err
	}
	c.Summary, c.Prediction = "", nil
	if c.ID == "" {
		c.ID = store.CallID(newID())
	}
	c.StartedAt = orNow(c.StartedAt)
	sent, err := jsonValue(c.Sentiment)
	if err != nil {
		return store.Call{}, wrap(ctx, op, err)
	}
	if c.Sentiment == nil {
		sent = nil
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO calls (`+callWriteCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		c.ID, c.OrgID, c.AgentID, nullIfEmpty(c.CustomerID), c.CallControlID, c.CallSessionID, c.Direction, c.From, c.To,
		c.Status, c.Outcome, c.EndReason, c.EscalationReason, c.StartedAt, c.AnsweredAt, c.EndedAt, c.Duration.Microseconds(), sent)
	if err != nil {
		return store.Call{}, wrap(ctx, op, err)
	}
	return c, nil
}

// CallByControlID finds the organization's call with a Telnyx
// call_control_id (the newest, should Telnyx ever reuse one).
func (s *Store) CallByControlID(ctx context.Context, org store.OrgID, callControlID string) (store.Call, error) {
	const op = "call by control id"
	if callControlID == "" {
		return store.Call{}, notFound(op)
	}
	c, err := scanCall(s.pool.QueryRow(ctx, `SELECT `+callCols+` FROM calls WHERE org_id = $1 AND call_control_id = $2
		ORDER BY started_at DESC, id DESC LIMIT 1`, org, callControlID))
	if err != nil {
		return store.Call{}, wrap(ctx, op, err)
	}
	return c, nil
}

// UpdateCall writes every field of a call but its ids, start time, summary
// and prediction (FinishCall's), and returns the call as stored.
func (s *Store) UpdateCall(ctx context.Context, c store.Call) (store.Call, error) {
	const op = "update call"
	if err := checkCall(op, &c); err != nil {
		return store.Call{}, err
	}
	sent, err := jsonValue(c.Sentiment)
	if err != nil {
		return store.Call{}, wrap(ctx, op, err)
	}
	if c.Sentiment == nil {
		sent = nil
	}
	got, err := scanCall(s.pool.QueryRow(ctx, `UPDATE calls SET agent_id = $3, customer_id = $4, call_control_id = $5,
		call_session_id = $6, direction = $7, from_number = $8, to_number = $9, status = $10, outcome = $11, end_reason = $12,
		escalation_reason = $13, answered_at = $14, ended_at = $15, duration_us = $16, sentiment = $17
		WHERE org_id = $1 AND id = $2 RETURNING `+callCols,
		c.OrgID, c.ID, c.AgentID, nullIfEmpty(c.CustomerID), c.CallControlID, c.CallSessionID, c.Direction, c.From, c.To,
		c.Status, c.Outcome, c.EndReason, c.EscalationReason, c.AnsweredAt, c.EndedAt, c.Duration.Microseconds(), sent))
	if err != nil {
		return store.Call{}, wrap(ctx, op, err)
	}
	return got, nil
}

// callItemCols and callItemFrom read calls with their agent and customer
// in one query.
var callItemCols = callColsOf("c") + `, ` + agentColsOf("a") + `, ` + customerColsOf("cu")

const callItemFrom = `
	FROM calls c
	LEFT JOIN agents a ON a.org_id = c.org_id AND a.id = c.agent_id
	LEFT JOIN customers cu ON cu.org_id = c.org_id AND cu.id = c.customer_id`

// callItemSelect is what ListCalls reads: not the events, which only a
// call's detail shows.
var callItemSelect = `SELECT ` + callItemCols + callItemFrom

// callDetailSelect is callItemSelect with the call's events, for GetCall.
var callDetailSelect = `SELECT ` + callItemCols + `, c.events` + callItemFrom

// scanCallItem scans a call with its agent and customer, then into extra
// what the query reads after them. agents memoizes the agents decoded so
// far in this list (a page of 200 calls has a few agents): each item gets
// its own copy, decoded once.
func scanCallItem(r scanner, agents map[string]*store.Agent, extra ...any) (store.CallListItem, error) {
	var (
		cr  callRow
		ar  agentRow
		cur customerRow
	)
	dest := append(append(append(cr.dest(), ar.dest()...), cur.dest()...), extra...)
	if err := r.Scan(dest...); err != nil {
		return store.CallListItem{}, err
	}
	var (
		it  store.CallListItem
		err error
	)
	if it.Call, err = cr.call(); err != nil {
		return it, err
	}
	if ar.id != nil {
		a, seen := agents[*ar.id]
		if !seen {
			if a, err = ar.agent(); err != nil {
				return it, err
			}
			agents[*ar.id] = a
		}
		cp := *a
		it.Agent = &cp
	}
	it.Customer, err = cur.customer()
	return it, err
}

// ListCalls lists the organization's calls newest first, each with its
// agent and customer, in one query whatever the page size. Every filter
// combination is served by an index that starts (org_id, [filter,]
// started_at DESC, id DESC).
func (s *Store) ListCalls(ctx context.Context, org store.OrgID, f store.CallFilter, p store.Page) ([]store.CallListItem, string, error) {
	const op = "list calls"
	limit := pageLimit(p)
	args := []any{org, limit + 1}
	var where strings.Builder
	where.WriteString(`c.org_id = $1`)
	cond := func(expr string, v any) {
		args = append(args, v)
		fmt.Fprintf(&where, ` AND %s $%d`, expr, len(args))
	}
	if f.Status != "" {
		cond(`c.status =`, f.Status)
	}
	if f.Outcome != "" {
		cond(`c.outcome =`, f.Outcome)
	}
	if f.AgentID != "" {
		cond(`c.agent_id =`, f.AgentID)
	}
	if f.CustomerID != "" {
		cond(`c.customer_id =`, f.CustomerID)
	}
	if !f.From.IsZero() {
		cond(`c.started_at >=`, norm(f.From))
	}
	if !f.To.IsZero() {
		cond(`c.started_at <`, norm(f.To))
	}
	if p.Cursor != "" {
		var (
			t  time.Time
			id string
		)
		if err := decodeCursor(op, p.Cursor, &t, &id); err != nil {
			return nil, "", err
		}
		args = append(args, t, id)
		fmt.Fprintf(&where, ` AND (c.started_at, c.id) < ($%d, $%d)`, len(args)-1, len(args))
	}
	rows, err := s.pool.Query(ctx, callItemSelect+` WHERE `+where.String()+`
		ORDER BY c.started_at DESC, c.id DESC LIMIT $2`, args...)
	agents := map[string]*store.Agent{}
	out, err := collect(ctx, op, rows, err, func(r scanner) (store.CallListItem, error) { return scanCallItem(r, agents) })
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1].Call
		next = encodeCursor(last.StartedAt, string(last.ID))
	}
	return out, next, nil
}

const turnCols = `call_id, seq, speaker, text, started_at, ended_at, interrupted, sentiment, latency`

func scanTurn(r scanner) (store.Turn, error) {
	var (
		t       store.Turn
		latency []byte
	)
	if err := r.Scan(&t.CallID, &t.Seq, &t.Speaker, &t.Text, &t.StartedAt, &t.EndedAt, &t.Interrupted, &t.Sentiment, &latency); err != nil {
		return store.Turn{}, err
	}
	if err := jsonScan(latency, &t.Latency); err != nil {
		return store.Turn{}, err
	}
	return t, nil
}

// GetCall returns a call of the organization with its agent, customer,
// transcript and events, in one round trip (a batch of two queries).
func (s *Store) GetCall(ctx context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error) {
	const op = "get call"
	b := &pgx.Batch{}
	var (
		d     store.CallDetail
		found bool
	)
	b.Queue(callDetailSelect+` WHERE c.org_id = $1 AND c.id = $2`, org, id).QueryRow(func(r pgx.Row) error {
		var events []byte
		it, err := scanCallItem(r, map[string]*store.Agent{}, &events)
		if err != nil {
			return err
		}
		if err := jsonScan(events, &d.Events); err != nil {
			return fmt.Errorf("call %s events: %w", it.Call.ID, err)
		}
		d.CallListItem, found = it, true
		return nil
	})
	b.Queue(`SELECT `+turnCols+` FROM turns WHERE org_id = $1 AND call_id = $2 ORDER BY seq`, org, id).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			t, err := scanTurn(rows)
			if err != nil {
				return err
			}
			d.Turns = append(d.Turns, t)
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil || !found {
		if err == nil {
			err = pgx.ErrNoRows
		}
		return store.CallDetail{}, wrap(ctx, op, err)
	}
	return d, nil
}

// ClaimCallStream records the nonce of the stream token that opened the
// call's media stream, once: one UPDATE that only a call with no stream and
// not ended passes, so two streams racing with one token cannot both win.
func (s *Store) ClaimCallStream(ctx context.Context, org store.OrgID, id store.CallID, nonce string) (store.Call, error) {
	const op = "claim call stream"
	if nonce == "" {
		return store.Call{}, invalid(op, "empty nonce")
	}
	c, err := scanCall(s.pool.QueryRow(ctx, `UPDATE calls SET stream_nonce = $3
		WHERE org_id = $1 AND id = $2 AND stream_nonce = '' AND status <> 'ended'
		RETURNING `+callCols, org, id, nonce))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Call{}, wrap(ctx, op, err)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM calls WHERE org_id = $1 AND id = $2)`, org, id).Scan(&exists); err != nil {
		return store.Call{}, wrap(ctx, op, err)
	}
	if !exists {
		return store.Call{}, notFound(op)
	}
	return store.Call{}, fmt.Errorf("postgres: %s: %w: the call's stream was already opened, or the call has ended", op, store.ErrConflict)
}
