package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/iace/iace/loadtest/storebench/dataset"
	"github.com/iace/iace/store/postgres"
)

// bulkIndexes are built after the bulk load rather than row by row: an
// HNSW graph and a GIN index build far faster from the whole table.
var bulkIndexes = []string{"patterns_embedding", "turns_text_fts"}

// seedPostgres re-creates the schema, migrates it and loads the data set
// with COPY (the bench knows the tables; the store API is measured, not
// used, here).
func seedPostgres(ctx context.Context, c config, g *dataset.Gen, logf func(string, ...any)) ([]step, error) {
	var steps []step
	timed := func(name string, fn func() error) error {
		t0 := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		steps = append(steps, step{Name: name, Took: time.Since(t0)})
		logf("%s: %v", name, time.Since(t0).Round(time.Millisecond))
		return nil
	}
	cc, err := pgx.ParseConfig(c.url)
	if err != nil {
		return nil, err
	}
	admin, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	defer func() { _ = admin.Close(ctx) }()
	if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{c.schema}.Sanitize()+" CASCADE"); err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, postgres.Config{URL: c.url, Schema: c.schema}, postgres.Up); err != nil {
		return nil, err
	}
	cc.RuntimeParams["search_path"] = pgx.Identifier{c.schema}.Sanitize() + ", public"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(ctx) }()
	if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
		return nil, err
	}
	defs := map[string]string{}
	for _, name := range bulkIndexes {
		var def string
		if err := conn.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2`, c.schema, name).Scan(&def); err != nil {
			return nil, fmt.Errorf("index %s: %w", name, err)
		}
		defs[name] = def
		if _, err := conn.Exec(ctx, "DROP INDEX "+pgx.Identifier{name}.Sanitize()); err != nil {
			return nil, err
		}
	}

	copyRows := func(table string, cols []string, n int, row func(i int) ([]any, error)) error {
		i := 0
		_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			return row(i - 1)
		}))
		return err
	}
	js := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // the bench's own values
		}
		return b
	}
	nullable := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}

	err = timed("organization, agents, customers", func() error {
		if _, err := conn.Exec(ctx, `INSERT INTO organizations (id, name, created_at) VALUES ($1, 'Bench', $2)`, benchOrg, g.Start); err != nil {
			return err
		}
		if err := copyRows("agents", []string{"id", "org_id", "name", "greeting", "system_prompt", "voice", "language", "fallback",
			"intents", "transfer_number", "settings", "tools", "escalation", "created_at", "updated_at"}, g.Agents, func(i int) ([]any, error) {
			a := g.Agent(i)
			return []any{string(a.ID), string(a.OrgID), a.Name, a.Greeting, a.SystemPrompt, a.Voice, a.Language, a.Fallback,
				js(a.Intents), a.TransferNumber, js(a.Settings), js(a.Tools), js(a.Escalation), a.CreatedAt, a.UpdatedAt}, nil
		}); err != nil {
			return err
		}
		return copyRows("customers", []string{"id", "org_id", "phone", "name", "email", "attributes", "memory_summary",
			"call_count", "last_call_at", "created_at", "updated_at"}, g.Customers, func(i int) ([]any, error) {
			cu := g.Customer(i)
			return []any{string(cu.ID), string(cu.OrgID), string(cu.Phone), cu.Name, cu.Email, js(cu.Attributes), cu.MemorySummary,
				cu.CallCount, cu.LastCallAt, cu.CreatedAt, cu.UpdatedAt}, nil
		})
	})
	if err != nil {
		return nil, err
	}
	err = timed(fmt.Sprintf("%d calls", g.Calls), func() error {
		return copyRows("calls", []string{"id", "org_id", "agent_id", "customer_id", "call_control_id", "call_session_id", "direction",
			"from_number", "to_number", "status", "outcome", "end_reason", "escalation_reason", "started_at", "answered_at", "ended_at",
			"duration_us", "sentiment"}, g.Calls, func(i int) ([]any, error) {
			cl := g.Call(i)
			return []any{string(cl.ID), string(cl.OrgID), string(cl.AgentID), nullable(string(cl.CustomerID)), cl.CallControlID,
				cl.CallSessionID, cl.Direction, string(cl.From), string(cl.To), string(cl.Status), string(cl.Outcome), cl.EndReason,
				cl.EscalationReason, cl.StartedAt, cl.AnsweredAt, cl.EndedAt, cl.Duration.Microseconds(), js(cl.Sentiment)}, nil
		})
	})
	if err != nil {
		return nil, err
	}
	err = timed(fmt.Sprintf("%d turns", g.Calls*g.Turns), func() error {
		var start time.Time
		return copyRows("turns", []string{"call_id", "seq", "org_id", "speaker", "text", "started_at", "ended_at", "interrupted",
			"sentiment", "latency"}, g.Calls*g.Turns, func(i int) ([]any, error) {
			call, seq := i/g.Turns, i%g.Turns+1
			if seq == 1 {
				start = g.Call(call).StartedAt
			}
			t := g.Turn(call, seq, start)
			var lat []byte
			if t.Latency != nil {
				lat = js(t.Latency)
			}
			return []any{string(t.CallID), t.Seq, string(benchOrg), string(t.Speaker), t.Text, t.StartedAt, t.EndedAt, t.Interrupted,
				t.Sentiment, lat}, nil
		})
	})
	if err != nil {
		return nil, err
	}
	err = timed(fmt.Sprintf("%d patterns", g.Patterns), func() error {
		return copyRows("patterns", []string{"id", "org_id", "agent_id", "kind", "trigger", "response", "uses", "successes",
			"embedding", "created_at", "updated_at"}, g.Patterns, func(i int) ([]any, error) {
			p := g.Pattern(i)
			return []any{string(p.ID), string(p.OrgID), nullable(string(p.AgentID)), p.Kind, p.Trigger, p.Response, p.Uses,
				p.Successes, pgvector.NewVector(p.Embedding), p.CreatedAt, p.UpdatedAt}, nil
		})
	})
	if err != nil {
		return nil, err
	}
	// Session settings only: the server's configuration is left alone.
	if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '2GB'; SET max_parallel_maintenance_workers = 2`); err != nil {
		return nil, err
	}
	for _, name := range bulkIndexes {
		if err := timed("index "+name, func() error { _, err := conn.Exec(ctx, defs[name]); return err }); err != nil {
			return nil, err
		}
	}
	if err := timed("analyze", func() error { _, err := conn.Exec(ctx, "ANALYZE"); return err }); err != nil {
		return nil, err
	}
	return steps, nil
}
