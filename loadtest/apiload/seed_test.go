package main

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/storetest"
)

// verifyArgon2id checks password against a PHC string as a server would,
// reading the parameters from the string.
func verifyArgon2id(t *testing.T, phc, password string) bool {
	t.Helper()
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		t.Fatalf("not an argon2id PHC string: %q", phc)
	}
	var m, tm uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &tm, &p); err != nil {
		t.Fatalf("parameters %q: %v", parts[3], err)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 16 {
		t.Fatalf("salt or key of %q", phc)
	}
	got := argon2.IDKey([]byte(password), salt, tm, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

func TestSeedWritesALoginAndRecentCalls(t *testing.T) {
	ctx := t.Context()
	schema := storetest.FreshSchema(t)
	c := seedConfig{databaseURL: storetest.PostgresURL(), schema: schema, prefix: "t-", email: "Load@Example.com",
		password: "correct horse battery", calls: 30, turns: 4, patterns: 5, workers: 3}
	if err := seed(ctx, c, hashArgon2id, t.Logf); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, postgres.Config{URL: c.databaseURL, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()

	u, err := s.UserByEmail(ctx, "load@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.OrgID != "t-org" || u.Role != store.RoleAdmin {
		t.Errorf("the user is %+v, want an admin of t-org", u)
	}
	if !verifyArgon2id(t, u.PasswordHash, c.password) || verifyArgon2id(t, u.PasswordHash, "wrong") {
		t.Error("the stored hash does not verify the password (alone)")
	}
	if agents, err := s.ListAgents(ctx, u.OrgID); err != nil || len(agents) != 10 {
		t.Errorf("%d agents, %v", len(agents), err)
	}
	items, _, err := s.ListCalls(ctx, u.OrgID, store.CallFilter{}, store.Page{Limit: 100})
	if err != nil || len(items) != 30 {
		t.Fatalf("%d calls, %v", len(items), err)
	}
	d, err := s.GetCall(ctx, u.OrgID, items[0].Call.ID)
	if err != nil || len(d.Turns) != 4 {
		t.Errorf("the newest call has %d turns, %v", len(d.Turns), err)
	}
	// The calls fall in the 30 days the load's analytics ask for.
	now := time.Now().UTC()
	stats, err := s.CallStats(ctx, u.OrgID, store.StatsQuery{From: now.Add(-31 * 24 * time.Hour), To: now.Add(time.Hour), Bucket: store.BucketDay})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, b := range stats {
		total += b.Calls
	}
	if total != 30 {
		t.Errorf("analytics of the last 30 days count %d calls, want 30", total)
	}
	// A second seed with the same email says what to do.
	if err := seed(ctx, c, hashArgon2id, t.Logf); err == nil {
		t.Error("seeding twice succeeded")
	}
}
