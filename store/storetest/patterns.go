package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func patternIDs(ps []store.Pattern) []store.PatternID {
	ids := make([]store.PatternID, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

func testPatterns(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	agent2 := must(s.CreateAgent(ctx, store.Agent{OrgID: a.org.ID, Name: "A second"})).of(t)

	before := time.Now()
	p := must(s.CreatePattern(ctx, store.Pattern{
		OrgID: a.org.ID, AgentID: a.agent.ID, Kind: "faq", Trigger: "what are your hours",
		Response: "Nine to five.", Embedding: unit(0.6, 0, 1),
	})).of(t)
	after := time.Now()
	if p.ID == "" {
		t.Fatal("CreatePattern left the id empty")
	}
	between(t, "CreatedAt", p.CreatedAt, before, after)
	between(t, "UpdatedAt", p.UpdatedAt, before, after)
	same(t, "GetPattern", must(s.GetPattern(ctx, a.org.ID, p.ID)).of(t), p)
	same(t, "the embedding, exactly", must(s.GetPattern(ctx, a.org.ID, p.ID)).of(t).Embedding, unit(0.6, 0, 1))
	_, err := s.CreatePattern(ctx, store.Pattern{ID: p.ID, OrgID: b.org.ID, Trigger: "copy", Embedding: unit(1, 0, 1)})
	wantErr(t, "CreatePattern with a taken id", err, store.ErrConflict)

	// 30 more, created a minute apart (some at equal times), across two
	// agents, org-wide, and two kinds.
	all := make([]store.Pattern, 1, 31)
	all[0] = p
	for i := range 30 {
		q := store.Pattern{
			ID: store.PatternID(fmt.Sprintf("p%02d", i)), OrgID: a.org.ID, Kind: []string{"faq", "objection"}[i%2],
			Trigger: fmt.Sprintf("trigger %d", i), Embedding: unit(0.5, i%10, 10+i),
			CreatedAt: at(time.Duration(i/2) * time.Minute),
		}
		switch i % 3 {
		case 0:
			q.AgentID = a.agent.ID
		case 1:
			q.AgentID = agent2.ID
		}
		all = append(all, must(s.CreatePattern(ctx, q)).of(t))
	}
	must(s.CreatePattern(ctx, store.Pattern{OrgID: b.org.ID, AgentID: b.agent.ID, Kind: "faq", Trigger: "B's", Embedding: unit(1, 0, 1)})).of(t)

	// Newest first: p (created now) then p29/p28 (equal times: id desc)...
	check := func(name string, f store.PatternFilter, keep func(store.Pattern) bool) {
		t.Helper()
		var want []store.PatternID
		want = append(want, filterIDs(all[:1], keep)...)
		for i := 29; i >= 0; i-- {
			want = append(want, filterIDs(all[1+i:2+i], keep)...)
		}
		got, _ := pageAll(t, 4, func(pg store.Page) ([]store.Pattern, string, error) {
			return s.ListPatterns(ctx, a.org.ID, f, pg)
		})
		same(t, name, patternIDs(got), want)
	}
	check("every pattern, newest first", store.PatternFilter{}, func(store.Pattern) bool { return true })
	check("an agent's and the org-wide ones", store.PatternFilter{AgentID: agent2.ID}, func(q store.Pattern) bool {
		return q.AgentID == agent2.ID || q.AgentID == ""
	})
	check("a kind", store.PatternFilter{Kind: "objection"}, func(q store.Pattern) bool { return q.Kind == "objection" })
	check("an agent and a kind", store.PatternFilter{AgentID: a.agent.ID, Kind: "faq"}, func(q store.Pattern) bool {
		return (q.AgentID == a.agent.ID || q.AgentID == "") && q.Kind == "faq"
	})

	ok(t, s.RecordPatternUse(ctx, a.org.ID, p.ID, true))
	ok(t, s.RecordPatternUse(ctx, a.org.ID, p.ID, false))
	ok(t, s.RecordPatternUse(ctx, a.org.ID, p.ID, true))
	got := must(s.GetPattern(ctx, a.org.ID, p.ID)).of(t)
	if got.Uses != 3 || got.Successes != 2 {
		t.Errorf("after 3 uses, 2 successful: uses %d, successes %d", got.Uses, got.Successes)
	}
	wantErr(t, "RecordPatternUse of an unknown pattern", s.RecordPatternUse(ctx, a.org.ID, "nope", true), store.ErrNotFound)

	ok(t, s.DeletePattern(ctx, a.org.ID, p.ID))
	_, err = s.GetPattern(ctx, a.org.ID, p.ID)
	wantErr(t, "GetPattern after DeletePattern", err, store.ErrNotFound)
	wantErr(t, "DeletePattern twice", s.DeletePattern(ctx, a.org.ID, p.ID), store.ErrNotFound)
	sim := must(s.SimilarPatterns(ctx, a.org.ID, store.PatternFilter{}, unit(0.6, 0, 1), 3)).of(t)
	for _, sp := range sim {
		if sp.Pattern.ID == p.ID {
			t.Error("a deleted pattern is still similar")
		}
	}
}

func filterIDs(ps []store.Pattern, keep func(store.Pattern) bool) []store.PatternID {
	var ids []store.PatternID
	for _, p := range ps {
		if keep(p) {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

func testSimilarPatterns(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	agent2 := must(s.CreateAgent(ctx, store.Agent{OrgID: a.org.ID, Name: "A second"})).of(t)
	// The query is e0; each pattern's similarity to it is chosen, its other
	// component on its own axis so patterns differ.
	query := unit(1, 0, 1)
	type spec struct {
		id    string
		sim   float64
		agent store.AgentID
		kind  string
	}
	specs := []spec{
		{"s95", 0.95, a.agent.ID, "faq"},
		{"s90", 0.90, "", "faq"},
		{"s80", 0.80, agent2.ID, "faq"},
		{"s70", 0.70, a.agent.ID, "objection"},
		{"s50", 0.50, agent2.ID, "objection"},
		{"s30", 0.30, "", "objection"},
		{"s00", 0.00, a.agent.ID, "faq"},
		{"n40", -0.40, "", "faq"},
		{"n90", -0.90, a.agent.ID, "faq"},
	}
	for i, sp := range specs {
		must(s.CreatePattern(ctx, store.Pattern{ID: store.PatternID(sp.id), OrgID: a.org.ID, AgentID: sp.agent, Kind: sp.kind,
			Trigger: sp.id, Embedding: unit(sp.sim, 0, 2+i)})).of(t)
	}
	// Another organization's patterns are closer than any: never returned.
	for i := range 5 {
		must(s.CreatePattern(ctx, store.Pattern{OrgID: b.org.ID, Trigger: "B", Embedding: unit(0.999, 0, 100+i)})).of(t)
	}

	check := func(name string, f store.PatternFilter, k int, want ...string) {
		t.Helper()
		got, err := s.SimilarPatterns(ctx, a.org.ID, f, query, k)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids := make([]string, 0, len(got))
		for _, g := range got {
			ids = append(ids, string(g.Pattern.ID))
		}
		same(t, name, strings.Join(ids, " "), strings.Join(want, " "))
		for _, g := range got {
			var wantSim float64
			for _, sp := range specs {
				if sp.id == string(g.Pattern.ID) {
					wantSim = sp.sim
				}
			}
			if !near(g.Similarity, wantSim) {
				t.Errorf("%s: %s similarity %.5f, want %.2f", name, g.Pattern.ID, g.Similarity, wantSim)
			}
			if len(g.Pattern.Embedding) != store.EmbeddingDims || g.Pattern.OrgID != a.org.ID {
				t.Errorf("%s: %s comes back incomplete: org %q, %d dimensions", name, g.Pattern.ID, g.Pattern.OrgID, len(g.Pattern.Embedding))
			}
		}
	}
	check("top 3", store.PatternFilter{}, 3, "s95", "s90", "s80")
	check("k larger than the patterns", store.PatternFilter{}, 100, "s95", "s90", "s80", "s70", "s50", "s30", "s00", "n40", "n90")
	check("an agent's and the org-wide ones", store.PatternFilter{AgentID: agent2.ID}, 4, "s90", "s80", "s50", "s30")
	check("a kind", store.PatternFilter{Kind: "objection"}, 5, "s70", "s50", "s30")
	check("an agent and a kind", store.PatternFilter{AgentID: a.agent.ID, Kind: "faq"}, 10, "s95", "s90", "s00", "n40", "n90")
	check("a filter nothing matches", store.PatternFilter{AgentID: "no-such-agent", Kind: "none"}, 5)
	got, err := s.SimilarPatterns(ctx, b.org.ID, store.PatternFilter{}, query, 10)
	ok(t, err)
	if len(got) != 5 {
		t.Errorf("B sees %d of its 5 patterns", len(got))
	}
}
