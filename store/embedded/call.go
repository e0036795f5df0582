package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iace/iace/store"
)

// callWriteCols are the columns CreateCall writes; callCols adds the
// summary and prediction, which only FinishCall writes.
const (
	callWriteCols = `id, org_id, agent_id, customer_id, call_control_id, call_session_id, direction,
	from_number, to_number, status, outcome, end_reason, escalation_reason,
	started_at, answered_at, ended_at, duration_us, sentiment`
	callCols = callWriteCols + `, summary, prediction`
)

// callColsOf is callCols qualified by a table alias, for joins.
func callColsOf(alias string) string { return qualify(callCols, alias) }

// callRow receives a calls row.
type callRow struct {
	c          store.Call
	customer   sql.NullString
	started    int64
	answered   sql.NullInt64
	ended      sql.NullInt64
	durationUs int64
	sentiment  sql.NullString
	prediction sql.NullString
}

func (r *callRow) dest() []any {
	c := &r.c
	return []any{&c.ID, &c.OrgID, &c.AgentID, &r.customer, &c.CallControlID, &c.CallSessionID, &c.Direction,
		&c.From, &c.To, &c.Status, &c.Outcome, &c.EndReason, &c.EscalationReason,
		&r.started, &r.answered, &r.ended, &r.durationUs, &r.sentiment, &c.Summary, &r.prediction}
}

func (r *callRow) call() (store.Call, error) {
	c := r.c
	c.CustomerID = store.CustomerID(r.customer.String)
	c.StartedAt = fromMicros(r.started)
	c.AnsweredAt = timePtr(r.answered)
	c.EndedAt = timePtr(r.ended)
	c.Duration = time.Duration(r.durationUs) * time.Microsecond
	if r.sentiment.Valid {
		c.Sentiment = new(store.Sentiment)
		if err := json.Unmarshal([]byte(r.sentiment.String), c.Sentiment); err != nil {
			return store.Call{}, err
		}
	}
	var err error
	if c.Prediction, err = decodePrediction(r.prediction); err != nil {
		return store.Call{}, fmt.Errorf("call %s: %w", c.ID, err)
	}
	return c, nil
}

func scanCall(sc scanner) (store.Call, error) {
	var r callRow
	if err := sc.Scan(r.dest()...); err != nil {
		return store.Call{}, err
	}
	return r.call()
}

// encodeSentiment stores a call's sentiment summary as JSON, NULL for nil.
func encodeSentiment(s *store.Sentiment) (sql.NullString, error) {
	if s == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

// checkCall reports what is wrong with a call to write; an empty Status is
// ringing.
func checkCall(op string, c *store.Call) error {
	if err := c.Check(); err != nil {
		return checked(op, err)
	}
	c.AnsweredAt = normPtr(c.AnsweredAt)
	c.EndedAt = normPtr(c.EndedAt)
	c.Duration = c.Duration.Truncate(time.Microsecond)
	return nil
}

// CreateCall records a call. An empty Status is ringing. The customer, when
// set, must be one of the organization's. Its summary and prediction are
// FinishCall's to write: the call is created without them.
func (s *Store) CreateCall(ctx context.Context, c store.Call) (store.Call, error) {
	const op = "create call"
	if err := checkCall(op, &c); err != nil {
		return store.Call{}, err
	}
	c.Summary, c.Prediction = "", nil
	if c.ID == "" {
		c.ID = store.CallID(newID())
	}
	if c.StartedAt.IsZero() {
		c.StartedAt = s.now()
	}
	c.StartedAt = norm(c.StartedAt)
	sent, err := encodeSentiment(c.Sentiment)
	if err != nil {
		return store.Call{}, invalid(op, "sentiment: %v", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO calls (`+callWriteCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.OrgID, c.AgentID, nullString(string(c.CustomerID)), c.CallControlID, c.CallSessionID, c.Direction,
		c.From, c.To, c.Status, c.Outcome, c.EndReason, c.EscalationReason,
		micros(c.StartedAt), nullMicros(c.AnsweredAt), nullMicros(c.EndedAt), c.Duration.Microseconds(), sent)
	if err != nil {
		return store.Call{}, mapErr(op, err)
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
	c, err := scanCall(s.queryRow(ctx, `
		SELECT `+callCols+` FROM calls WHERE org_id = ? AND call_control_id = ?
		ORDER BY started_at DESC, id DESC LIMIT 1`, org, callControlID))
	if err != nil {
		return store.Call{}, mapErr(op, err)
	}
	return c, nil
}

// UpdateCall writes every field of the call but its id, organization,
// start time, summary and prediction (FinishCall's), and returns the call as
// stored.
func (s *Store) UpdateCall(ctx context.Context, c store.Call) (store.Call, error) {
	const op = "update call"
	if err := checkCall(op, &c); err != nil {
		return store.Call{}, err
	}
	sent, err := encodeSentiment(c.Sentiment)
	if err != nil {
		return store.Call{}, invalid(op, "sentiment: %v", err)
	}
	out, err := scanCall(s.w.QueryRowContext(ctx, `
		UPDATE calls SET agent_id = ?, customer_id = ?, call_control_id = ?, call_session_id = ?, direction = ?,
			from_number = ?, to_number = ?, status = ?, outcome = ?, end_reason = ?, escalation_reason = ?,
			answered_at = ?, ended_at = ?, duration_us = ?, sentiment = ?
		WHERE org_id = ? AND id = ?
		RETURNING `+callCols,
		c.AgentID, nullString(string(c.CustomerID)), c.CallControlID, c.CallSessionID, c.Direction,
		c.From, c.To, c.Status, c.Outcome, c.EndReason, c.EscalationReason,
		nullMicros(c.AnsweredAt), nullMicros(c.EndedAt), c.Duration.Microseconds(), sent,
		c.OrgID, c.ID))
	if err != nil {
		return store.Call{}, mapErr(op, err)
	}
	return out, nil
}

// listItemCols and listItemFrom read a call with its agent and customer in
// one query; the LEFT JOINs match on org_id too, so a call can never show
// another organization's agent or customer.
var listItemCols = callColsOf("c") + `,
	a.id IS NOT NULL, ` + nullableAgentCols("a") + `,
	cu.id IS NOT NULL, ` + nullableCustomerCols("cu")

const listItemFrom = `
	FROM calls c
	LEFT JOIN agents a ON a.org_id = c.org_id AND a.id = c.agent_id
	LEFT JOIN customers cu ON cu.org_id = c.org_id AND cu.id = c.customer_id`

// listItemSelect is what ListCalls reads: not the events, which only a
// call's detail shows.
var listItemSelect = `SELECT ` + listItemCols + listItemFrom

// detailSelect is listItemSelect with the call's events, for GetCall.
var detailSelect = `SELECT ` + listItemCols + `, c.events` + listItemFrom

// listItemRow receives a row of listItemSelect.
type listItemRow struct {
	call        callRow
	hasAgent    bool
	agent       agentRow
	hasCustomer bool
	customer    customerRow
}

func (r *listItemRow) dest() []any {
	d := r.call.dest()
	d = append(d, &r.hasAgent)
	d = append(d, r.agent.dest()...)
	d = append(d, &r.hasCustomer)
	return append(d, r.customer.dest()...)
}

// item builds the list item. agents holds the agents already decoded for
// this result, by id and update time: a page's calls share a few agents,
// whose JSON settings need decoding only once. The items get copies of the
// agent struct that share its slices.
func (r *listItemRow) item(agents map[agentKey]*store.Agent) (store.CallListItem, error) {
	var (
		it  store.CallListItem
		err error
	)
	if it.Call, err = r.call.call(); err != nil {
		return it, err
	}
	if r.hasAgent {
		key := agentKey{r.agent.a.ID, r.agent.updated}
		a := agents[key]
		if a == nil {
			decoded, err := r.agent.agent()
			if err != nil {
				return it, err
			}
			a = &decoded
			agents[key] = a
		}
		cp := *a
		it.Agent = &cp
	}
	if r.hasCustomer {
		c, err := r.customer.customer()
		if err != nil {
			return it, err
		}
		it.Customer = &c
	}
	return it, nil
}

// agentKey identifies a version of an agent.
type agentKey struct {
	id      store.AgentID
	updated int64
}

// GetCall reads a call with its agent, customer and transcript, from one
// snapshot of the database.
func (s *Store) GetCall(ctx context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error) {
	const op = "get call"
	callStmt, err := s.stmt(ctx, detailSelect+` WHERE c.org_id = ? AND c.id = ?`)
	if err != nil {
		return store.CallDetail{}, mapErr(op, err)
	}
	turnsStmt, err := s.stmt(ctx, `SELECT `+turnCols+` FROM turns WHERE org_id = ? AND call_id = ? ORDER BY seq`)
	if err != nil {
		return store.CallDetail{}, mapErr(op, err)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.CallDetail{}, mapErr(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to lose

	var (
		r      listItemRow
		events sql.NullString
	)
	if err := tx.StmtContext(ctx, callStmt).QueryRowContext(ctx, org, id).Scan(append(r.dest(), &events)...); err != nil {
		return store.CallDetail{}, mapErr(op, err)
	}
	item, err := r.item(map[agentKey]*store.Agent{})
	if err != nil {
		return store.CallDetail{}, mapErr(op, err)
	}
	evs, err := decodeEvents(events)
	if err != nil {
		return store.CallDetail{}, mapErr(op, err)
	}
	rows, err := tx.StmtContext(ctx, turnsStmt).QueryContext(ctx, org, id)
	turns, err := collect(op, rows, err, scanTurn)
	if err != nil {
		return store.CallDetail{}, err
	}
	return store.CallDetail{CallListItem: item, Turns: turns, Events: evs}, nil
}

// encodeEvents stores a call's events as a JSON array, NULL for none.
func encodeEvents(evs []store.CallEvent) (sql.NullString, error) {
	if len(evs) == 0 {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(evs)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

// decodeEvents reads what encodeEvents stored; nil for NULL.
func decodeEvents(v sql.NullString) ([]store.CallEvent, error) {
	if !v.Valid {
		return nil, nil
	}
	var evs []store.CallEvent
	if err := json.Unmarshal([]byte(v.String), &evs); err != nil {
		return nil, fmt.Errorf("call events: %w", err)
	}
	return evs, nil
}

// ListCalls lists the organization's calls, newest first (StartedAt desc,
// then ID desc), each with its agent and customer, in one query.
func (s *Store) ListCalls(ctx context.Context, org store.OrgID, f store.CallFilter, p store.Page) ([]store.CallListItem, string, error) {
	const op = "list calls"
	cur, after, err := decodeCursor(op, listCalls, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(p)

	var sb strings.Builder
	args := make([]any, 0, 10)
	sb.WriteString(listItemSelect)
	sb.WriteString(` WHERE c.org_id = ?`)
	args = append(args, org)
	if f.Status != "" {
		sb.WriteString(` AND c.status = ?`)
		args = append(args, f.Status)
	}
	if f.Outcome != "" {
		sb.WriteString(` AND c.outcome = ?`)
		args = append(args, f.Outcome)
	}
	if f.AgentID != "" {
		sb.WriteString(` AND c.agent_id = ?`)
		args = append(args, f.AgentID)
	}
	if f.CustomerID != "" {
		sb.WriteString(` AND c.customer_id = ?`)
		args = append(args, f.CustomerID)
	}
	if !f.From.IsZero() {
		sb.WriteString(` AND c.started_at >= ?`)
		args = append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		sb.WriteString(` AND c.started_at < ?`)
		args = append(args, micros(f.To))
	}
	if after {
		sb.WriteString(` AND (c.started_at, c.id) < (?, ?)`)
		args = append(args, cur.Time, cur.ID)
	}
	sb.WriteString(` ORDER BY c.started_at DESC, c.id DESC LIMIT ?`)
	args = append(args, limit+1)

	rows, err := s.query(ctx, sb.String(), args...)
	agents := map[agentKey]*store.Agent{}
	items, err := collect(op, rows, err, func(sc scanner) (store.CallListItem, error) {
		var r listItemRow
		if err := sc.Scan(r.dest()...); err != nil {
			return store.CallListItem{}, err
		}
		return r.item(agents)
	})
	if err != nil {
		return nil, "", err
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	last := items[limit-1].Call
	return items, cursor{List: listCalls, Time: micros(last.StartedAt), ID: string(last.ID)}.encode(), nil
}

// FinishCall ends a call in one transaction: the call's final state, its
// last turns, its events, summary and prediction, and its customer's
// statistics. A call already ended keeps its state, its customer not counted
// again, so a replay is harmless; only turns it does not have yet are added,
// and events, a summary and a prediction each only if it has none.
func (s *Store) FinishCall(ctx context.Context, end store.CallEnd) (store.Call, error) {
	const op = "finish call"
	if err := end.Check(); err != nil {
		return store.Call{}, checked(op, err)
	}
	if err := checkTurns(op, end.CallID, end.Turns); err != nil {
		return store.Call{}, err
	}
	endedAt := end.EndedAt
	if endedAt.IsZero() {
		endedAt = s.now()
	}
	endedAt = norm(endedAt)
	sent, err := encodeSentiment(end.Sentiment)
	if err != nil {
		return store.Call{}, invalid(op, "sentiment: %v", err)
	}
	events, err := encodeEvents(end.Events)
	if err != nil {
		return store.Call{}, invalid(op, "events: %v", err)
	}
	pred, err := encodePrediction(end.Prediction)
	if err != nil {
		return store.Call{}, invalid(op, "prediction: %v", err)
	}

	ins, err := s.insertTurnStmt(ctx, op)
	if err != nil {
		return store.Call{}, err
	}
	var out store.Call
	err = s.withTx(ctx, op, func(tx *sql.Tx) error {
		c, err := scanCall(tx.QueryRowContext(ctx,
			`SELECT `+callCols+` FROM calls WHERE org_id = ? AND id = ?`, end.OrgID, end.CallID))
		if err != nil {
			return mapErr(op, err)
		}
		// Turns are written even to a call already ended: insertTurns
		// skips those already there, and a call ended by UpdateCall (a
		// hang-up webhook first) keeps the session's last words.
		if err := insertTurns(ctx, tx, ins, op, end.OrgID, end.CallID, end.Turns, s.nowUTC()); err != nil {
			return err
		}
		if c.Status == store.CallEnded {
			out = c
			if !events.Valid && end.Summary == "" && !pred.Valid {
				return nil
			}
			// Like its turns, the events, summary and prediction of a call
			// ended first by someone else (a hang-up webhook) are kept,
			// each once.
			out, err = scanCall(tx.QueryRowContext(ctx, `
				UPDATE calls SET events = coalesce(events, ?),
					summary = CASE WHEN summary = '' THEN ? ELSE summary END, prediction = coalesce(prediction, ?)
				WHERE org_id = ? AND id = ?
				RETURNING `+callCols,
				events, end.Summary, pred, end.OrgID, end.CallID))
			return mapErr(op, err)
		}
		duration := max(endedAt.Sub(c.StartedAt), 0)
		out, err = scanCall(tx.QueryRowContext(ctx, `
			UPDATE calls SET status = ?, ended_at = ?, duration_us = ?, outcome = ?, end_reason = ?,
				escalation_reason = ?, sentiment = coalesce(?, sentiment), events = coalesce(events, ?),
				summary = CASE WHEN summary = '' THEN ? ELSE summary END, prediction = coalesce(prediction, ?)
			WHERE org_id = ? AND id = ?
			RETURNING `+callCols,
			store.CallEnded, micros(endedAt), duration.Microseconds(), end.Outcome, end.EndReason,
			end.EscalationReason, sent, events, end.Summary, pred, end.OrgID, end.CallID))
		if err != nil {
			return mapErr(op, err)
		}
		if c.CustomerID == "" {
			return nil
		}
		// LastCallAt only moves forward, whatever order calls finish in.
		_, err = tx.ExecContext(ctx, `
			UPDATE customers SET call_count = call_count + 1,
				last_call_at = max(coalesce(last_call_at, ?1), ?1)
			WHERE org_id = ?2 AND id = ?3`,
			micros(endedAt), end.OrgID, c.CustomerID)
		return mapErr(op, err)
	})
	if err != nil {
		return store.Call{}, err
	}
	return out, nil
}

// ClaimCallStream records the nonce of the stream token that opened the
// call's media stream, once: one UPDATE that only a call with no stream and
// not ended passes, so two streams racing with one token cannot both win.
func (s *Store) ClaimCallStream(ctx context.Context, org store.OrgID, id store.CallID, nonce string) (store.Call, error) {
	const op = "claim call stream"
	if nonce == "" {
		return store.Call{}, invalid(op, "empty nonce")
	}
	c, err := scanCall(s.w.QueryRowContext(ctx, `UPDATE calls SET stream_nonce = ?
		WHERE org_id = ? AND id = ? AND stream_nonce = '' AND status <> 'ended'
		RETURNING `+callCols, nonce, org, id))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.Call{}, mapErr(op, err)
	}
	var exists bool
	if err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM calls WHERE org_id = ? AND id = ?)`, org, id).Scan(&exists); err != nil {
		return store.Call{}, mapErr(op, err)
	}
	if !exists {
		return store.Call{}, notFound(op)
	}
	return store.Call{}, fmt.Errorf("embedded: %s: %w: the call's stream was already opened, or the call has ended", op, store.ErrConflict)
}
