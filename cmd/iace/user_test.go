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
