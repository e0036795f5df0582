package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/iace/iace/store"
)

const agentCols = `id, org_id, name, greeting, system_prompt, voice, language, fallback,
	intents, transfer_number, settings, tools, escalation, created_at, updated_at`

// agentColsOf is agentCols qualified by a table alias, for joins.
func agentColsOf(alias string) string { return qualify(agentCols, alias) }

// nullableAgentCols reads the agent of a LEFT JOIN, which may be absent.
func nullableAgentCols(alias string) string {
	return orZero(agentCols, alias, []string{"created_at", "updated_at"}, nil)
}

// agentJSON holds an agent's JSON columns as text.
type agentJSON struct {
	intents, settings, tools, escalation string
}

func encodeAgentJSON(a *store.Agent) (agentJSON, error) {
	var (
		j   agentJSON
		err error
		b   []byte
	)
	if b, err = json.Marshal(a.Intents); err != nil {
		return j, err
	}
	j.intents = string(b)
	if b, err = json.Marshal(a.Settings); err != nil {
		return j, err
	}
	j.settings = string(b)
	if b, err = json.Marshal(a.Tools); err != nil {
		return j, err
	}
	j.tools = string(b)
	if b, err = json.Marshal(a.Escalation); err != nil {
		return j, err
	}
	j.escalation = string(b)
	return j, nil
}

// agentRow receives an agents row.
type agentRow struct {
	a                store.Agent
	j                agentJSON
	created, updated int64
}

func (r *agentRow) dest() []any {
	a := &r.a
	return []any{&a.ID, &a.OrgID, &a.Name, &a.Greeting, &a.SystemPrompt, &a.Voice, &a.Language, &a.Fallback,
		&r.j.intents, &a.TransferNumber, &r.j.settings, &r.j.tools, &r.j.escalation, &r.created, &r.updated}
}

func (r *agentRow) agent() (store.Agent, error) {
	a := r.a
	if err := decodeAgentJSON(&a, r.j); err != nil {
		return store.Agent{}, err
	}
	a.CreatedAt = fromMicros(r.created)
	a.UpdatedAt = fromMicros(r.updated)
	return a, nil
}

func scanAgent(sc scanner) (store.Agent, error) {
	var r agentRow
	if err := sc.Scan(r.dest()...); err != nil {
		return store.Agent{}, err
	}
	return r.agent()
}

func decodeAgentJSON(a *store.Agent, j agentJSON) error {
	for _, f := range []struct {
		text string
		dst  any
	}{
		{j.intents, &a.Intents},
		{j.settings, &a.Settings},
		{j.tools, &a.Tools},
		{j.escalation, &a.Escalation},
	} {
		if err := json.Unmarshal([]byte(f.text), f.dst); err != nil {
			return fmt.Errorf("agent %s: %w", a.ID, err)
		}
	}
	return nil
}

func checkAgent(op string, a *store.Agent) error { return checked(op, a.Check()) }

// CreateAgent adds an agent. Its Numbers are not kept: numbers are assigned
// with AssignNumber.
func (s *Store) CreateAgent(ctx context.Context, a store.Agent) (store.Agent, error) {
	const op = "create agent"
	if err := checkAgent(op, &a); err != nil {
		return store.Agent{}, err
	}
	if a.ID == "" {
		a.ID = store.AgentID(newID())
	}
	now := s.nowUTC()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	a.CreatedAt, a.UpdatedAt = norm(a.CreatedAt), norm(a.UpdatedAt)
	a.Numbers = nil
	j, err := encodeAgentJSON(&a)
	if err != nil {
		return store.Agent{}, invalid(op, "%v", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO agents (`+agentCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.OrgID, a.Name, a.Greeting, a.SystemPrompt, a.Voice, a.Language, a.Fallback,
		j.intents, a.TransferNumber, j.settings, j.tools, j.escalation, micros(a.CreatedAt), micros(a.UpdatedAt))
	if err != nil {
		return store.Agent{}, mapErr(op, err)
	}
	return a, nil
}

// GetAgent reads an agent of the organization.
func (s *Store) GetAgent(ctx context.Context, org store.OrgID, id store.AgentID) (store.Agent, error) {
	a, err := scanAgent(s.queryRow(ctx,
		`SELECT `+agentCols+` FROM agents WHERE org_id = ? AND id = ?`, org, id))
	if err != nil {
		return store.Agent{}, mapErr("get agent", err)
	}
	return a, nil
}

// ListAgents lists the organization's agents by name.
func (s *Store) ListAgents(ctx context.Context, org store.OrgID) ([]store.Agent, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+agentCols+` FROM agents WHERE org_id = ? ORDER BY name, id`, org)
	return collect("list agents", rows, err, scanAgent)
}

// UpdateAgent replaces an agent's settings; UpdatedAt becomes now.
func (s *Store) UpdateAgent(ctx context.Context, a store.Agent) (store.Agent, error) {
	const op = "update agent"
	if err := checkAgent(op, &a); err != nil {
		return store.Agent{}, err
	}
	j, err := encodeAgentJSON(&a)
	if err != nil {
		return store.Agent{}, invalid(op, "%v", err)
	}
	out, err := scanAgent(s.w.QueryRowContext(ctx, `
		UPDATE agents SET name = ?, greeting = ?, system_prompt = ?, voice = ?, language = ?, fallback = ?,
			intents = ?, transfer_number = ?, settings = ?, tools = ?, escalation = ?, updated_at = ?
		WHERE org_id = ? AND id = ?
		RETURNING `+agentCols,
		a.Name, a.Greeting, a.SystemPrompt, a.Voice, a.Language, a.Fallback,
		j.intents, a.TransferNumber, j.settings, j.tools, j.escalation, micros(s.nowUTC()),
		a.OrgID, a.ID))
	if err != nil {
		return store.Agent{}, mapErr(op, err)
	}
	return out, nil
}

// DeleteAgent removes an agent and its numbers; its calls keep its id.
func (s *Store) DeleteAgent(ctx context.Context, org store.OrgID, id store.AgentID) error {
	const op = "delete agent"
	res, err := s.w.ExecContext(ctx, `DELETE FROM agents WHERE org_id = ? AND id = ?`, org, id)
	if err != nil {
		return mapErr(op, err)
	}
	return affectedOne(op, res)
}

// AssignNumber routes a number allotted to the organization to one of its
// agents; a number it routes already moves to the new agent. A number not
// allotted to the organization (to another, or to none) and an agent that
// is not the organization's are ErrNotFound.
func (s *Store) AssignNumber(ctx context.Context, n store.Number) error {
	const op = "assign number"
	switch {
	case n.OrgID == "":
		return invalid(op, "org id is empty")
	case strings.TrimSpace(string(n.E164)) == "":
		return invalid(op, "number is empty")
	case n.AgentID == "":
		return invalid(op, "agent id is empty")
	}
	res, err := s.w.ExecContext(ctx, `
		INSERT INTO numbers (e164, org_id, agent_id) VALUES (?, ?, ?)
		ON CONFLICT (e164) DO UPDATE SET agent_id = excluded.agent_id
		WHERE numbers.org_id = excluded.org_id`,
		n.E164, n.OrgID, n.AgentID)
	if err != nil {
		return mapErr(op, err)
	}
	if affected, err := res.RowsAffected(); err != nil {
		return mapErr(op, err)
	} else if affected == 0 {
		// Routed by another organization, so allotted to it: answered as a
		// number allotted to none (the foreign key's ErrNotFound).
		return fmt.Errorf("embedded: %s: %w: the number is not allotted to the organization", op, store.ErrNotFound)
	}
	return nil
}

// RemoveNumber stops routing a number of the organization.
func (s *Store) RemoveNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error {
	const op = "remove number"
	res, err := s.w.ExecContext(ctx, `DELETE FROM numbers WHERE org_id = ? AND e164 = ?`, org, e164)
	if err != nil {
		return mapErr(op, err)
	}
	return affectedOne(op, res)
}

// ListNumbers lists the organization's numbers in order.
func (s *Store) ListNumbers(ctx context.Context, org store.OrgID) ([]store.Number, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT e164, org_id, agent_id FROM numbers WHERE org_id = ? ORDER BY e164`, org)
	return collect("list numbers", rows, err, func(sc scanner) (store.Number, error) {
		var n store.Number
		err := sc.Scan(&n.E164, &n.OrgID, &n.AgentID)
		return n, err
	})
}

// AgentForNumber finds, across organizations, the agent a dialed number
// routes to (an incoming call).
func (s *Store) AgentForNumber(ctx context.Context, e164 store.PhoneNumber) (store.Agent, error) {
	a, err := scanAgent(s.queryRow(ctx, `
		SELECT `+agentColsOf("a")+`
		FROM numbers n JOIN agents a ON a.org_id = n.org_id AND a.id = n.agent_id
		WHERE n.e164 = ?`, e164))
	if err != nil {
		return store.Agent{}, mapErr("agent for number", err)
	}
	return a, nil
}
