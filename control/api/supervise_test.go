package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/control/api"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store"
)

// The cluster's node carries out the supervision commands, on whichever
// node holds the call.
var (
	_ api.Supervision = (*cluster.Node)(nil)
	_ api.LiveCalls   = (*cluster.Node)(nil)
)

// liveA puts one call of organization A live on the node.
func liveA(e *env) {
	e.live.calls = []session.CallInfo{{ID: "live-a", OrgID: e.a.id, AgentID: e.a.agent.ID, CallControlID: "v3:live-a", StartedAt: time.Now()}}
}

// auditLines checks that every "call supervision" log line names who,
// which call and the result, and returns their results.
func auditLines(t *testing.T, logs *logLines, e *env, action string) []string {
	t.Helper()
	var results []string
	for _, l := range logs.with(t, "call supervision") {
		if l["level"] != "INFO" || l["request_id"] == nil || l["request_id"] == "" || l["call_id"] == nil ||
			l["user_id"] == nil || l["org_id"] == nil || l["action"] != action {
			t.Errorf("audit line without level, request, who, which call or action %s: %v", action, l)
		}
		if action == "role" && l["role"] == nil {
			t.Errorf("role audit line without the role: %v", l)
		}
		if l["user_id"] == string(e.a.supervisor.ID) && l["org_id"] != string(e.a.id) {
			t.Errorf("audit line with the wrong organization: %v", l)
		}
		results = append(results, l["result"].(string))
	}
	return results
}

// TestSupervisorSwitchesRoles: a supervisor or admin switches their role
// on a live call of their organization; a viewer cannot, another
// organization's supervisor finds no call, a role that is not one is 422,
// a busy call 503 with Retry-After; each command is logged once.
func TestSupervisorSwitchesRoles(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		var logs logLines
		e := newEnv(t, st, withLog(&logs))
		liveA(e)
		role := func(tok string, body any) resp {
			return e.do(http.MethodPost, "/api/v1/calls/live-a/role", tok, body)
		}

		r := role(e.a.supTok, map[string]any{"role": "barge"})
		if r.status != http.StatusOK {
			t.Fatalf("a supervisor's barge: %d %s", r.status, r.body)
		}
		var out struct {
			CallID string `json:"call_id"`
			Role   string `json:"role"`
		}
		r.json(t, &out)
		if out.CallID != "live-a" || out.Role != "barge" {
			t.Errorf("answer %s, want call live-a and role barge", r.body)
		}
		if r := role(e.a.adminTok, map[string]any{"role": "takeover"}); r.status != http.StatusOK {
			t.Fatalf("an admin's takeover: %d %s", r.status, r.body)
		}
		want := []string{"org-a live-a barge", "org-a live-a takeover"}
		if got := e.super.commands(); !slices.Equal(got, want) {
			t.Fatalf("the engine got %q, want %q", got, want)
		}

		role(e.a.viewerTok, map[string]any{"role": "monitor"}).problem(t, http.StatusForbidden)
		role("", map[string]any{"role": "monitor"}).problem(t, http.StatusUnauthorized)
		if p := role(e.b.supTok, map[string]any{"role": "monitor"}).problem(t, http.StatusNotFound); p.Detail != "no such live call" {
			t.Errorf("another organization's call: %q", p.Detail)
		}
		e.do(http.MethodPost, "/api/v1/calls/no-such-call/role", e.a.supTok, map[string]any{"role": "monitor"}).problem(t, http.StatusNotFound)
		for _, bad := range []any{map[string]any{"role": "shout"}, map[string]any{"role": ""}, map[string]any{"role": "Barge"}, map[string]any{}} {
			role(e.a.supTok, bad).problem(t, http.StatusUnprocessableEntity)
		}
		if got := e.super.commands(); !slices.Equal(got, want) {
			t.Fatalf("refused commands reached the engine: %q", got)
		}

		e.super.setBusy()
		r = role(e.a.supTok, map[string]any{"role": "monitor"})
		r.problem(t, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") != "1" {
			t.Errorf("busy: Retry-After %q, want 1", r.header.Get("Retry-After"))
		}

		results := auditLines(t, &logs, e, "role")
		// The roles refused by the schema never reach the handler.
		if wantR := []string{"done", "done", "not_found", "not_found", "busy"}; !slices.Equal(results, wantR) {
			t.Errorf("audit results %q, want %q", results, wantR)
		}
	})
}

// TestSupervisorWhispers: a supervisor's whisper reaches the engine and is
// 202; a viewer's does not; empty, blank and over-long texts are 422; a
// busy call is 503; the log never shows a whisper's text.
func TestSupervisorWhispers(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		var logs logLines
		e := newEnv(t, st, withLog(&logs))
		liveA(e)
		whisper := func(tok, text string) resp {
			return e.do(http.MethodPost, "/api/v1/calls/live-a/whisper", tok, map[string]any{"text": text})
		}
		const secret = "Offer the caller code SECRET-7731."
		r := whisper(e.a.supTok, secret)
		if r.status != http.StatusAccepted {
			t.Fatalf("a supervisor's whisper: %d %s", r.status, r.body)
		}
		var out struct {
			CallID string `json:"call_id"`
			Action string `json:"action"`
		}
		r.json(t, &out)
		if out.CallID != "live-a" || out.Action != "whisper" {
			t.Errorf("answer %s, want call live-a and action whisper", r.body)
		}
		long := strings.Repeat("a", 1000)
		if r := whisper(e.a.adminTok, long); r.status != http.StatusAccepted {
			t.Fatalf("a 1000-byte whisper: %d %s", r.status, r.body)
		}
		want := []string{"org-a live-a whisper: " + secret, "org-a live-a whisper: " + long}
		if got := e.super.commands(); !slices.Equal(got, want) {
			t.Fatalf("the engine got %q, want %q", got, want)
		}

		whisper(e.a.viewerTok, "Say hi.").problem(t, http.StatusForbidden)
		if p := whisper(e.b.supTok, "Say hi.").problem(t, http.StatusNotFound); p.Detail != "no such live call" {
			t.Errorf("another organization's call: %q", p.Detail)
		}
		whisper(e.a.supTok, "").problem(t, http.StatusUnprocessableEntity)
		whisper(e.a.supTok, long+"b").problem(t, http.StatusUnprocessableEntity)
		whisper(e.a.supTok, "   \n ").problem(t, http.StatusUnprocessableEntity) // blank: refused by the engine
		e.do(http.MethodPost, "/api/v1/calls/live-a/whisper", e.a.supTok, map[string]any{}).problem(t, http.StatusUnprocessableEntity)
		if got := e.super.commands(); !slices.Equal(got, want) {
			t.Fatalf("refused whispers reached the engine: %q", got)
		}

		e.super.setBusy()
		r = whisper(e.a.supTok, secret)
		r.problem(t, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") != "1" {
			t.Errorf("busy: Retry-After %q, want 1", r.header.Get("Retry-After"))
		}

		results := auditLines(t, &logs, e, "whisper")
		if wantR := []string{"done", "done", "not_found", "invalid", "busy"}; !slices.Equal(results, wantR) {
			t.Errorf("audit results %q, want %q", results, wantR)
		}
		if logs.contains("SECRET-7731") || logs.contains(long) {
			t.Error("the log shows a whisper's text")
		}
	})
}

// TestSupervisionWithoutAnEngine: a node without the engine wired answers
// 503, and the live list shows each call's supervisor role.
func TestSupervisionWithoutAnEngine(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, func(_ *api.Config, d *api.Deps) { d.Supervision = nil })
		liveA(e)
		e.do(http.MethodPost, "/api/v1/calls/live-a/role", e.a.supTok, map[string]any{"role": "barge"}).problem(t, http.StatusServiceUnavailable)
		e.do(http.MethodPost, "/api/v1/calls/live-a/whisper", e.a.supTok, map[string]any{"text": "Hi."}).problem(t, http.StatusServiceUnavailable)

		e.live.calls = append(e.live.calls, session.CallInfo{ID: "live-a2", OrgID: e.a.id, AgentID: e.a.agent.ID,
			StartedAt: time.Now(), SupervisorRole: session.RoleTakeover})
		var list struct {
			Items []struct {
				ID   string `json:"id"`
				Role string `json:"supervisor_role"`
			} `json:"items"`
		}
		e.do(http.MethodGet, "/api/v1/calls/live", e.a.supTok, nil).json(t, &list)
		if len(list.Items) != 2 || list.Items[0].Role != "monitor" || list.Items[1].Role != "takeover" {
			t.Errorf("live list %+v, want live-a monitor and live-a2 takeover", list.Items)
		}
	})
}

// nodeOfOne is a cluster of one node around engine, as iace serve runs
// without Redis.
func nodeOfOne(t *testing.T, engine *session.Engine) *cluster.Node {
	t.Helper()
	n, err := cluster.New(cluster.Config{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Attach(engine)
	return n
}

// TestSupervisorRoleOverServerSentEvents drives a real call's engine
// through the API: a role switch shows as a supervisor_role event with
// its role on the call's stream and the live list, a whisper as a whisper
// event with its text on the call's stream.
func TestSupervisorRoleOverServerSentEvents(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, func(_ *api.Config, d *api.Deps) { d.Supervision = nodeOfOne(t, d.Events.(*session.Engine)) })
		conn := telnyx.DefaultConnConfig()
		conn.AllowUnauthenticated = true
		streams := httptest.NewServer(telnyx.NewHandler(conn, e.engine, telnyx.NewMetrics(nil), slog.New(slog.DiscardHandler)))
		t.Cleanup(streams.Close)

		list := openEvents(t, e.srv, "/api/v1/calls/live/events", e.a.viewerTok)
		list.next() // the snapshot
		call := dialCall(t, "ws"+strings.TrimPrefix(streams.URL, "http"), e.a.number)
		id := list.until("started").data.CallID
		events := openEvents(t, e.srv, "/api/v1/calls/"+id+"/events", e.a.viewerTok)
		events.next() // the snapshot

		if r := e.do(http.MethodPost, "/api/v1/calls/"+id+"/role", e.a.supTok, map[string]any{"role": "barge"}); r.status != http.StatusOK {
			t.Fatalf("switch to barge: %d %s", r.status, r.body)
		}
		for _, s := range []*sseStream{events, list} {
			if ev := s.until("supervisor_role"); ev.data.Role != "barge" || ev.data.CallID != id {
				t.Errorf("supervisor_role %+v, want role barge of call %s", ev.data, id)
			}
		}
		e.do(http.MethodPost, "/api/v1/calls/"+id+"/role", e.b.supTok, map[string]any{"role": "takeover"}).problem(t, http.StatusNotFound)
		if r := e.do(http.MethodPost, "/api/v1/calls/"+id+"/whisper", e.a.supTok, map[string]any{"text": "Offer a refund."}); r.status != http.StatusAccepted {
			t.Fatalf("whisper: %d %s", r.status, r.body)
		}
		if ev := events.until("whisper"); ev.data.Text != "Offer a refund." {
			t.Errorf("whisper %+v, want its text", ev.data)
		}
		call.send(map[string]any{"event": "stop", "stream_id": "stream-1", "sequence_number": "2", "stop": map[string]any{}})
		events.until("ended")
		e.do(http.MethodPost, "/api/v1/calls/"+id+"/role", e.a.supTok, map[string]any{"role": "monitor"}).problem(t, http.StatusNotFound)
	})
}
