package migrations_test

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver, as the embedded backend uses it

	"github.com/iace/iace/migrations"
)

func TestEveryDialectHasMigrations(t *testing.T) {
	for _, d := range []migrations.Dialect{migrations.Postgres, migrations.SQLite} {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		files, err := fs.Glob(fsys, "*.sql")
		if err != nil || len(files) == 0 || files[0] != "00001_init.sql" {
			t.Errorf("%s: migrations %v, %v", d, files, err)
		}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "-- +goose Up") || !strings.Contains(string(b), "-- +goose Down") {
				t.Errorf("%s/%s has no goose Up and Down sections", d, f)
			}
		}
	}
	if _, err := migrations.FS("oracle"); err == nil {
		t.Error("an unknown dialect has migrations")
	}
}

// TestSQLiteUpDownUp runs the embedded backend's migrations both ways on a
// fresh file (PostgreSQL's are run both ways in store/postgres).
func TestSQLiteUpDownUp(t *testing.T) {
	ctx := t.Context()
	fsys, err := migrations.FS(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	tables := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'goose%' AND name NOT LIKE 'sqlite%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	status := func() string {
		t.Helper()
		var b strings.Builder
		if err := migrations.Status(ctx, db, migrations.SQLite, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if st := status(); !strings.Contains(st, "pending") {
		t.Errorf("status of a new database:\n%s", st)
	}
	for round := 1; round <= 2; round++ {
		if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
			t.Fatalf("round %d: up: %v", round, err)
		}
		if tables() == 0 {
			t.Errorf("round %d: no tables after up", round)
		}
		if st := status(); !strings.Contains(st, "applied") || strings.Contains(st, "pending") {
			t.Errorf("round %d: status after up:\n%s", round, st)
		}
		if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
			t.Errorf("round %d: up again: %v", round, err)
		}
		for range files { // Down rolls back one migration
			if err := migrations.Down(ctx, db, migrations.SQLite); err != nil {
				t.Fatalf("round %d: down: %v", round, err)
			}
		}
		if n := tables(); n != 0 {
			t.Errorf("round %d: %d tables after down", round, n)
		}
	}
	if err := migrations.Down(ctx, db, migrations.SQLite); err != nil {
		t.Errorf("down with nothing applied: %v", err)
	}
}

// TestSQLiteAllotsTheNumbersRoutedBefore: an embedded database with numbers
// routed before allotments existed keeps them, each allotted to its
// organization, and a route then needs an allotment.
func TestSQLiteAllotsTheNumbersRoutedBefore(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		t.Fatal(err)
	}
	allotments := func() bool {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'number_allotments'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for allotments() { // back to before allotments, whatever came after them
		if err := migrations.Down(ctx, db, migrations.SQLite); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO orgs (id, name, created_at) VALUES ('a', 'A', 0), ('b', 'B', 0)`,
		`INSERT INTO agents (id, org_id, name, created_at, updated_at) VALUES ('ag', 'a', 'Agent', 0, 0)`,
		`INSERT INTO numbers (e164, org_id, agent_id) VALUES ('+15550001000', 'a', 'ag')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		t.Fatal(err)
	}
	var org, agent string
	if err := db.QueryRowContext(ctx, `SELECT a.org_id, n.agent_id FROM number_allotments a JOIN numbers n USING (e164, org_id)
		WHERE e164 = '+15550001000'`).Scan(&org, &agent); err != nil || org != "a" || agent != "ag" {
		t.Fatalf("the routed number after the migration: org %q agent %q, %v", org, agent, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO numbers (e164, org_id, agent_id) VALUES ('+15550002000', 'a', 'ag')`); err == nil {
		t.Error("a number without an allotment was routed")
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM number_allotments WHERE e164 = '+15550001000'`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM numbers`).Scan(&n); err != nil || n != 0 {
		t.Errorf("a released number still routes: %d routes, %v", n, err)
	}
}
