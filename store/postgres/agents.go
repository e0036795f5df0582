package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/iace/iace/store"
)

// Agents keep their numbers as rows of the numbers table (AssignNumber);
// Agent.Numbers is neither written nor read here.

const agentCols = `id, org_id, name, greeting, system_prompt, voice, language, fallback, intents,
	transfer_number, settings, tools, escalation, created_at, updated_at`

// agentColsOf is agentCols qualified by a table alias, for joins.
func agentColsOf(alias string) string {
	cols := strings.Split(agentCols, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// agentRow scans an agent's columns, which a LEFT JOIN may leave NULL.
type agentRow struct {
	id, org, name, greeting, prompt, voice, lang, fallback, transfer *string
	intents, settings, tools, escalation                             []byte
	created, updated                                                 *time.Time
}

func (r *agentRow) dest() []any {
	return []any{&r.id, &r.org, &r.name, &r.greeting, &r.prompt, &r.voice, &r.lang, &r.fallback, &r.intents,
		&r.transfer, &r.settings, &r.tools, &r.escalation, &r.created, &r.updated}
}

// agent returns nil when the row was NULL (no agent joined).
func (r *agentRow) agent() (*store.Agent, error) {
	if r.id == nil {
		return nil, nil
	}
	a := &store.Agent{
		ID: store.AgentID(*r.id), OrgID: store.OrgID(*r.org), Name: *r.name, Greeting: *r.greeting,
		SystemPrompt: *r.prompt, Voice: *r.voice, Language: *r.lang, Fallback: *r.fallback,
		TransferNumber: *r.transfer, CreatedAt: *r.created, UpdatedAt: *r.updated,
	}
	for _, j := range []struct {
		b []byte
		v any
	}{{r.intents, &a.Intents}, {r.settings, &a.Settings}, {r.tools, &a.Tools}, {r.escalation, &a.Escalation}} {
		if err := jsonScan(j.b, j.v); err != nil {
			return nil, fmt.Errorf("agent %s: %w", *r.id, err)
		}
	}
	return a, nil
}

func scanAgent(r scanner) (store.Agent, error) {
	var row agentRow
	if err := r.Scan(row.dest()...); err != nil {
		return store.Agent{}, err
	}
	a, err := row.agent()
	if err != nil {
		return store.Agent{}, err
	}
	return *a, nil
}

// agentJSON encodes the agent's JSON columns.
func agentJSON(a *store.Agent) (intents, settings, tools, escalation []byte, err error) {
	if intents, err = jsonValue(a.Intents); err != nil {
		return
	}
	if settings, err = jsonValue(a.Settings); err != nil {
		return
	}
	if tools, err = jsonValue(a.Tools); err != nil {
		return
	}
	escalation, err = jsonValue(a.Escalation)
	return
}

func checkAgent(op string, a *store.Agent) error { return checked(op, a.Check()) }

// CreateAgent creates an agent.
func (s *Store) CreateAgent(ctx context.Context, a store.Agent) (store.Agent, error) {
	const op = "create agent"
	if err := checkAgent(op, &a); err != nil {
		return store.Agent{}, err
	}
	if a.ID == "" {
		a.ID = store.AgentID(newID())
	}
	a.CreatedAt = orNow(a.CreatedAt)
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	a.UpdatedAt = norm(a.UpdatedAt)
	intents, settings, tools, esc, err := agentJSON(&a)
	if err != nil {
		return store.Agent{}, wrap(ctx, op, err)
	}
	got, err := scanAgent(s.pool.QueryRow(ctx, `INSERT INTO agents (`+agentCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING `+agentCols,
		a.ID, a.OrgID, a.Name, a.Greeting, a.SystemPrompt, a.Voice, a.Language, a.Fallback, intents,
		a.TransferNumber, settings, tools, esc, a.CreatedAt, a.UpdatedAt))
	if err != nil {
		return store.Agent{}, wrap(ctx, op, err)
	}
	return got, nil
}

// GetAgent returns an agent of the organization.
func (s *Store) GetAgent(ctx context.Context, org store.OrgID, id store.AgentID) (store.Agent, error) {
	a, err := scanAgent(s.pool.QueryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE org_id = $1 AND id = $2`, org, id))
	if err != nil {
		return store.Agent{}, wrap(ctx, "get agent", err)
	}
	return a, nil
}

// ListAgents lists the organization's agents by name.
func (s *Store) ListAgents(ctx context.Context, org store.OrgID) ([]store.Agent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+agentCols+` FROM agents WHERE org_id = $1 ORDER BY name COLLATE "C", id`, org)
	return collect(ctx, "list agents", rows, err, scanAgent)
}

// UpdateAgent writes every field of an agent but its ids and creation time;
// UpdatedAt becomes now.
func (s *Store) UpdateAgent(ctx context.Context, a store.Agent) (store.Agent, error) {
	const op = "update agent"
	if err := checkAgent(op, &a); err != nil {
		return store.Agent{}, err
	}
	intents, settings, tools, esc, err := agentJSON(&a)
	if err != nil {
		return store.Agent{}, wrap(ctx, op, err)
	}
	got, err := scanAgent(s.pool.QueryRow(ctx, `UPDATE agents SET name = $3, greeting = $4, system_prompt = $5, voice = $6,
		language = $7, fallback = $8, intents = $9, transfer_number = $10, settings = $11, tools = $12, escalation = $13,
		updated_at = $14
		WHERE org_id = $1 AND id = $2 RETURNING `+agentCols,
		a.OrgID, a.ID, a.Name, a.Greeting, a.SystemPrompt, a.Voice, a.Language, a.Fallback, intents,
		a.TransferNumber, settings, tools, esc, now()))
	if err != nil {
		return store.Agent{}, wrap(ctx, op, err)
	}
	return got, nil
}

// DeleteAgent deletes an agent and, by the numbers table's foreign key, its
// numbers. Its calls keep its id.
func (s *Store) DeleteAgent(ctx context.Context, org store.OrgID, id store.AgentID) error {
	const op = "delete agent"
	tag, err := s.pool.Exec(ctx, `DELETE FROM agents WHERE org_id = $1 AND id = $2`, org, id)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op)
	}
	return nil
}

// AssignNumber routes a number allotted to the organization to one of its
// agents, moving it from another of its agents if need be. A number not
// allotted to the organization (to another, or to none) and an agent that is
// not the organization's are store.ErrNotFound.
func (s *Store) AssignNumber(ctx context.Context, n store.Number) error {
	const op = "assign number"
	switch {
	case n.OrgID == "":
		return invalid(op, "org id is empty")
	case n.E164 == "":
		return invalid(op, "number is empty")
	case n.AgentID == "":
		return invalid(op, "agent id is empty")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO numbers (e164, org_id, agent_id) VALUES ($1, $2, $3)
		ON CONFLICT (e164) DO UPDATE SET agent_id = EXCLUDED.agent_id WHERE numbers.org_id = EXCLUDED.org_id`,
		n.E164, n.OrgID, n.AgentID)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		// Routed by another organization, so allotted to it: answered as a
		// number allotted to none (the foreign key's ErrNotFound).
		return fmt.Errorf("postgres: %s: %w: the number is not allotted to the organization", op, store.ErrNotFound)
	}
	return nil
}

// RemoveNumber removes a number of the organization.
func (s *Store) RemoveNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error {
	const op = "remove number"
	tag, err := s.pool.Exec(ctx, `DELETE FROM numbers WHERE org_id = $1 AND e164 = $2`, org, e164)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op)
	}
	return nil
}

// ListNumbers lists the organization's numbers in order.
func (s *Store) ListNumbers(ctx context.Context, org store.OrgID) ([]store.Number, error) {
	rows, err := s.pool.Query(ctx, `SELECT org_id, e164, agent_id FROM numbers WHERE org_id = $1 ORDER BY e164`, org)
	return collect(ctx, "list numbers", rows, err, func(r scanner) (store.Number, error) {
		var n store.Number
		err := r.Scan(&n.OrgID, &n.E164, &n.AgentID)
		return n, err
	})
}

// AgentForNumber finds the agent a dialed number routes to, in whichever
// organization owns the number (an incoming call names no organization).
func (s *Store) AgentForNumber(ctx context.Context, e164 store.PhoneNumber) (store.Agent, error) {
	a, err := scanAgent(s.pool.QueryRow(ctx, `SELECT `+agentColsOf("a")+`
		FROM numbers n JOIN agents a ON a.org_id = n.org_id AND a.id = n.agent_id WHERE n.e164 = $1`, e164))
	if err != nil {
		return store.Agent{}, wrap(ctx, "agent for number", err)
	}
	return a, nil
}
