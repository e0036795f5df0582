package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai/escalate"
	"github.com/iace/iace/control/api"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func (r resp) problem(t *testing.T, status int) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q for an error, want application/problem+json", ct)
	}
	var p problem
	r.json(t, &p)
	if p.Status != status || p.Title == "" {
		t.Fatalf("problem %+v", p)
	}
	return p
}

func TestAgentsLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		tok := e.a.adminTok
		in := map[string]any{
			"name": "Sales", "greeting": "Hello from sales.", "fallback": "Sorry?", "voice": "aura-2-thalia-en",
			"transfer_number": "+15552223333", "tools": []string{"transfer_to_human", "end_call"},
			"settings":   map[string]any{"model": "openai/gpt-oss-20b", "temperature": 0.3, "max_tokens": 200},
			"escalation": map[string]any{"keywords": []string{"lawyer"}, "transfer_on_dtmf_zero": true},
			"intents":    []map[string]any{{"name": "hours", "keywords": []string{"open"}, "reply": "Nine to five."}},
		}
		r := e.do(http.MethodPost, "/api/v1/agents", tok, in)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var created struct {
			ID       string         `json:"id"`
			Name     string         `json:"name"`
			Settings map[string]any `json:"settings"`
		}
		r.json(t, &created)
		if created.ID == "" || created.Name != "Sales" || created.Settings["model"] != "openai/gpt-oss-20b" {
			t.Fatalf("created %s", r.body)
		}

		in["name"] = "Sales EU"
		if r = e.do(http.MethodPut, "/api/v1/agents/"+created.ID, tok, in); r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.body)
		}
		r = e.do(http.MethodGet, "/api/v1/agents/"+created.ID, e.a.viewerTok, nil)
		r.json(t, &created)
		if created.Name != "Sales EU" {
			t.Fatalf("after update: %s", r.body)
		}

		if err := st.AllotNumber(t.Context(), e.a.id, "+15554445555"); err != nil {
			t.Fatal(err)
		}
		r = e.do(http.MethodPost, "/api/v1/numbers", tok, map[string]any{"e164": "+15554445555", "agent_id": created.ID})
		if r.status != http.StatusOK {
			t.Fatalf("assign: %d %s", r.status, r.body)
		}
		if ag, err := st.AgentForNumber(t.Context(), "+15554445555"); err != nil || string(ag.ID) != created.ID {
			t.Fatalf("number routes to %v, %v", ag.ID, err)
		}
		if r = e.do(http.MethodDelete, "/api/v1/agents/"+created.ID, tok, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		e.do(http.MethodGet, "/api/v1/agents/"+created.ID, tok, nil).problem(t, http.StatusNotFound)
		if _, err := st.AgentForNumber(t.Context(), "+15554445555"); err == nil {
			t.Fatal("the deleted agent's number still routes")
		}
	})
}

func TestBadInputIsAProblemThatSaysWhat(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		tok := e.a.adminTok
		for name, c := range map[string]struct {
			method, path string
			body         any
			status       int
			mention      string
		}{
			"missing greeting":     {http.MethodPost, "/api/v1/agents", map[string]any{"name": "x", "fallback": "y"}, 422, "greeting"},
			"bad transfer number":  {http.MethodPost, "/api/v1/agents", map[string]any{"name": "x", "greeting": "g", "fallback": "f", "transfer_number": "555-1234"}, 422, "transfer_number"},
			"unknown tool":         {http.MethodPost, "/api/v1/agents", map[string]any{"name": "x", "greeting": "g", "fallback": "f", "tools": []string{"rm_rf"}}, 422, "tools"},
			"transfer rule no num": {http.MethodPost, "/api/v1/agents", map[string]any{"name": "x", "greeting": "g", "fallback": "f", "escalation": map[string]any{"transfer_on_dtmf_zero": true}}, 422, "transfer_number"},
			"temperature too high": {http.MethodPost, "/api/v1/agents", map[string]any{"name": "x", "greeting": "g", "fallback": "f", "settings": map[string]any{"temperature": 9}}, 422, "temperature"},
			"not json":             {http.MethodPost, "/api/v1/agents", []byte("{"), 400, ""},
			"bad number":           {http.MethodPost, "/api/v1/numbers", map[string]any{"e164": "12", "agent_id": string(e.a.agent.ID)}, 422, "e164"},
			"number of no agent":   {http.MethodPost, "/api/v1/numbers", map[string]any{"e164": "+15550001111", "agent_id": "nope"}, 404, "agent"},
			"taken number":         {http.MethodPost, "/api/v1/numbers", map[string]any{"e164": string(e.b.number), "agent_id": string(e.a.agent.ID)}, 404, "number"},
			"bad bucket":           {http.MethodGet, "/api/v1/analytics?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&bucket=fortnight", nil, 422, "bucket"},
			"too many buckets":     {http.MethodGet, "/api/v1/analytics?from=2000-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&bucket=hour", nil, 422, "buckets"},
			"limit too big":        {http.MethodGet, "/api/v1/calls?limit=100000", nil, 422, "limit"},
			"short password":       {http.MethodPost, "/api/v1/users", map[string]any{"email": "a@b.example", "password": "short", "role": "viewer"}, 422, "password"},
			"no such endpoint":     {http.MethodGet, "/api/v1/nothing", nil, 404, ""},
		} {
			t.Run(name, func(t *testing.T) {
				r := e.do(c.method, c.path, tok, c.body)
				r.problem(t, c.status)
				if !strings.Contains(strings.ToLower(string(r.body)), c.mention) {
					t.Errorf("the problem does not mention %q: %s", c.mention, r.body)
				}
			})
		}
	})
}

func TestRolesLimitWhatUsersMayDo(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		agentBody := map[string]any{"name": "x", "greeting": "g", "fallback": "f"}
		for _, c := range []struct {
			tok          string
			method, path string
			body         any
			status       int
		}{
			{e.a.viewerTok, http.MethodGet, "/api/v1/agents", nil, 200},
			{e.a.viewerTok, http.MethodGet, "/api/v1/calls", nil, 200},
			{e.a.viewerTok, http.MethodPost, "/api/v1/agents", agentBody, 403},
			{e.a.viewerTok, http.MethodGet, "/api/v1/analytics?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", nil, 403},
			{e.a.viewerTok, http.MethodPost, "/api/v1/calls/" + string(e.a.call.ID) + "/hangup", nil, 403},
			{e.a.supTok, http.MethodGet, "/api/v1/analytics?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", nil, 200},
			{e.a.supTok, http.MethodPost, "/api/v1/agents", agentBody, 403},
			{e.a.supTok, http.MethodDelete, "/api/v1/agents/" + string(e.a.agent.ID), nil, 403},
			{e.a.supTok, http.MethodGet, "/api/v1/users", nil, 403},
			{e.a.adminTok, http.MethodGet, "/api/v1/users", nil, 200},
			{"", http.MethodGet, "/api/v1/agents", nil, 401},
		} {
			if r := e.do(c.method, c.path, c.tok, c.body); r.status != c.status {
				t.Errorf("%s %s as %s: %d %s, want %d", c.method, c.path, roleOf(e, c.tok), r.status, r.body, c.status)
			}
		}
	})
}

func roleOf(e *env, tok string) string {
	switch tok {
	case e.a.viewerTok:
		return "viewer"
	case e.a.supTok:
		return "supervisor"
	case e.a.adminTok:
		return "admin"
	}
	return "nobody"
}

func TestCallsListWithAgentCustomerAndTranscript(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		ctx := t.Context()
		base := time.Now().UTC().Add(-30 * time.Minute)
		for i := range 7 {
			if _, err := st.CreateCall(ctx, store.Call{OrgID: e.a.id, AgentID: e.a.agent.ID, CustomerID: e.a.customer.ID,
				Direction: "incoming", From: e.a.customer.Phone, To: e.a.number, StartedAt: base.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		var seen []string
		cursor := ""
		for page := 0; ; page++ {
			r := e.do(http.MethodGet, "/api/v1/calls?limit=3&cursor="+cursor, e.a.viewerTok, nil)
			if r.status != http.StatusOK {
				t.Fatalf("page %d: %d %s", page, r.status, r.body)
			}
			var out struct {
				Items []struct {
					ID       string `json:"id"`
					Agent    *struct{ Name string }
					Customer *struct{ Name string }
				} `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			r.json(t, &out)
			for _, c := range out.Items {
				if c.Agent == nil || c.Agent.Name == "" || c.Customer == nil || c.Customer.Name != "Customer of org-a" {
					t.Fatalf("call %s without its agent or customer: %s", c.ID, r.body)
				}
				seen = append(seen, c.ID)
			}
			if cursor = out.NextCursor; cursor == "" {
				break
			}
		}
		if len(seen) != 8 || seen[7] != string(e.a.call.ID) {
			t.Fatalf("paged through %v, want 8 calls ending with the oldest %s", seen, e.a.call.ID)
		}
		if uniq := slices.Compact(slices.Sorted(slices.Values(seen))); len(uniq) != 8 {
			t.Fatalf("a call listed twice: %v", seen)
		}

		r := e.do(http.MethodGet, "/api/v1/calls?status=ended&outcome=resolved", e.a.viewerTok, nil)
		var ended struct {
			Items []struct{ ID string } `json:"items"`
		}
		r.json(t, &ended)
		if len(ended.Items) != 1 || ended.Items[0].ID != string(e.a.call.ID) {
			t.Fatalf("ended+resolved: %s", r.body)
		}

		// A supervisor: viewers are not shown keypad digits.
		r = e.do(http.MethodGet, "/api/v1/calls/"+string(e.a.call.ID), e.a.supTok, nil)
		var d struct {
			Outcome string `json:"outcome"`
			Turns   []struct {
				Speaker string
				Text    string
				Latency *store.Latency
			}
			Events []eventOut
		}
		r.json(t, &d)
		if d.Outcome != "resolved" || len(d.Turns) != 3 || d.Turns[1].Text != "What are your opening hours?" || d.Turns[2].Latency == nil {
			t.Fatalf("call detail: %s", r.body)
		}
		// The session's events between the call's start and end, in time
		// order, as the record kept them.
		c := e.a.call
		want := []eventOut{{At: c.StartedAt, Type: "started", Detail: "incoming"}}
		for _, ev := range seedEvents(c.StartedAt) {
			want = append(want, eventOut{At: ev.At.Truncate(time.Microsecond), Type: ev.Kind, Detail: ev.Detail})
		}
		want = append(want, eventOut{At: *c.EndedAt, Type: "ended", Detail: "hangup"})
		if !slices.EqualFunc(d.Events, want, eventOut.equal) {
			t.Fatalf("events\n got  %+v\n want %+v", d.Events, want)
		}
	})
}

// eventOut is an event of a call's detail, as a client reads it.
type eventOut struct {
	At     time.Time `json:"at"`
	Type   string    `json:"type"`
	Detail string    `json:"detail"`
}

func (e eventOut) equal(o eventOut) bool {
	return e.At.Equal(o.At) && e.Type == o.Type && e.Detail == o.Detail
}

func TestCallEventsMergeTheLifecycleWithTheSessionEvents(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		ctx := t.Context()
		// Answered when it started; the greeting at that very time comes
		// after; a transfer asked for, then the call escalated and ended.
		start := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Microsecond)
		c, err := st.CreateCall(ctx, store.Call{OrgID: e.a.id, AgentID: e.a.agent.ID, Direction: "incoming",
			Status: store.CallActive, StartedAt: start, AnsweredAt: &start})
		if err != nil {
			t.Fatal(err)
		}
		end := start.Add(20 * time.Second)
		_, err = st.FinishCall(ctx, store.CallEnd{OrgID: e.a.id, CallID: c.ID, EndedAt: end, Outcome: store.OutcomeEscalated,
			EndReason: "transfer", EscalationReason: "caller_request", Events: []store.CallEvent{
				{At: start, Kind: "greeting"},
				{At: start.Add(9 * time.Second), Kind: "dtmf", Detail: "0"},
				{At: start.Add(8 * time.Second), Kind: "caller_turn"},
				{At: end, Kind: "transfer_requested"},
			}})
		if err != nil {
			t.Fatal(err)
		}
		r := e.do(http.MethodGet, "/api/v1/calls/"+string(c.ID), e.a.supTok, nil) // viewers are not shown digits
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var d struct{ Events []eventOut }
		r.json(t, &d)
		want := []eventOut{
			{At: start, Type: "started", Detail: "incoming"},
			{At: start, Type: "answered"},
			{At: start, Type: "greeting"},
			{At: start.Add(8 * time.Second), Type: "caller_turn"},
			{At: start.Add(9 * time.Second), Type: "dtmf", Detail: "0"},
			{At: end, Type: "transfer_requested"},
			{At: end, Type: "escalated", Detail: "caller_request"},
			{At: end, Type: "ended", Detail: "transfer"},
		}
		if !slices.EqualFunc(d.Events, want, eventOut.equal) {
			t.Fatalf("events\n got  %+v\n want %+v", d.Events, want)
		}

		// Another organization sees neither the call nor its events.
		if r := e.do(http.MethodGet, "/api/v1/calls/"+string(c.ID), e.b.viewerTok, nil); r.status != http.StatusNotFound {
			t.Fatalf("org-b reading org-a's call: %d %s", r.status, r.body)
		}
	})
}

// TestCallEventTypesAreDocumented: every kind of event a session records
// is a documented value of an event's type.
func TestCallEventTypesAreDocumented(t *testing.T) {
	doc := api.Document()
	schemas := doc.Components.Schemas.Map()
	detail, ok := schemas["CallDetailBody"]
	if !ok {
		t.Fatal("no CallDetailBody schema")
	}
	items := detail.Properties["events"].Items
	if items.Ref != "" {
		items = schemas[strings.TrimPrefix(items.Ref, "#/components/schemas/")]
	}
	documented := map[string]bool{}
	for _, v := range items.Properties["type"].Enum {
		documented[v.(string)] = true
	}
	for _, k := range []session.EventKind{session.EventGreeting, session.EventCallerTurn, session.EventAgentTurn,
		session.EventBargeIn, session.EventDTMF, session.EventTransferRequested, session.EventHoldingPhrase} {
		if !documented[string(k)] {
			t.Errorf("event kind %q is not in the documented types %v", k, items.Properties["type"].Enum)
		}
	}
	for _, k := range []string{"started", "answered", "escalated", "ended"} {
		if !documented[k] {
			t.Errorf("lifecycle type %q is not documented", k)
		}
	}
}

func TestLiveCallsAndTheirActions(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		e.live.calls = []session.CallInfo{
			{ID: "live-a", OrgID: e.a.id, AgentID: e.a.agent.ID, CallControlID: "v3:live-a", State: session.StateSpeaking, StartedAt: time.Now()},
			{ID: "live-b", OrgID: e.b.id, AgentID: e.b.agent.ID, CallControlID: "v3:live-b"},
		}
		// A viewer reads the live list as the live events give it them.
		for _, tok := range []string{e.a.supTok, e.a.viewerTok} {
			r := e.do(http.MethodGet, "/api/v1/calls/live", tok, nil)
			var out struct {
				Items []struct{ ID, State string } `json:"items"`
			}
			r.json(t, &out)
			if len(out.Items) != 1 || out.Items[0].ID != "live-a" || out.Items[0].State != "speaking" {
				t.Fatalf("live calls: %s", r.body)
			}
		}
		r := e.do(http.MethodPost, "/api/v1/calls/live-a/transfer", e.a.viewerTok, map[string]any{})
		if r.status != http.StatusForbidden {
			t.Errorf("a viewer's transfer: %d, want 403", r.status)
		}
		if r = e.do(http.MethodPost, "/api/v1/calls/live-a/transfer", e.a.supTok, map[string]any{}); r.status != http.StatusOK {
			t.Fatalf("transfer: %d %s", r.status, r.body)
		}
		// The session is told, so the call's record says a supervisor handed it over.
		e.live.mu.Lock()
		handed := e.live.handed["live-a"]
		e.live.mu.Unlock()
		if handed != store.EscalationSupervisor {
			t.Errorf("the session was told %q, want supervisor", handed)
		}
		if r = e.do(http.MethodPost, "/api/v1/calls/live-a/hangup", e.a.supTok, nil); r.status != http.StatusOK {
			t.Fatalf("hangup: %d %s", r.status, r.body)
		}
		e.do(http.MethodPost, "/api/v1/calls/live-b/hangup", e.a.supTok, nil).problem(t, http.StatusNotFound)
		e.do(http.MethodPost, "/api/v1/calls/"+string(e.a.call.ID)+"/hangup", e.a.supTok, nil).problem(t, http.StatusConflict)
		want := []string{"transfer v3:live-a +15559990000", "hangup v3:live-a"}
		if !slices.Equal(e.calls.actions, want) {
			t.Fatalf("Call Control got %q, want %q", e.calls.actions, want)
		}
	})
}

func TestAnalyticsAndPatterns(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		day := time.Now().UTC().Truncate(24 * time.Hour)
		q := fmt.Sprintf("/api/v1/analytics?from=%s&to=%s&bucket=day", day.Add(-24*time.Hour).Format(time.RFC3339), day.Add(48*time.Hour).Format(time.RFC3339))
		r := e.do(http.MethodGet, q, e.a.supTok, nil)
		var out struct {
			Buckets []struct {
				Calls          int
				Ended          int
				ResolutionRate float64 `json:"resolution_rate"`
				Outcomes       map[string]int
				Latency        store.LatencyPercentiles
			}
		}
		r.json(t, &out)
		var calls, resolved int
		for _, b := range out.Buckets {
			calls += b.Calls
			resolved += b.Outcomes["resolved"]
		}
		if calls != 1 || resolved != 1 {
			t.Fatalf("analytics: %s", r.body)
		}

		r = e.do(http.MethodGet, "/api/v1/patterns/similar?text=when+are+you+open+today&k=3", e.a.viewerTok, nil)
		var sim struct {
			Items []struct {
				ID         string
				Similarity float64
			}
		}
		r.json(t, &sim)
		if len(sim.Items) != 1 || sim.Items[0].ID != string(e.a.pattern.ID) || sim.Items[0].Similarity < 0.5 {
			t.Fatalf("similar: %s", r.body)
		}
		if r = e.do(http.MethodDelete, "/api/v1/patterns/"+string(e.a.pattern.ID), e.a.adminTok, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete pattern: %d %s", r.status, r.body)
		}
		e.do(http.MethodGet, "/api/v1/patterns/"+string(e.a.pattern.ID), e.a.viewerTok, nil).problem(t, http.StatusNotFound)

		// Curation: an admin writes a pattern, disables it, approves it again;
		// a viewer may not; lists filter by status.
		var made struct {
			ID, Status, Source string
		}
		body := map[string]any{"agent_id": string(e.a.agent.ID), "kind": "faq", "trigger": "do you deliver on sundays", "response": "No, Monday to Saturday."}
		e.do(http.MethodPost, "/api/v1/patterns", e.a.viewerTok, body).problem(t, http.StatusForbidden)
		if r = e.do(http.MethodPost, "/api/v1/patterns", e.a.adminTok, body); r.status != http.StatusCreated {
			t.Fatalf("create pattern: %d %s", r.status, r.body)
		}
		r.json(t, &made)
		if made.Status != "active" || made.Source != "manual" {
			t.Fatalf("created %s", r.body)
		}
		if r = e.do(http.MethodPatch, "/api/v1/patterns/"+made.ID, e.a.adminTok, map[string]any{"status": "disabled"}); r.status != http.StatusOK {
			t.Fatalf("disable: %d %s", r.status, r.body)
		}
		var list struct{ Items []struct{ ID, Status string } }
		e.do(http.MethodGet, "/api/v1/patterns?status=disabled", e.a.viewerTok, nil).json(t, &list)
		if len(list.Items) != 1 || list.Items[0].ID != made.ID {
			t.Fatalf("disabled patterns: %+v", list.Items)
		}
		e.do(http.MethodGet, "/api/v1/patterns?status=active", e.a.viewerTok, nil).json(t, &list)
		if slices.ContainsFunc(list.Items, func(p struct{ ID, Status string }) bool { return p.ID == made.ID }) {
			t.Fatal("a disabled pattern is listed as active")
		}
		e.do(http.MethodPatch, "/api/v1/patterns/"+made.ID, e.a.supTok, map[string]any{"status": "active"}).problem(t, http.StatusForbidden)
	})
}

func TestEveryAnswerHasARequestIDAndSafeHeaders(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, func(c *api.Config, _ *api.Deps) {
			c.CORSOrigins = []string{"https://console.example"}
			c.MaxBodyBytes = 1 << 10
		})
		r := e.do(http.MethodGet, "/api/v1/me", e.a.viewerTok, nil)
		if r.status != 200 || len(r.header.Get("X-Request-Id")) < 10 {
			t.Fatalf("me: %d %v", r.status, r.header)
		}
		for h, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
			if r.header.Get(h) != v {
				t.Errorf("%s = %q, want %q", h, r.header.Get(h), v)
			}
		}
		big := []byte(`{"name":"` + strings.Repeat("x", 2000) + `"}`)
		e.do(http.MethodPost, "/api/v1/agents", e.a.adminTok, big).problem(t, http.StatusRequestEntityTooLarge)

		pre := func(origin string) int {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.srv.URL+"/api/v1/agents", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "GET")
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if origin == "https://console.example" && res.Header.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("allowed origin not echoed: %v", res.Header)
			}
			return res.StatusCode
		}
		if got := pre("https://console.example"); got != http.StatusNoContent {
			t.Errorf("preflight from an allowed origin: %d", got)
		}
		if got := pre("https://evil.example"); got != http.StatusForbidden {
			t.Errorf("preflight from another origin: %d", got)
		}

		doc := e.do(http.MethodGet, "/api/v1/openapi.json", "", nil)
		var spec struct {
			OpenAPI string                    `json:"openapi"`
			Paths   map[string]map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(doc.body, &spec); err != nil || spec.OpenAPI != "3.1.0" || spec.Paths["/calls/{id}"]["get"] == nil {
			t.Fatalf("openapi.json: %v %.200s", err, doc.body)
		}
	})
}

// TestTheRecommendedEscalationRulesCanBeStored: the rules the README
// offers to start from go through the API as they are.
func TestTheRecommendedEscalationRulesCanBeStored(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		rules := escalate.RecommendedRules()
		in := map[string]any{
			"name": "Support", "greeting": "Hello.", "fallback": "Sorry?", "transfer_number": "+15552223333",
			"escalation": rules,
		}
		r := e.do(http.MethodPost, "/api/v1/agents", e.a.adminTok, in)
		if r.status != http.StatusCreated {
			t.Fatalf("create with the recommended rules: %d %s", r.status, r.body)
		}
		var created struct {
			Escalation store.EscalationRules `json:"escalation"`
		}
		r.json(t, &created)
		if len(created.Escalation.Keywords) != len(rules.Keywords) || created.Escalation.SentimentBelow != rules.SentimentBelow {
			t.Fatalf("stored %d keywords (sentiment below %v), want %d (%v)", len(created.Escalation.Keywords),
				created.Escalation.SentimentBelow, len(rules.Keywords), rules.SentimentBelow)
		}
	})
}
