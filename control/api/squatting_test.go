package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/iace/iace/store"
)

// TestNumbersAreRoutedOnlyWhereAnOperatorAllottedThem: organization B's
// admin cannot claim a number allotted to A, routed or not, nor one allotted
// to no one; the three answers are the same bytes, so B learns nothing of
// A's numbers. A number allotted to B is B's to route.
func TestNumbersAreRoutedOnlyWhereAnOperatorAllottedThem(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		ctx := t.Context()
		const spare, nobodys, bs = "+15550000101", "+15550000102", "+15550000103"
		if err := st.AllotNumber(ctx, e.a.id, spare); err != nil {
			t.Fatal(err)
		}
		if err := st.AllotNumber(ctx, e.b.id, bs); err != nil {
			t.Fatal(err)
		}
		claim := func(number string) resp {
			return e.do(http.MethodPost, "/api/v1/numbers", e.b.adminTok, map[string]any{"e164": number, "agent_id": string(e.b.agent.ID)})
		}
		var bodies [][]byte
		for what, n := range map[string]string{"routed by A": string(e.a.number), "allotted to A": spare, "allotted to no one": nobodys} {
			r := claim(n)
			p := r.problem(t, http.StatusNotFound)
			if !strings.Contains(p.Detail, "not provisioned for this organization") {
				t.Errorf("claiming a number %s: %q", what, p.Detail)
			}
			if bytes.Contains(r.body, []byte(n)) {
				t.Errorf("claiming a number %s: the answer names it: %s", what, r.body)
			}
			bodies = append(bodies, r.body)
		}
		for _, b := range bodies[1:] {
			if !bytes.Equal(b, bodies[0]) {
				t.Errorf("the answers differ:\n%s\n%s", bodies[0], b)
			}
		}
		if ag, err := st.AgentForNumber(ctx, e.a.number); err != nil || ag.ID != e.a.agent.ID {
			t.Fatalf("A's number routes to %q, %v", ag.ID, err)
		}
		for _, n := range []store.PhoneNumber{spare, nobodys} {
			if ag, err := st.AgentForNumber(ctx, n); err == nil {
				t.Errorf("%s routes to %s's agent %s", n, ag.OrgID, ag.ID)
			}
		}
		if r := claim(bs); r.status != http.StatusOK {
			t.Fatalf("B routing its own allotted number: %d %s", r.status, r.body)
		}
		if ag, err := st.AgentForNumber(ctx, bs); err != nil || ag.ID != e.b.agent.ID {
			t.Fatalf("B's number routes to %q, %v", ag.ID, err)
		}
	})
}

// TestATakenEmailAnswersAlikeInEveryOrganization: adding a user whose email
// is another organization's user answers exactly as one already in the
// admin's own organization, without confirming that the email exists
// anywhere; the refusal is logged with who asked, for an operator to see
// someone probing.
func TestATakenEmailAnswersAlikeInEveryOrganization(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		var logs logLines
		e := newEnv(t, st, withLog(&logs))
		create := func(email string) resp {
			return e.do(http.MethodPost, "/api/v1/users", e.b.adminTok, map[string]any{"email": email, "password": "a long enough password", "role": "viewer"})
		}
		other := create(e.a.viewer.Email)
		own := create(e.b.viewer.Email)
		if other.status != own.status || !bytes.Equal(other.body, own.body) {
			t.Fatalf("another organization's email: %d %s\nthe organization's own: %d %s", other.status, other.body, own.status, own.body)
		}
		p := other.problem(t, http.StatusConflict)
		if strings.Contains(strings.ToLower(p.Detail), "exist") || strings.Contains(p.Detail, e.a.viewer.Email) {
			t.Errorf("the answer confirms the email: %q", p.Detail)
		}
		lines := logs.with(t, "user not created: email cannot be used")
		if len(lines) != 2 {
			t.Fatalf("%d refusal lines, want 2", len(lines))
		}
		for _, l := range lines {
			if l["user_id"] != string(e.b.admin.ID) || l["org_id"] != string(e.b.id) {
				t.Errorf("a refusal logged without who asked: %v", l)
			}
		}
		if logs.contains(e.a.viewer.Email) {
			t.Error("the log shows the email")
		}
	})
}
