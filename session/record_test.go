package session_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

func TestCallRecordKeepsTheSessionEvents(t *testing.T) {
	start := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	events := []session.Event{
		{Kind: session.EventGreeting, At: start.Add(200 * time.Millisecond)},
		{Kind: session.EventCallerTurn, At: start.Add(4 * time.Second)},
		{Kind: session.EventBargeIn, At: start.Add(6 * time.Second)},
		{Kind: session.EventDTMF, At: start.Add(7 * time.Second), Detail: "0"},
		{Kind: session.EventHoldingPhrase, At: start.Add(8 * time.Second), Detail: "chat model"},
		{Kind: session.EventTransferRequested, At: start.Add(9 * time.Second)},
	}
	sum := session.CallSummary{
		Info:      session.CallInfo{ID: "call-1", OrgID: "org-1", AgentID: "agent-1", From: "+15551110001", StartedAt: start},
		EndedAt:   start.Add(10 * time.Second),
		EndReason: session.EndTransfer,
		Events:    events,
	}
	end := sum.Record().End
	want := []store.CallEvent{
		{Kind: "greeting", At: start.Add(200 * time.Millisecond)},
		{Kind: "caller_turn", At: start.Add(4 * time.Second)},
		{Kind: "barge_in", At: start.Add(6 * time.Second)},
		{Kind: "dtmf", At: start.Add(7 * time.Second), Detail: "0"},
		{Kind: "holding_phrase", At: start.Add(8 * time.Second), Detail: "chat model"},
		{Kind: "transfer_requested", At: start.Add(9 * time.Second)},
	}
	if !reflect.DeepEqual(end.Events, want) {
		t.Fatalf("events\n got  %+v\n want %+v", end.Events, want)
	}
	if err := end.Check(); err != nil {
		t.Fatalf("the store refuses the record: %v", err)
	}

	t.Run("a call without events records none", func(t *testing.T) {
		sum := sum
		sum.Events = nil
		if end := sum.Record().End; end.Events != nil {
			t.Fatalf("events %+v", end.Events)
		}
	})

	t.Run("events the store would refuse do not lose the record", func(t *testing.T) {
		long := "x" + strings.Repeat("é", store.MaxEventDetailLen) // 2-byte runes: a cut at the cap splits one
		many := make([]session.Event, 0, store.MaxCallEvents+50)
		many = append(many,
			session.Event{Kind: session.EventHoldingPhrase, At: start, Detail: long},
			session.Event{Kind: "", At: start},
			session.Event{Kind: session.EventDTMF})
		for len(many) < cap(many) {
			many = append(many, session.Event{Kind: session.EventCallerTurn, At: start.Add(time.Second)})
		}
		sum := sum
		sum.Events = many
		end := sum.Record().End
		if err := end.Check(); err != nil {
			t.Fatalf("the store refuses the record: %v", err)
		}
		if len(end.Events) != store.MaxCallEvents {
			t.Fatalf("%d events, want the first %d the store keeps", len(end.Events), store.MaxCallEvents)
		}
		d := end.Events[0].Detail
		if len(d) != store.MaxEventDetailLen-1 || !utf8.ValidString(d) || !strings.HasPrefix(long, d) {
			t.Fatalf("long detail cut to %d bytes %q", len(d), d)
		}
		if end.Events[1].Kind != "caller_turn" {
			t.Fatalf("an event without a kind or time was kept: %+v", end.Events[1])
		}
	})
}

// TestTheRecordSaysWhatHappenedToATransfer: the record's outcome and
// escalation reason come from the session: a transfer made for the caller
// is escalated with its reason; one made because providers failed is
// failed with reason provider_failure; one that could not be made is a
// failed call that ended transfer_failed, its attempted reason kept.
func TestTheRecordSaysWhatHappenedToATransfer(t *testing.T) {
	start := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	spoke := []session.Turn{{Speaker: ai.RoleUser, Text: "I want a person"}}
	for _, tc := range []struct {
		name    string
		end     session.EndReason
		esc     store.EscalationReason
		outcome store.Outcome
	}{
		{"the caller asked", session.EndTransfer, store.EscalationCallerRequest, store.OutcomeEscalated},
		{"the model gave up", session.EndTransfer, store.EscalationModelTool, store.OutcomeEscalated},
		{"the caller pressed 0", session.EndTransfer, store.EscalationDTMF, store.OutcomeEscalated},
		{"providers failed", session.EndTransfer, store.EscalationProviderFailure, store.OutcomeFailed},
		{"the transfer could not be made", session.EndTransferFailed, store.EscalationCallerRequest, store.OutcomeFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := session.CallSummary{Info: session.CallInfo{ID: "c", OrgID: "o", AgentID: "a", StartedAt: start},
				EndedAt: start.Add(time.Minute), EndReason: tc.end, Escalation: tc.esc, Transcript: spoke}
			end := sum.Record().End
			if end.Outcome != tc.outcome || end.EscalationReason != string(tc.esc) || end.EndReason != string(tc.end) {
				t.Errorf("recorded %s / %q / %s, want %s / %q / %s", end.Outcome, end.EscalationReason, end.EndReason,
					tc.outcome, tc.esc, tc.end)
			}
			if err := end.Check(); err != nil {
				t.Errorf("the store refuses it: %v", err)
			}
		})
	}
}

// recordingCalls is Telnyx Call Control as the session sees it.
type recordingCalls struct {
	mu      sync.Mutex
	actions []string
	// handoffs are the transfers' client states, in order.
	handoffs [][]byte
}

func (r *recordingCalls) Transfer(_ context.Context, ccid, to string, handoff []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, "transfer "+ccid+" "+to)
	r.handoffs = append(r.handoffs, handoff)
	return nil
}

func (r *recordingCalls) Hangup(_ context.Context, ccid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, "hangup "+ccid)
	return nil
}

// TestASupervisorsTransferIsRecordedAsTheirs: a supervisor transferred the
// call through the API (Call Control already has it): the session ends it
// as a transfer with reason supervisor, and asks Call Control nothing more.
func TestASupervisorsTransferIsRecordedAsTheirs(t *testing.T) {
	calls := &recordingCalls{}
	ts := newTestServerWith(t, nil, func(d *session.Deps) { d.Calls = calls })
	p := dialPeer(t, ts.url, nil)
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	live := ts.engine.List()
	if len(live) != 1 || !ts.engine.Handed(live[0].ID, store.EscalationSupervisor) {
		t.Fatalf("live calls %+v", live)
	}
	sum := ts.summary(t)
	p.close()
	if sum.EndReason != session.EndTransfer || sum.Escalation != store.EscalationSupervisor || sum.Outcome() != store.OutcomeEscalated {
		t.Errorf("recorded %s / %q / %s, want transfer / supervisor / escalated", sum.EndReason, sum.Escalation, sum.Outcome())
	}
	calls.mu.Lock()
	defer calls.mu.Unlock()
	if len(calls.actions) != 0 {
		t.Errorf("Call Control was asked %q after the supervisor's transfer", calls.actions)
	}
}

// stuckPatterns is a pattern store that answers only when the reader gives up.
type stuckPatterns struct{}

func (stuckPatterns) ListPatterns(ctx context.Context, _ store.OrgID, _ store.PatternFilter, _ store.Page) ([]store.Pattern, string, error) {
	<-ctx.Done()
	return nil, "", ctx.Err()
}

func (stuckPatterns) SimilarPatterns(ctx context.Context, _ store.OrgID, _ store.PatternFilter, _ []float32, _ int) ([]store.ScoredPattern, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestASlowPatternReadDoesNotHoldTheCall: the agent's patterns do not come
// within the deadline; the caller is greeted and answered all the same, and
// the miss is counted.
func TestASlowPatternReadDoesNotHoldTheCall(t *testing.T) {
	reg := prometheus.NewRegistry()
	agent := store.DefaultAgent()
	agent.OrgID = "demo"
	ts := newTestServerWith(t, nil, func(d *session.Deps) {
		d.Patterns = stuckPatterns{}
		d.Metrics = session.NewMetrics(reg)
		agents, err := store.NewStaticAgents([]store.Agent{agent})
		if err != nil {
			t.Fatal(err)
		}
		d.Agents = agents
	})
	p := dialPeer(t, ts.url, map[string]string{"sim_script": "what are your opening hours"})
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	// The read gives up at its deadline while the call goes on.
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(t, reg, "iace_session_memory_misses_total") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the pattern read's miss was not counted")
		}
		time.Sleep(10 * time.Millisecond) // polling a counter another goroutine sets, not a race
	}
	if ts.engine.Registry().Len() != 1 {
		t.Fatal("the call did not go on without its patterns")
	}
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	ts.summary(t)
	p.close()
}

// family is the metric family of reg named name; the test fails if reg
// has none.
func family(t *testing.T, reg *prometheus.Registry, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// counterValue is the value of the counter of reg named name, over all
// its labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	var sum float64
	for _, m := range family(t, reg, name).GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}
