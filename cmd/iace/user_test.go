package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
)

// TestUserCreateBootstrapsTheFirstAdmin: `iace user create` makes the
// organization and its admin in the store serve uses, with an argon2id
// hash of the password from the environment; a short password is refused.
func TestUserCreateBootstrapsTheFirstAdmin(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	args := []string{"user", "create", "--org", "acme", "--org-name", "Acme Ltd", "--email", "Admin@Acme.example", "--data-dir", dir}
	if err := run(t.Context(), args, env(map[string]string{envUserPassword: "a long enough password"}), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created organization acme") || !strings.Contains(out.String(), "created admin user admin@acme.example") {
		t.Errorf("output %q", out.String())
	}
	err := run(t.Context(), []string{"user", "create", "--org", "acme", "--email", "v@acme.example", "--data-dir", dir},
		env(nil), strings.NewReader("short\n"), io.Discard, io.Discard)
	if err == nil {
		t.Error("a short password from stdin was accepted")
	}

	st, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(dir, "iace.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	org, err := st.GetOrg(t.Context(), "acme")
	if err != nil || org.Name != "Acme Ltd" {
		t.Fatalf("org %+v, %v", org, err)
	}
	u, err := st.UserByEmail(t.Context(), "admin@acme.example")
	if err != nil || u.Role != store.RoleAdmin || u.OrgID != "acme" {
		t.Fatalf("user %+v, %v", u, err)
	}
	if ok, err := auth.VerifyPassword("a long enough password", u.PasswordHash); !ok || err != nil {
		t.Errorf("the stored hash does not verify the password: %v", err)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("hash %q is not argon2id", u.PasswordHash)
	}
}

// TestNumberAllotLetsAnOrganizationRouteANumber: the operator allots a
// number to acme with `iace number allot`; acme may route it, globex may
// not; `iace number release` takes it back and its route with it.
func TestNumberAllotLetsAnOrganizationRouteANumber(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	st, err := embedded.Open(ctx, embedded.Config{Path: filepath.Join(dir, "iace.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, org := range []store.OrgID{"acme", "globex"} {
		if _, err := st.CreateOrg(ctx, store.Organization{ID: org, Name: string(org)}); err != nil {
			t.Fatal(err)
		}
		a := store.DefaultAgent()
		a.ID, a.OrgID = store.AgentID("front-"+org), org
		if _, err := st.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.Close()
	const number = "+15550001234"
	var out bytes.Buffer
	if err := run(ctx, []string{"number", "allot", "--org", "acme", number, "--data-dir", dir}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "allotted "+number) {
		t.Errorf("output %q", out.String())
	}
	for _, bad := range [][]string{
		{"number", "allot", "--org", "acme", "5550001234", "--data-dir", dir},     // not E.164
		{"number", "allot", "--org", "nobody", "+15550001235", "--data-dir", dir}, // no such organization
		{"number", "allot", "--org", "globex", number, "--data-dir", dir},         // acme's already
		{"number", "allot", number, "--data-dir", dir},                            // no organization
	} {
		if err := run(ctx, bad, env(nil), nil, io.Discard, io.Discard); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}

	st, err = embedded.Open(ctx, embedded.Config{Path: filepath.Join(dir, "iace.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AssignNumber(ctx, store.Number{OrgID: "globex", E164: number, AgentID: "front-globex"}); err == nil {
		t.Error("globex routed a number allotted to acme")
	}
	if err := st.AssignNumber(ctx, store.Number{OrgID: "acme", E164: number, AgentID: "front-acme"}); err != nil {
		t.Fatalf("acme cannot route its allotted number: %v", err)
	}
	_ = st.Close()
	if err := run(ctx, []string{"number", "release", "--org", "acme", number, "--data-dir", dir}, env(nil), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	st, err = embedded.Open(ctx, embedded.Config{Path: filepath.Join(dir, "iace.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if _, err := st.AgentForNumber(ctx, number); err == nil {
		t.Error("a released number still routes to an agent")
	}
}
