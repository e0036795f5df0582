package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/store"
)

// TestFinishedCallsTeachPatterns: two callers ask the demo agent the same
// question and are answered; after their calls, off the calls' path, the
// organization has one learned pattern for it, used twice, naming both
// calls. A call that teaches nothing new (a goodbye) adds nothing. When
// the first caller calls again, the call knows their first call, and after
// it their memory holds both.
func TestFinishedCallsTeachPatterns(t *testing.T) {
	// The memory deadline (150 ms by default) bounds the pattern read at a
	// call's start; on a loaded machine (CI beside a load run) the read can
	// miss it, and the test is about what is learned, not that bound.
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--memory-deadline", "3s"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFor(t, cfg)
	ctx, url := t.Context(), s.url
	// learned waits until the organization's patterns satisfy ok: learning
	// runs on its own workers after the call.
	learned := func(ok func([]store.Pattern) bool) []store.Pattern {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			pats, _, err := s.stores.backend.ListPatterns(ctx, demoOrg, store.PatternFilter{}, store.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if ok(pats) || time.Now().After(deadline) {
				return pats
			}
			time.Sleep(20 * time.Millisecond) // polling the workers' result, not a race
		}
	}
	call := func(from string, lines ...string) {
		t.Helper()
		rep, err := sim.Run(ctx, sim.Config{URL: url, Calls: 1, From: from, Script: lines, CallTimeout: 60 * time.Second})
		if err != nil || rep.CallsCompleted != 1 {
			t.Fatalf("call from %s: %v, %d completed", from, err, rep.CallsCompleted)
		}
	}
	const first, second = "+15550000001", "+15550000002"
	// An admin writes down an answer the agent's intents do not have: the
	// next caller who asks gets it (the offline agent answers from the
	// call's patterns), and its use is counted.
	token := login(t, s, demoOrg, "admin@demo.example", store.RoleAdmin)
	base := "http://" + s.publicLn.Addr().String() + "/api/v1"
	const answer = "Yes, we ship to Canada within five days."
	var curated struct{ ID store.PatternID }
	if code := apiCall(t, http.MethodPost, base+"/patterns", token, map[string]string{
		"agent_id": "demo", "kind": "faq", "trigger": "do you ship to canada", "response": answer}, &curated); code != http.StatusCreated {
		t.Fatalf("POST /patterns: %d", code)
	}
	call("+15550000003", "hello, do you ship to canada", "goodbye")
	if err := s.stores.spool.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	latest, _, err := s.stores.backend.ListCalls(ctx, demoOrg, store.CallFilter{}, store.Page{Limit: 1})
	if err != nil || len(latest) != 1 {
		t.Fatal(err)
	}
	d, err := s.stores.backend.GetCall(ctx, demoOrg, latest[0].Call.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.Turns, func(tn store.Turn) bool { return tn.Speaker == store.SpeakerAgent && tn.Text == answer }) {
		t.Errorf("the caller was not given the curated answer: %+v", d.Turns)
	}
	if got, err := s.stores.backend.GetPattern(ctx, demoOrg, curated.ID); err != nil || got.Uses != 1 || got.Successes != 1 {
		t.Errorf("curated pattern after its use: %+v, %v", got, err)
	}

	// Two callers ask what the agent's intents answer: one pattern is
	// learned from the first and used by the second.
	hours := func(ps []store.Pattern) []store.Pattern {
		return slices.DeleteFunc(ps, func(p store.Pattern) bool { return !strings.Contains(p.Trigger, "opening hours") })
	}
	var pats []store.Pattern
	for i, from := range []string{first, second} {
		call(from, "what are your opening hours", "goodbye")
		// The second call's reply repeats the pattern the first taught: its
		// use is counted once, whether by the reply or by the merge.
		pats = hours(learned(func(ps []store.Pattern) bool {
			ps = hours(ps)
			return len(ps) == 1 && len(ps[0].SourceCallIDs) == i+1
		}))
	}
	if len(pats) != 1 {
		t.Fatalf("%d patterns: %+v; want one for the question both callers asked", len(pats), pats)
	}
	p := pats[0]
	if p.Source != store.PatternLearned || p.Status != store.PatternActive || p.Kind != "faq" || p.Uses != 2 || p.Successes != 2 ||
		p.Trigger != "what are your opening hours" || p.Response != "We are open Monday to Friday, nine to five." || len(p.SourceCallIDs) != 2 {
		t.Errorf("pattern %+v", p)
	}
	calls, _, err := s.stores.backend.ListCalls(ctx, demoOrg, store.CallFilter{}, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls[:2] { // newest first: the two calls that asked
		if !slices.Contains(p.SourceCallIDs, c.Call.ID) {
			t.Errorf("the pattern does not name call %s", c.Call.ID)
		}
	}

	// The first caller calls again: what the call read at its start about
	// them holds their first call, and their memory now holds both.
	call(first, "how much does the basic plan cost", "goodbye")
	if err := s.stores.spool.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	again, _, err := s.stores.backend.ListCalls(ctx, demoOrg, store.CallFilter{}, store.Page{Limit: 1})
	if err != nil || len(again) != 1 || again[0].Customer == nil || again[0].Customer.Phone != first {
		t.Fatalf("the third call: %+v, %v", again, err)
	}
	var features struct {
		PreviousCalls int `json:"previous_calls"`
	}
	if pr := again[0].Call.Prediction; pr == nil || json.Unmarshal(pr.Features, &features) != nil || features.PreviousCalls != 1 {
		t.Errorf("the returning caller's call was predicted without their first call: %+v", pr)
	}
	// Each line is dated to the minute the call started.
	want := []string{
		`: asked "how much does the basic plan cost"; resolved.`,
		`: asked "what are your opening hours"; resolved.`,
	}
	dated := regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}`)
	remembered := func(memory string) bool {
		lines := strings.Split(memory, "\n")
		if len(lines) != len(want) {
			return false
		}
		for i, l := range lines {
			if !dated.MatchString(l) || !strings.HasSuffix(l, want[i]) {
				return false
			}
		}
		return true
	}
	var memory string
	deadline := time.Now().Add(10 * time.Second)
	for !remembered(memory) && time.Now().Before(deadline) {
		cust, err := s.stores.backend.CustomerByPhone(ctx, demoOrg, first)
		if err != nil {
			t.Fatal(err)
		}
		memory = cust.MemorySummary
		time.Sleep(20 * time.Millisecond) // polling the workers' result, not a race
	}
	if !remembered(memory) {
		t.Errorf("the first caller's memory is %q, want %q", memory, want)
	}
	if err := s.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
