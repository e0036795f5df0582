package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/iace/iace/store"
)

// TestCustomerVerifiersAreWriteOnly: a supervisor sets what a caller must
// answer to be verified; the store keeps only a hash, and no answer or hash
// ever comes back through the API.
func TestCustomerVerifiersAreWriteOnly(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		r := e.do(http.MethodPost, "/api/v1/customers", e.a.supTok, map[string]any{
			"phone": "+15557770001", "name": "Ada", "verification": map[string]string{"pin": "4321"}})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var c struct {
			ID        string   `json:"id"`
			Verifiers []string `json:"verifiers"`
		}
		r.json(t, &c)
		stored, err := st.GetCustomer(t.Context(), e.a.id, store.CustomerID(c.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !store.MatchVerifier(stored.Verifiers["pin"], "4321") || strings.Contains(stored.Verifiers["pin"], "4321") {
			t.Fatalf("stored verifiers %v: want a hash of the PIN", stored.Verifiers)
		}
		if len(c.Verifiers) != 1 || c.Verifiers[0] != "pin" {
			t.Errorf("verifiers %v, want [pin]", c.Verifiers)
		}

		// An update that names another verifier keeps the PIN; an empty answer removes one.
		in := map[string]any{"phone": "+15557770001", "name": "Ada L.", "verification": map[string]string{"date_of_birth": "1815-12-10"}}
		if r = e.do(http.MethodPut, "/api/v1/customers/"+c.ID, e.a.supTok, in); r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.body)
		}
		in["verification"] = map[string]string{"pin": ""}
		if r = e.do(http.MethodPut, "/api/v1/customers/"+c.ID, e.a.supTok, in); r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.body)
		}
		stored, _ = st.GetCustomer(t.Context(), e.a.id, store.CustomerID(c.ID))
		if _, ok := stored.Verifiers["pin"]; ok || !store.MatchVerifier(stored.Verifiers["date_of_birth"], "18151210") {
			t.Errorf("stored verifiers %v: want the date of birth only", stored.Verifiers)
		}

		for _, path := range []string{"/api/v1/customers/" + c.ID, "/api/v1/customers?q=Ada"} {
			r = e.do(http.MethodGet, path, e.a.viewerTok, nil)
			if r.status != http.StatusOK || strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), "1815") {
				t.Errorf("GET %s: %d %s", path, r.status, r.body)
			}
		}
		bad := map[string]any{"phone": "+15557770002", "verification": map[string]string{"Bad Name": "1"}}
		e.do(http.MethodPost, "/api/v1/customers", e.a.supTok, bad).problem(t, http.StatusUnprocessableEntity)
	})
}
