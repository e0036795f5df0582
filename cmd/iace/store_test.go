package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
)

// TestAgentsFileNumbersAreAllottedAndRouted: the agents file is the
// operator's, so its numbers are allotted to their agents' organization
// and routed, on every start; a number already allotted to another
// organization is refused.
func TestAgentsFileNumbersAreAllottedAndRouted(t *testing.T) {
	ctx := t.Context()
	st, err := embedded.Open(ctx, embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if err := seedDemo(ctx, st); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(`{"id":"desk","name":"Desk","greeting":"Hello.","fallback":"Sorry?","numbers":["+15550007000"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	for range 2 { // a restart imports the file again
		if err := importAgents(ctx, st, path, log); err != nil {
			t.Fatal(err)
		}
	}
	if a, err := st.AgentForNumber(ctx, "+15550007000"); err != nil || a.ID != "desk" || a.OrgID != demoOrg {
		t.Fatalf("the file's number routes to %s/%s, %v", a.OrgID, a.ID, err)
	}

	if _, err := st.CreateOrg(ctx, store.Organization{ID: "other", Name: "Other"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AllotNumber(ctx, "other", "+15550007001"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"id":"desk","name":"Desk","greeting":"Hello.","fallback":"Sorry?","numbers":["+15550007001"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := importAgents(ctx, st, path, log); err == nil {
		t.Fatal("the file took another organization's number")
	}

	// An agent of an organization nobody created is refused with what to do.
	if err := os.WriteFile(path, []byte(`{"id":"desk","org_id":"acme","name":"Desk","greeting":"Hello.","fallback":"Sorry?"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := importAgents(ctx, st, path, log); err == nil || !strings.Contains(err.Error(), `organization "acme" does not exist`) ||
		!strings.Contains(err.Error(), "iace user create --org acme") {
		t.Fatalf("an agent of an unknown organization: %v", err)
	}
}
