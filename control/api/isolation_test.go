package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/control/api"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// bodies are valid request bodies for the operations that take one, so an
// operation is refused for whose row it names, not for its input.
func bodies(o *org) map[string]any {
	agent := map[string]any{"name": "x", "greeting": "Hi.", "fallback": "Sorry?"}
	return map[string]any{
		"createAgent":       agent,
		"updateAgent":       agent,
		"assignNumber":      map[string]any{"e164": "+15557770001", "agent_id": string(o.agent.ID)},
		"createCustomer":    map[string]any{"phone": "+15557770002"},
		"updateCustomer":    map[string]any{"phone": "+15557770003"},
		"createUser":        map[string]any{"email": "new@x.example", "password": "a long enough password", "role": "viewer"},
		"updateUser":        map[string]any{"role": "viewer"},
		"transferCall":      map[string]any{"to": "+15557770004"},
		"setSupervisorRole": map[string]any{"role": "takeover"},
		"whisperCall":       map[string]any{"text": "Offer a refund."},
		"setTransferPolicy": map[string]any{"allow": []string{"+1"}},
		"createPattern":     map[string]any{"kind": "faq", "trigger": "when do you open", "response": "At nine."},
		"setPatternStatus":  map[string]any{"status": "disabled"},
		"login":             map[string]any{"email": o.admin.Email, "password": password},
		"refresh":           map[string]any{"refresh_token": "x"},
		"logout":            map[string]any{"refresh_token": "x"},
	}
}

// TestAnotherOrganizationSeesNothing walks every operation of the API with
// organization B's admin token against organization A's rows: an operation
// on one of A's rows answers 404 and changes nothing; a list or search shows
// none of A's rows.
func TestAnotherOrganizationSeesNothing(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		a, b := e.a, e.b
		// B may route the number its body names; A has a transfer policy of its own.
		if err := st.AllotNumber(t.Context(), b.id, "+15557770001"); err != nil {
			t.Fatal(err)
		}
		aPolicy := store.TransferPolicy{Allow: []string{"+1", "+35312"}}
		if _, err := st.SetTransferPolicy(t.Context(), a.id, aPolicy); err != nil {
			t.Fatal(err)
		}
		// A's call is live on this node: live lists and actions must not find it for B.
		e.live.calls = []session.CallInfo{{ID: a.call.ID, OrgID: a.id, AgentID: a.agent.ID, CallControlID: a.call.CallControlID, From: a.customer.Phone, To: a.number}}
		secrets := []string{string(a.agent.ID), string(a.customer.ID), string(a.call.ID), string(a.pattern.ID),
			string(a.admin.ID), a.admin.Email, string(a.customer.Phone), string(a.number), a.customer.Name, "+35312"}
		ids := map[string]string{
			"/agents/{id}": string(a.agent.ID), "/customers/{id}": string(a.customer.ID), "/calls/{id}": string(a.call.ID),
			"/patterns/{id}": string(a.pattern.ID), "/users/{id}": string(a.admin.ID), "/numbers/{e164}": string(a.number),
		}
		query := map[string]string{
			"searchCustomers": "?q=Customer", "similarPatterns": "?text=when+are+you+open",
			"analytics": "?from=2025-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&bucket=day",
			"listCalls": "?limit=200", "listPatterns": "?limit=200",
		}
		body := bodies(b)
		walked := 0
		for path, item := range api.Document().Paths {
			for _, m := range []struct {
				method string
				op     *huma.Operation
			}{{http.MethodGet, item.Get}, {http.MethodPost, item.Post}, {http.MethodPut, item.Put}, {http.MethodPatch, item.Patch}, {http.MethodDelete, item.Delete}} {
				if m.op == nil || strings.HasPrefix(path, "/auth/") || path == "/openapi" {
					continue
				}
				opID := m.op.OperationID
				url := path
				named := false
				for pattern, id := range ids {
					prefix, _, _ := strings.Cut(pattern, "{")
					if strings.HasPrefix(path, prefix) && strings.Contains(path, "{") {
						url = strings.Replace(path, path[strings.Index(path, "{"):strings.Index(path, "}")+1], id, 1)
						named = true
					}
				}
				if r := m.op.Responses["200"]; !named && r != nil && r.Content["text/event-stream"] != nil {
					// The live list's stream does not end by itself; that
					// another organization's list shows nothing of A's calls
					// is TestLiveEventsOverServerSentEvents's.
					continue
				}
				walked++
				r := e.do(m.method, "/api/v1"+url+query[opID], b.adminTok, body[opID])
				if named {
					if r.status != http.StatusNotFound {
						t.Errorf("%s %s (%s) with another org's id: %d %s, want 404", m.method, url, opID, r.status, r.body)
					}
				} else if r.status >= 300 && r.status != http.StatusConflict {
					t.Errorf("%s %s (%s): %d %s", m.method, url, opID, r.status, r.body)
				}
				for _, s := range secrets {
					if strings.Contains(string(r.body), s) {
						t.Errorf("%s %s (%s) shows org A's %q: %s", m.method, url, opID, s, r.body)
					}
				}
			}
		}
		if walked < 25 {
			t.Fatalf("walked %d operations; the API has more", walked)
		}
		// Nothing of A's changed.
		if _, err := st.GetAgent(t.Context(), a.id, a.agent.ID); err != nil {
			t.Errorf("A's agent: %v", err)
		}
		if _, err := st.GetPattern(t.Context(), a.id, a.pattern.ID); err != nil {
			t.Errorf("A's pattern: %v", err)
		}
		if u, err := st.GetUser(t.Context(), a.id, a.admin.ID); err != nil || u.Role != store.RoleAdmin {
			t.Errorf("A's admin: %+v %v", u, err)
		}
		if n, _ := st.ListNumbers(t.Context(), a.id); !slices.ContainsFunc(n, func(n store.Number) bool { return n.E164 == a.number }) {
			t.Errorf("A's number is gone: %v", n)
		}
		if len(e.calls.actions) != 0 {
			t.Errorf("Call Control was asked %v for another org's call", e.calls.actions)
		}
		if got := e.super.commands(); len(got) != 0 {
			t.Errorf("supervision commands %q carried out on another org's call", got)
		}
		if o, err := st.GetOrg(t.Context(), a.id); err != nil || !slices.Equal(o.TransferPolicy.Allow, aPolicy.Allow) {
			t.Errorf("A's transfer policy: %+v %v", o.TransferPolicy, err)
		}
	})
}
