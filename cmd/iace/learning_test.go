package main

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/store"
)

// TestFinishedCallsTeachPatterns: two callers ask the demo agent the same
// question and are answered; after their calls, off the calls' path, the
// organization has one learned pattern for it, used twice, naming both
// calls. A call that teaches nothing new (a goodbye) adds nothing.
func TestFinishedCallsTeachPatterns(t *testing.T) {
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", t.TempDir()},
		env(nil), io.Discard)
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
	var pats []store.Pattern
	for i := range 2 {
		rep, err := sim.Run(ctx, sim.Config{URL: url, Calls: 1, Seed: uint64(i + 1),
			Script: []string{"what are your opening hours", "goodbye"}, CallTimeout: 60 * time.Second})
		if err != nil || rep.CallsCompleted != 1 {
			t.Fatalf("call %d: %v, %d completed", i+1, err, rep.CallsCompleted)
		}
		// The second call's reply repeats the pattern the first taught: its
		// use is counted once, whether by the reply or by the merge.
		pats = learned(func(ps []store.Pattern) bool { return len(ps) == 1 && len(ps[0].SourceCallIDs) == i+1 })
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
	for _, c := range calls {
		if !slices.Contains(p.SourceCallIDs, c.Call.ID) {
			t.Errorf("the pattern does not name call %s", c.Call.ID)
		}
	}
	if err := s.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
