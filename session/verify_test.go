package session_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// customerBook is a customer store of one organization's customers.
type customerBook struct {
	org       store.OrgID
	customers []store.Customer
}

func (b customerBook) CustomerByPhone(_ context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error) {
	for _, c := range b.customers {
		if org == b.org && c.Phone == phone {
			return c, nil
		}
	}
	return store.Customer{}, store.ErrNotFound
}

// callBook is a call history of one customer's calls.
type callBook struct {
	org      store.OrgID
	customer store.CustomerID
	calls    []store.Call
}

func (b callBook) ListCalls(_ context.Context, org store.OrgID, f store.CallFilter, p store.Page) ([]store.CallListItem, string, error) {
	var out []store.CallListItem
	for _, c := range b.calls {
		if org == b.org && f.CustomerID == b.customer && (f.Status == "" || f.Status == c.Status) && len(out) < p.Limit {
			out = append(out, store.CallListItem{Call: c})
		}
	}
	return out, "", nil
}

// identifyingModel is a chat model that, answering the caller, looks the
// caller up, then verifies them with the digits they said and looks them
// up again (both in one round), then says thanks. It keeps every tool
// result it was given, by call id.
type identifyingModel struct {
	mu      sync.Mutex
	results map[string]string
	tools   []ai.Tool
}

func (m *identifyingModel) Chat(_ context.Context, req ai.ChatRequest) (ai.ChatStream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tools = req.Tools
	var said string
	answered := 0
	for _, msg := range req.Messages {
		switch msg.Role {
		case ai.RoleUser:
			said = msg.Content
		case ai.RoleTool:
			m.results[msg.ToolCallID] = msg.Content
			answered++
		}
	}
	var d ai.ChatDelta
	switch answered {
	case 0:
		d.ToolCalls = []ai.ToolCall{{ID: "lookup-1", Name: "lookup_customer", Arguments: "{}"}}
	case 1:
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, said)
		args, _ := json.Marshal(map[string]string{"answer": digits})
		d.ToolCalls = []ai.ToolCall{{ID: "verify", Name: "verify_caller", Arguments: string(args)},
			{ID: "lookup-2", Name: "lookup_customer", Arguments: "{}"}}
	default:
		d.Text = "Thank you."
	}
	return &oneDelta{d: d}, nil
}

func (m *identifyingModel) result(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.results[id]
}

type oneDelta struct {
	d    ai.ChatDelta
	sent bool
}

func (s *oneDelta) Recv() (ai.ChatDelta, error) {
	if s.sent {
		return ai.ChatDelta{}, io.EOF
	}
	s.sent = true
	return s.d, nil
}

func (*oneDelta) Close() error { return nil }

// TestTheCallerIsVerifiedBeforeAnythingPersonalIsDisclosed: the caller's
// number belongs to a customer, but caller ID can be faked. lookup_customer
// says only that a record exists until verify_caller has matched the
// customer's PIN; a wrong PIN discloses nothing either.
func TestTheCallerIsVerifiedBeforeAnythingPersonalIsDisclosed(t *testing.T) {
	pin, err := store.HashVerifier("4321")
	if err != nil {
		t.Fatal(err)
	}
	grace := store.Customer{ID: "cu1", OrgID: "org-a", Phone: "+15551230001", Name: "Grace Hopper", CallCount: 7,
		MemorySummary: "Disputes the March invoice.", Verifiers: map[string]string{"pin": pin}}
	// Her last call was handed to a person: read at the call's start, it
	// reaches the model with the rest once she is verified.
	lastCall := store.Call{ID: "earlier", OrgID: "org-a", CustomerID: "cu1", Status: store.CallEnded,
		Outcome: store.OutcomeEscalated, StartedAt: time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC),
		Summary: "Handed over because the caller is upset."}
	personal := []string{"Grace", "Hopper", "invoice", `"previous_calls"`, `"recent_calls"`, "2026-11-30", "caller is upset"}

	for _, tc := range []struct {
		name, says string
		verified   bool
	}{
		{"the right PIN", "my pin is 4 3 2 1", true},
		{"a wrong PIN", "my pin is 1 2 3 4", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			model := &identifyingModel{results: map[string]string{}}
			ts := newTestServerWith(t, nil, func(d *session.Deps) {
				agent := store.DefaultAgent()
				agent.OrgID, agent.Settings.VerifyCaller = "org-a", "pin"
				agents, err := store.NewStaticAgents([]store.Agent{agent})
				if err != nil {
					t.Fatal(err)
				}
				d.Agents, d.Chat = agents, model
				d.Customers = customerBook{org: "org-a", customers: []store.Customer{grace}}
				d.History = callBook{org: "org-a", customer: "cu1", calls: []store.Call{lastCall}}
			})
			p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: tc.says})
			p.expect("greeting end mark", 10*time.Second, isMark("t1-end"))
			p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav"))
			p.expect("reply end mark", 15*time.Second, isMark("t2-end"))
			p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
			ts.summary(t)
			p.close()

			var described bool
			for _, tool := range model.tools {
				if tool.Name == "lookup_customer" {
					described = strings.Contains(tool.Description, "verif")
				}
			}
			if !described {
				t.Errorf("the tools offered %+v: lookup_customer must say it needs verification", model.tools)
			}
			before := model.result("lookup-1")
			if !strings.Contains(before, `"found":true`) {
				t.Errorf("lookup before verification %s: want the record found", before)
			}
			for _, p := range personal {
				if strings.Contains(before, p) {
					t.Errorf("lookup before verification discloses %s: %s", p, before)
				}
			}
			for _, id := range []string{"verify", "lookup-2"} {
				got := model.result(id)
				for _, p := range personal {
					if strings.Contains(got, p) != tc.verified {
						t.Errorf("%s after %s: %s (disclosing %s: want %v)", id, tc.name, got, p, tc.verified)
					}
				}
			}
		})
	}
}
