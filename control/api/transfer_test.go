package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/control/api"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// logLines collects the API's JSON log lines; handlers write them on the
// server's goroutines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// with returns the decoded lines whose message is msg.
func (l *logLines) with(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (l *logLines) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

// withLog makes the API log JSON into l.
func withLog(l *logLines) func(*api.Config, *api.Deps) {
	return func(_ *api.Config, d *api.Deps) {
		d.Log = slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

type policyOut struct {
	Allow     []string `json:"allow"`
	Effective []string `json:"effective"`
	Premium   []string `json:"premium_rate"`
}

// TestAgentTransferNumbersFollowTheOrganizationsPolicy: an admin cannot
// give an agent a premium-rate transfer number, nor an international one
// the organization's allow-list does not name; the list is the admin's to
// edit.
func TestAgentTransferNumbersFollowTheOrganizationsPolicy(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		agent := func(to string) map[string]any {
			return map[string]any{"name": "Desk", "greeting": "Hi.", "fallback": "Sorry?", "transfer_number": to}
		}
		refused := func(method, path, to, rule string) {
			t.Helper()
			p := e.do(method, path, e.a.adminTok, agent(to)).problem(t, http.StatusUnprocessableEntity)
			if !strings.Contains(p.Detail, "transfer_number") || !strings.Contains(p.Detail, rule) {
				t.Errorf("%s %s to %s: %q does not name transfer_number and rule %s", method, path, to, p.Detail, rule)
			}
		}
		// A new organization transfers within the US and Canada only.
		var pol policyOut
		e.do(http.MethodGet, "/api/v1/org/transfer-policy", e.a.viewerTok, nil).json(t, &pol)
		if len(pol.Allow) != 0 || !slices.Equal(pol.Effective, []string{"+1"}) || !slices.Contains(pol.Premium, "+1900") {
			t.Fatalf("the default policy: %+v", pol)
		}
		refused(http.MethodPost, "/api/v1/agents", "+19005550123", "premium_rate")
		refused(http.MethodPost, "/api/v1/agents", "+12129760123", "premium_rate")
		refused(http.MethodPost, "/api/v1/agents", "+442079460123", "allow_list")
		refused(http.MethodPost, "/api/v1/agents", "+18765550123", "allow_list")
		refused(http.MethodPut, "/api/v1/agents/"+string(e.a.agent.ID), "+19005550123", "premium_rate")
		if r := e.do(http.MethodPost, "/api/v1/agents", e.a.adminTok, agent("+12125550123")); r.status != http.StatusCreated {
			t.Fatalf("a US transfer number: %d %s", r.status, r.body)
		}

		// Only an admin edits the list; premium ranges stay refused.
		in := map[string]any{"allow": []string{"+44", "+1"}}
		e.do(http.MethodPut, "/api/v1/org/transfer-policy", e.a.supTok, in).problem(t, http.StatusForbidden)
		r := e.do(http.MethodPut, "/api/v1/org/transfer-policy", e.a.adminTok, in)
		if r.status != http.StatusOK {
			t.Fatalf("set the policy: %d %s", r.status, r.body)
		}
		r.json(t, &pol)
		if !slices.Equal(pol.Allow, []string{"+1", "+44"}) || !slices.Equal(pol.Effective, pol.Allow) {
			t.Fatalf("the policy set: %s", r.body)
		}
		if r := e.do(http.MethodPut, "/api/v1/agents/"+string(e.a.agent.ID), e.a.adminTok, agent("+442079460123")); r.status != http.StatusOK {
			t.Fatalf("a UK transfer number once +44 is allowed: %d %s", r.status, r.body)
		}
		refused(http.MethodPost, "/api/v1/agents", "+449098790123", "premium_rate")
		p := e.do(http.MethodPut, "/api/v1/org/transfer-policy", e.a.adminTok, map[string]any{"allow": []string{"+449"}}).problem(t, http.StatusUnprocessableEntity)
		if !strings.Contains(p.Detail, "premium") {
			t.Errorf("a premium prefix on the list: %q", p.Detail)
		}
		// Organization B's policy is its own.
		e.do(http.MethodGet, "/api/v1/org/transfer-policy", e.b.adminTok, nil).json(t, &pol)
		if len(pol.Allow) != 0 {
			t.Errorf("B sees A's list: %+v", pol)
		}
	})
}

// TestLiveTransfersFollowThePolicyAndAreAudited: a supervisor's transfer
// of a live call to a refused destination never reaches Call Control, and
// every transfer asked for is logged with who, which call, where (masked)
// and what came of it.
func TestLiveTransfersFollowThePolicyAndAreAudited(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		var logs logLines
		e := newEnv(t, st, withLog(&logs))
		e.live.calls = []session.CallInfo{{ID: "live-a", OrgID: e.a.id, AgentID: e.a.agent.ID, CallControlID: "v3:live-a", StartedAt: time.Now()}}
		transfer := func(to string) resp {
			body := map[string]any{}
			if to != "" {
				body["to"] = to
			}
			return e.do(http.MethodPost, "/api/v1/calls/live-a/transfer", e.a.supTok, body)
		}
		for to, rule := range map[string]string{
			"+19005550123":  "premium_rate",
			"+18095550123":  "allow_list",
			"+442079460123": "allow_list",
		} {
			if p := transfer(to).problem(t, http.StatusForbidden); !strings.Contains(p.Detail, rule) {
				t.Errorf("transfer to %s: %q does not name rule %s", to, p.Detail, rule)
			}
		}
		// The agent's own number, become refused since it was set.
		ag := e.a.agent
		ag.TransferNumber = "+18765550123"
		if _, err := st.UpdateAgent(t.Context(), ag); err != nil {
			t.Fatal(err)
		}
		if p := transfer("").problem(t, http.StatusForbidden); !strings.Contains(p.Detail, "allow_list") {
			t.Errorf("transfer to the agent's refused number: %q", p.Detail)
		}
		if len(e.calls.actions) != 0 {
			t.Fatalf("Call Control was asked %q", e.calls.actions)
		}
		if r := transfer("+12125550123"); r.status != http.StatusOK {
			t.Fatalf("an allowed transfer: %d %s", r.status, r.body)
		}
		if want := []string{"transfer v3:live-a +12125550123"}; !slices.Equal(e.calls.actions, want) {
			t.Fatalf("Call Control got %q, want %q", e.calls.actions, want)
		}

		lines := logs.with(t, "call transfer")
		if len(lines) != 5 {
			t.Fatalf("%d transfer audit lines, want 5", len(lines))
		}
		results := map[string]int{}
		for _, l := range lines {
			if l["user_id"] != string(e.a.supervisor.ID) || l["call_id"] != "live-a" || l["org_id"] != string(e.a.id) || l["to"] == nil {
				t.Errorf("audit line without who, which call or where: %v", l)
			}
			results[l["result"].(string)]++
		}
		if results["refused"] != 4 || results["transferred"] != 1 {
			t.Errorf("audit results %v, want 4 refused and 1 transferred", results)
		}
		for _, n := range []string{"+19005550123", "+18095550123", "+442079460123", "+18765550123", "+12125550123"} {
			if logs.contains(n) {
				t.Errorf("the log shows %s whole", n)
			}
		}
	})
}
