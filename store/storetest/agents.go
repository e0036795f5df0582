package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func testAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	full := store.Agent{
		OrgID:        a.org.ID,
		Name:         "Support",
		Greeting:     "Hello, support here.",
		SystemPrompt: "Be brief.",
		Voice:        "en-us",
		Language:     "en",
		Fallback:     "Pardon?",
		Intents: []store.Intent{
			{Name: "hours", Keywords: []string{"hours", "open"}, Reply: "Nine to five."},
			{Name: "human", Keywords: []string{"human"}, Reply: "Connecting you.", Action: "transfer"},
		},
		TransferNumber: "+15550199",
		Settings:       store.AgentSettings{Model: "llama", Temperature: 0.4, MaxTokens: 200, STT: "deepgram", TTS: "aura"},
		Tools:          []string{"transfer_to_human", "end_call"},
		Escalation: store.EscalationRules{
			Keywords: []string{"lawyer"}, NegativeTurns: 3, SentimentBelow: -0.5, RepeatedFallbacks: 2,
			TransferOnDTMFZero: true, MaxDurationSeconds: 600, TransferToHumanTools: true,
		},
	}
	before := time.Now()
	got := must(s.CreateAgent(ctx, full)).of(t)
	after := time.Now()
	if got.ID == "" {
		t.Fatal("CreateAgent left the id empty")
	}
	between(t, "CreatedAt", got.CreatedAt, before, after)
	between(t, "UpdatedAt", got.UpdatedAt, before, after)
	want := full
	want.ID, want.CreatedAt, want.UpdatedAt = got.ID, got.CreatedAt, got.UpdatedAt
	same(t, "CreateAgent", withoutNumbers(got), want)
	same(t, "GetAgent", withoutNumbers(must(s.GetAgent(ctx, a.org.ID, got.ID)).of(t)), want)

	same(t, "ListAgents of A", agentIDs(must(s.ListAgents(ctx, a.org.ID)).of(t)), agentIDs([]store.Agent{a.agent, got}))
	same(t, "ListAgents of B", agentIDs(must(s.ListAgents(ctx, b.org.ID)).of(t)), []store.AgentID{b.agent.ID})

	_, err := s.CreateAgent(ctx, store.Agent{ID: got.ID, OrgID: b.org.ID, Name: "Copy"})
	wantErr(t, "CreateAgent with a taken id", err, store.ErrConflict)
	_, err = s.CreateAgent(ctx, store.Agent{OrgID: "no-such-org", Name: "Ghost"})
	wantErr(t, "CreateAgent in an unknown organization", err, store.ErrNotFound)

	upd := want
	upd.Name, upd.Greeting, upd.Intents, upd.Tools = "Sales", "Sales here.", nil, []string{"end_call"}
	upd.Settings.Temperature = 0.9
	upd.Escalation = store.EscalationRules{Keywords: []string{"cancel"}}
	before = time.Now()
	got = must(s.UpdateAgent(ctx, upd)).of(t)
	after = time.Now()
	between(t, "UpdatedAt after UpdateAgent", got.UpdatedAt, before, after)
	upd.UpdatedAt = got.UpdatedAt
	same(t, "UpdateAgent", withoutNumbers(got), upd)
	same(t, "GetAgent after UpdateAgent", withoutNumbers(must(s.GetAgent(ctx, a.org.ID, got.ID)).of(t)), upd)

	ok(t, s.DeleteAgent(ctx, a.org.ID, got.ID))
	_, err = s.GetAgent(ctx, a.org.ID, got.ID)
	wantErr(t, "GetAgent after DeleteAgent", err, store.ErrNotFound)
	wantErr(t, "DeleteAgent twice", s.DeleteAgent(ctx, a.org.ID, got.ID), store.ErrNotFound)
	_, err = s.UpdateAgent(ctx, upd)
	wantErr(t, "UpdateAgent of a deleted agent", err, store.ErrNotFound)
	same(t, "ListAgents after DeleteAgent", agentIDs(must(s.ListAgents(ctx, a.org.ID)).of(t)), []store.AgentID{a.agent.ID})
}

func testNumbers(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	a2 := must(s.CreateAgent(ctx, store.Agent{OrgID: a.org.ID, Name: "A second"})).of(t)
	a.allot(t, "+15550001", "+15550002", "+15550004")
	b.allot(t, "+15550003")

	ok(t, s.AssignNumber(ctx, store.Number{OrgID: a.org.ID, E164: "+15550001", AgentID: a.agent.ID}))
	ok(t, s.AssignNumber(ctx, store.Number{OrgID: a.org.ID, E164: "+15550002", AgentID: a2.ID}))
	ok(t, s.AssignNumber(ctx, store.Number{OrgID: b.org.ID, E164: "+15550003", AgentID: b.agent.ID}))

	for number, want := range map[store.PhoneNumber]store.Agent{"+15550001": a.agent, "+15550002": a2, "+15550003": b.agent} {
		same(t, "AgentForNumber "+string(number), withoutNumbers(must(s.AgentForNumber(ctx, number)).of(t)), withoutNumbers(want))
	}
	_, err := s.AgentForNumber(ctx, "+19999999")
	wantErr(t, "AgentForNumber of an unassigned number", err, store.ErrNotFound)

	same(t, "ListNumbers of A", sortedNumbers(must(s.ListNumbers(ctx, a.org.ID)).of(t)), []store.Number{
		{OrgID: a.org.ID, E164: "+15550001", AgentID: a.agent.ID},
		{OrgID: a.org.ID, E164: "+15550002", AgentID: a2.ID},
	})
	same(t, "ListNumbers of B", must(s.ListNumbers(ctx, b.org.ID)).of(t), []store.Number{{OrgID: b.org.ID, E164: "+15550003", AgentID: b.agent.ID}})

	wantErr(t, "a number of another organization", s.AssignNumber(ctx, store.Number{OrgID: b.org.ID, E164: "+15550001", AgentID: b.agent.ID}), store.ErrNotFound)
	same(t, "the number still routes to its owner", must(s.AgentForNumber(ctx, "+15550001")).of(t).ID, a.agent.ID)
	wantErr(t, "a number for another organization's agent", s.AssignNumber(ctx, store.Number{OrgID: a.org.ID, E164: "+15550004", AgentID: b.agent.ID}), store.ErrNotFound)
	wantErr(t, "a number for an unknown agent", s.AssignNumber(ctx, store.Number{OrgID: a.org.ID, E164: "+15550004", AgentID: "no-such-agent"}), store.ErrNotFound)

	ok(t, s.AssignNumber(ctx, store.Number{OrgID: a.org.ID, E164: "+15550001", AgentID: a2.ID}))
	same(t, "a number moved to another agent of its organization", must(s.AgentForNumber(ctx, "+15550001")).of(t).ID, a2.ID)

	wantErr(t, "RemoveNumber from another organization", s.RemoveNumber(ctx, b.org.ID, "+15550001"), store.ErrNotFound)
	ok(t, s.RemoveNumber(ctx, a.org.ID, "+15550001"))
	_, err = s.AgentForNumber(ctx, "+15550001")
	wantErr(t, "AgentForNumber after RemoveNumber", err, store.ErrNotFound)
	wantErr(t, "RemoveNumber twice", s.RemoveNumber(ctx, a.org.ID, "+15550001"), store.ErrNotFound)

	ok(t, s.DeleteAgent(ctx, a.org.ID, a2.ID))
	_, err = s.AgentForNumber(ctx, "+15550002")
	wantErr(t, "AgentForNumber after DeleteAgent", err, store.ErrNotFound)
	same(t, "ListNumbers after DeleteAgent", len(must(s.ListNumbers(ctx, a.org.ID)).of(t)), 0)
	ok(t, s.ReleaseNumber(ctx, a.org.ID, "+15550002"))
	b.allot(t, "+15550002")
	ok(t, s.AssignNumber(ctx, store.Number{OrgID: b.org.ID, E164: "+15550002", AgentID: b.agent.ID}))
	same(t, "a freed number can go to another organization", must(s.AgentForNumber(ctx, "+15550002")).of(t).ID, b.agent.ID)
}

func sortedNumbers(ns []store.Number) []store.Number {
	out := slices.Clone(ns)
	slices.SortFunc(out, func(x, y store.Number) int { return cmp.Compare(x.E164, y.E164) })
	return out
}
