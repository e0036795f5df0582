package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// record is a call's row in PostgreSQL (migrations/postgres/00001_init.sql,
// events from 00002_call_events.sql), as the checks read it.
type record struct {
	ID         string
	Status     string // ringing, active, ended
	Outcome    string
	EndReason  string
	Escalation string
	Started    time.Time
	Ended      time.Time // zero until ended
	Events     []recordEvent
}

// recordEvent is one of a call's events.
type recordEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
}

// readRecords returns the records of the calls ids that exist, by id. It
// connects for each read: the database may have restarted in between.
func readRecords(ctx context.Context, dbURL string, ids []string) (map[string]record, error) {
	out := make(map[string]record, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	rows, err := conn.Query(ctx, `SELECT id, status, outcome, end_reason, escalation_reason, started_at, ended_at, events
		FROM calls WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r      record
			ended  *time.Time
			events []byte
		)
		if err := rows.Scan(&r.ID, &r.Status, &r.Outcome, &r.EndReason, &r.Escalation, &r.Started, &ended, &events); err != nil {
			return nil, fmt.Errorf("records: %w", err)
		}
		if ended != nil {
			r.Ended = *ended
		}
		if len(events) > 0 {
			if err := json.Unmarshal(events, &r.Events); err != nil {
				return nil, fmt.Errorf("records: events of %s: %w", r.ID, err)
			}
		}
		out[r.ID] = r
	}
	return out, rows.Err()
}
