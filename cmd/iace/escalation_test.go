package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/store"
)

// TestEscalationRulesHandOverWhoNeedsAPerson: iace serve with offline
// providers and an agent whose escalation rules are on. Scripted callers
// (sim_script) play through the real stream: one grows angrier over three
// turns without asking for anyone, one the agent keeps misunderstanding,
// one who is happy. The first two are handed over with the rule that
// fired, the third is not; the records say so.
func TestEscalationRulesHandOverWhoNeedsAPerson(t *testing.T) {
	s := serveFor(t, agentsConfig(t, `{"id":"demo","org_id":"demo","name":"Support","greeting":"Hello, how can I help?",
		"fallback":"Sorry, could you say that again?",
		"intents":[{"name":"hours","keywords":["hours","open"],"reply":"We are open nine to five."},
			{"name":"delivery","keywords":["order","delivery","parcel"],"reply":"Your parcel is on its way."},
			{"name":"bye","keywords":["goodbye"],"reply":"Goodbye!","action":"end_call"}],
		"escalation":{"negative_turns":3,"sentiment_below":-0.3,"repeated_fallbacks":2,"transfer_to_human_tool":true}}`))
	ctx, logs, url := t.Context(), s.logs, s.url

	callers := []struct {
		name  string
		lines []string
		want  []store.EscalationReason // any of these; none for a call that is not handed over
	}{
		{"growing angrier", []string{
			"where is my order, I am a bit annoyed",
			"this delivery is terrible, I am really upset",
			"my order is late again, this is awful and I am furious",
			"goodbye",
		}, []store.EscalationReason{store.EscalationSentiment, store.EscalationNegativeTurns}},
		{"misunderstood", []string{
			"blue fridge lamp seventeen",
			"seventeen lamp fridge blue",
			"lamp blue seventeen fridge",
			"goodbye",
		}, []store.EscalationReason{store.EscalationRepeatedFallbacks}},
		{"happy", []string{"what are your opening hours", "great, thank you so much", "goodbye"}, nil},
	}
	// The three callers call at once.
	reps := make([]sim.Report, len(callers))
	var g errgroup.Group
	for i, c := range callers {
		g.Go(func() error {
			var err error
			reps[i], err = sim.Run(ctx, sim.Config{URL: url, Calls: 1, Script: c.lines, Seed: uint64(i + 1), CallTimeout: 90 * time.Second})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := s.engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	// Records are written off the calls' path: wait for the spool.
	if err := s.stores.spool.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	calls, _, err := s.stores.backend.ListCalls(ctx, demoOrg, store.CallFilter{}, store.Page{Limit: 10})
	if err != nil || len(calls) != len(callers) {
		t.Fatalf("%d calls recorded, err %v", len(calls), err)
	}
	for i, c := range callers {
		// A caller handed over does not get to say all their lines.
		if c.want == nil && reps[i].CallsCompleted != 1 {
			t.Errorf("%s: the call did not complete", c.name)
		}
		var got store.Call
		var d store.CallDetail
		for _, item := range calls {
			if d, err = s.stores.backend.GetCall(ctx, demoOrg, item.Call.ID); err != nil {
				t.Fatal(err)
			}
			if len(d.Turns) > 1 && d.Turns[1].Text == c.lines[0] {
				got = d.Call
				break
			}
		}
		if got.ID == "" {
			t.Fatalf("%s: no record of the call", c.name)
		}
		// Every call keeps its prediction at the end, with the features a
		// training learns from.
		if p := got.Prediction; p == nil || len(p.Features) == 0 || p.ModelVersion != 0 || p.EscalationRisk <= 0 {
			t.Errorf("%s: prediction %+v, want the prior's with its features", c.name, p)
		}
		if c.want == nil {
			if got.Outcome == store.OutcomeEscalated || got.EscalationReason != "" || got.Summary != "" {
				t.Errorf("%s: handed over (%s, %q, %q), want not", c.name, got.Outcome, got.EscalationReason, got.Summary)
			}
			continue
		}
		// The human who takes the call over is told why and what about.
		if !strings.HasPrefix(got.Summary, "Handed over because ") || !strings.Contains(got.Summary, c.lines[0]) ||
			!strings.Contains(got.Summary, "Their mood is") {
			t.Errorf("%s: handoff summary %q", c.name, got.Summary)
		}
		if got.Outcome != store.OutcomeEscalated || got.EndReason != "transfer" ||
			!slices.Contains(c.want, store.EscalationReason(got.EscalationReason)) {
			t.Errorf("%s: recorded %s / %s / %q, want escalated by transfer with one of %v\n%s",
				c.name, got.Outcome, got.EndReason, got.EscalationReason, c.want, logs)
		}
		if !slices.ContainsFunc(d.Events, func(e store.CallEvent) bool {
			return e.Kind == "transfer_requested" && e.Detail == got.EscalationReason
		}) {
			t.Errorf("%s: no transfer_requested event naming %q: %+v", c.name, got.EscalationReason, d.Events)
		}
	}
	metrics := get(t, "http://"+s.intLn.Addr().String()+"/metrics")
	for _, line := range []string{`iace_calls_completed_total{outcome="escalated"} 2`, `iace_escalations_total{reason="repeated_fallbacks"} 1`} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	if err := s.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestPredictedRiskHandsOverAnAngryCaller: an agent whose only rule is the
// predicted escalation risk (the prior model, fed each caller turn's
// sentiment live) hands over a caller growing angrier, not a happy one.
func TestPredictedRiskHandsOverAnAngryCaller(t *testing.T) {
	got := reasonsOfScriptedCalls(t, `{"id":"demo","org_id":"demo","name":"Support","greeting":"Hello, how can I help?",
		"fallback":"Sorry, could you say that again?",
		"intents":[{"name":"hours","keywords":["hours","open"],"reply":"We are open nine to five."},
			{"name":"delivery","keywords":["order","delivery","parcel"],"reply":"Your parcel is on its way."},
			{"name":"thanks","keywords":["thank"],"reply":"You are welcome."},
			{"name":"bye","keywords":["goodbye"],"reply":"Goodbye!","action":"end_call"}],
		"escalation":{"predicted_risk_above":0.4}}`, map[string][]string{
		"angry": {"where is my order, I am annoyed", "this delivery is terrible, I am really upset",
			"my order is late again, this is awful and I am furious", "goodbye"},
		"happy": {"what are your opening hours", "great, thank you so much", "goodbye"},
	})
	if got["angry"] != string(store.EscalationPredictedRisk) {
		t.Errorf("the angry caller: escalation %q, want predicted_risk", got["angry"])
	}
	if got["happy"] != "" {
		t.Errorf("the happy caller was handed over: %q", got["happy"])
	}
}

// TestTheWordsModelHandsOverWhatNoRuleHolds: an agent whose only rule is
// the offline words model hands over a caller whose words no keyword or
// topic holds (a wheelchair user's mother stuck behind a broken lift), not
// one asking after an order, and records the reason words_model.
func TestTheWordsModelHandsOverWhatNoRuleHolds(t *testing.T) {
	got := reasonsOfScriptedCalls(t, `{"id":"demo","org_id":"demo","name":"Support","greeting":"Hello, how can I help?",
		"fallback":"Sorry, could you say that again?",
		"intents":[{"name":"delivery","keywords":["order","delivery","parcel"],"reply":"Your parcel is on its way."},
			{"name":"thanks","keywords":["thank"],"reply":"You are welcome."},
			{"name":"bye","keywords":["goodbye"],"reply":"Goodbye!","action":"end_call"}],
		"escalation":{"words_risk_above":0.96}}`, map[string][]string{
		"stuck": {"my mum uses a wheelchair and the lift in her block has been broken for two weeks",
			"she has not been out of the flat and her carer cannot get in", "goodbye"},
		"order": {"where is my order", "ok thank you", "goodbye"},
	})
	if got["stuck"] != string(store.EscalationWordsModel) {
		t.Errorf("the caller behind the broken lift: escalation %q, want words_model", got["stuck"])
	}
	if got["order"] != "" {
		t.Errorf("the caller asking after an order was handed over: %q", got["order"])
	}
}

// reasonsOfScriptedCalls serves agent (JSON), runs one simulated caller
// per script at once, and returns the escalation reason each call was
// recorded with, by the script's name ("" for none).
func reasonsOfScriptedCalls(t *testing.T, agent string, scripts map[string][]string) map[string]string {
	t.Helper()
	s := serveFor(t, agentsConfig(t, agent))
	ctx, url := t.Context(), s.url
	var g errgroup.Group
	for name, lines := range scripts {
		g.Go(func() error {
			_, err := sim.Run(ctx, sim.Config{URL: url, Calls: 1, Script: lines, Seed: uint64(len(name)), CallTimeout: 90 * time.Second})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := s.engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.stores.spool.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	calls, _, err := s.stores.backend.ListCalls(ctx, demoOrg, store.CallFilter{}, store.Page{Limit: 10})
	if err != nil || len(calls) != len(scripts) {
		t.Fatalf("%d calls recorded, want %d; err %v", len(calls), len(scripts), err)
	}
	got := make(map[string]string, len(scripts))
	for _, item := range calls {
		d, err := s.stores.backend.GetCall(ctx, demoOrg, item.Call.ID)
		if err != nil || len(d.Turns) < 2 {
			t.Fatalf("call %s: %v", item.Call.ID, err)
		}
		name := ""
		for n, lines := range scripts {
			if d.Turns[1].Text == lines[0] {
				name = n
			}
		}
		if name == "" {
			t.Fatalf("call %s: its first caller turn %q is no script's", item.Call.ID, d.Turns[1].Text)
		}
		got[name] = d.Call.EscalationReason
	}
	if err := s.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	return got
}
