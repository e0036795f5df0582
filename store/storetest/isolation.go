package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// testIsolation gives organization A one row of every kind, then reaches
// for each with organization B's id: every getter, updater and deleter says
// ErrNotFound, every list of B is without them (its prediction models,
// labelled calls and statistics included), and A's rows are unchanged.
func testIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	B := b.org.ID
	u := must(s.CreateUser(ctx, store.User{OrgID: a.org.ID, Email: "a@a.example", Role: store.RoleAdmin})).of(t)
	a.allot(t, "+15550009999")
	ok(t, s.AssignNumber(ctx, store.Number{OrgID: a.org.ID, E164: "+15550009999", AgentID: a.agent.ID}))
	cust := a.customer(t, "+15556660001", "Secret Customer")
	call := a.call(t, store.Call{CustomerID: cust.ID, CallControlID: "ctl-a", StartedAt: base})
	ok(t, s.AppendTurns(ctx, a.org.ID, call.ID, []store.Turn{turn(1, store.SpeakerCaller, "secret words", at(time.Second))}))
	pat := must(s.CreatePattern(ctx, store.Pattern{OrgID: a.org.ID, Trigger: "secret", Embedding: unit(1, 0, 1)})).of(t)
	tok := must(s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: a.org.ID, UserID: u.ID, Hash: hash("a"), ExpiresAt: time.Now().Add(time.Hour)})).of(t)
	model := must(s.SavePredictionModel(ctx, store.PredictionModel{OrgID: a.org.ID, TrainedAt: base, Examples: 10,
		Model: json.RawMessage(`{"secret":true}`)})).of(t)
	labelled := a.call(t, store.Call{StartedAt: base})
	labelled = must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: labelled.ID, EndedAt: at(time.Minute),
		Outcome: store.OutcomeResolved, Summary: "secret summary",
		Prediction: &store.CallPrediction{Resolution: 0.9, Features: json.RawMessage(`{"secret":1}`)}})).of(t)

	notFound := func(what string, err error) {
		t.Helper()
		wantErr(t, what+" with another organization's id", err, store.ErrNotFound)
	}
	_, err := s.GetUser(ctx, B, u.ID)
	notFound("GetUser", err)
	uB := u
	uB.OrgID, uB.Role = B, store.RoleViewer
	_, err = s.UpdateUser(ctx, uB)
	notFound("UpdateUser", err)

	_, err = s.GetAgent(ctx, B, a.agent.ID)
	notFound("GetAgent", err)
	agB := a.agent
	agB.OrgID, agB.Name = B, "hijacked"
	_, err = s.UpdateAgent(ctx, agB)
	notFound("UpdateAgent", err)
	notFound("DeleteAgent", s.DeleteAgent(ctx, B, a.agent.ID))
	notFound("RemoveNumber", s.RemoveNumber(ctx, B, "+15550009999"))
	notFound("ReleaseNumber", s.ReleaseNumber(ctx, B, "+15550009999"))
	notFound("AssignNumber", s.AssignNumber(ctx, store.Number{OrgID: B, E164: "+15550009999", AgentID: b.agent.ID}))

	_, err = s.GetCustomer(ctx, B, cust.ID)
	notFound("GetCustomer", err)
	_, err = s.CustomerByPhone(ctx, B, cust.Phone)
	notFound("CustomerByPhone", err)
	cuB := cust
	cuB.OrgID, cuB.Name = B, "hijacked"
	_, err = s.UpdateCustomer(ctx, cuB)
	notFound("UpdateCustomer", err)
	_, err = s.SetCustomerMemory(ctx, B, cust.ID, "hijacked")
	notFound("SetCustomerMemory", err)
	_, err = s.LatestPredictionModel(ctx, B)
	notFound("LatestPredictionModel", err)

	_, err = s.GetCall(ctx, B, call.ID)
	notFound("GetCall", err)
	_, err = s.CallByControlID(ctx, B, "ctl-a")
	notFound("CallByControlID", err)
	caB := call
	caB.OrgID, caB.AgentID, caB.CustomerID, caB.Status = B, b.agent.ID, "", store.CallEnded
	_, err = s.UpdateCall(ctx, caB)
	notFound("UpdateCall", err)
	notFound("AppendTurns", s.AppendTurns(ctx, B, call.ID, []store.Turn{turn(2, store.SpeakerAgent, "x", at(2*time.Second))}))
	_, err = s.FinishCall(ctx, store.CallEnd{OrgID: B, CallID: call.ID, Outcome: store.OutcomeFailed})
	notFound("FinishCall", err)

	_, err = s.GetPattern(ctx, B, pat.ID)
	notFound("GetPattern", err)
	notFound("DeletePattern", s.DeletePattern(ctx, B, pat.ID))
	notFound("RecordPatternUse", s.RecordPatternUse(ctx, B, pat.ID, true))
	_, err = s.MergePattern(ctx, B, pat.ID, store.PatternMerge{Uses: 1, Example: "hijacked", CallID: "x"})
	notFound("MergePattern", err)
	_, err = s.SetPatternStatus(ctx, B, pat.ID, store.PatternDisabled)
	notFound("SetPatternStatus", err)
	notFound("RevokeTokenFamily", s.RevokeTokenFamily(ctx, B, tok.Family))
	notFound("RevokeUserTokens", s.RevokeUserTokens(ctx, B, u.ID))

	// B's lists hold none of A's rows.
	if us := must(s.ListUsers(ctx, B)).of(t); len(us) != 0 {
		t.Errorf("ListUsers of B: %+v", us)
	}
	same(t, "ListAgents of B", agentIDs(must(s.ListAgents(ctx, B)).of(t)), []store.AgentID{b.agent.ID})
	if ns := must(s.ListNumbers(ctx, B)).of(t); len(ns) != 0 {
		t.Errorf("ListNumbers of B: %+v", ns)
	}
	for _, q := range []string{"", "Secret", "555666"} {
		if cs, _, err := s.SearchCustomers(ctx, B, q, store.Page{}); err != nil || len(cs) != 0 {
			t.Errorf("SearchCustomers(B, %q): %+v, %v", q, cs, err)
		}
	}
	for _, f := range []store.CallFilter{{}, {CustomerID: cust.ID}, {AgentID: a.agent.ID}} {
		if cs, _, err := s.ListCalls(ctx, B, f, store.Page{}); err != nil || len(cs) != 0 {
			t.Errorf("ListCalls(B, %+v): %d calls, %v", f, len(cs), err)
		}
	}
	if hs, _, err := s.SearchTranscripts(ctx, B, "secret", store.Page{}); err != nil || len(hs) != 0 {
		t.Errorf("SearchTranscripts of B: %+v, %v", hs, err)
	}
	if ps, _, err := s.ListPatterns(ctx, B, store.PatternFilter{}, store.Page{}); err != nil || len(ps) != 0 {
		t.Errorf("ListPatterns of B: %d, %v", len(ps), err)
	}
	if ps, err := s.SimilarPatterns(ctx, B, store.PatternFilter{}, unit(1, 0, 1), 10); err != nil || len(ps) != 0 {
		t.Errorf("SimilarPatterns of B: %d, %v", len(ps), err)
	}
	if ms, err := s.ListPredictionModels(ctx, B); err != nil || len(ms) != 0 {
		t.Errorf("ListPredictionModels of B: %+v, %v", ms, err)
	}
	if ls, err := s.LabelledCalls(ctx, B, store.LabelledQuery{}); err != nil || len(ls) != 0 {
		t.Errorf("LabelledCalls of B: %+v, %v", ls, err)
	}
	if st, err := s.CallStats(ctx, B, store.StatsQuery{From: base, To: at(time.Hour), Bucket: store.BucketHour}); err != nil || len(st) != 0 {
		t.Errorf("CallStats of B: %+v, %v", st, err)
	}

	// And A's rows are as they were.
	same(t, "A's user", must(s.GetUser(ctx, a.org.ID, u.ID)).of(t), u)
	same(t, "A's agent", withoutNumbers(must(s.GetAgent(ctx, a.org.ID, a.agent.ID)).of(t)), withoutNumbers(a.agent))
	same(t, "A's number", must(s.AgentForNumber(ctx, "+15550009999")).of(t).ID, a.agent.ID)
	same(t, "A's customer", must(s.GetCustomer(ctx, a.org.ID, cust.ID)).of(t), cust)
	d := must(s.GetCall(ctx, a.org.ID, call.ID)).of(t)
	same(t, "A's call", d.Call, call)
	same(t, "A's transcript", len(d.Turns), 1)
	same(t, "A's pattern", must(s.GetPattern(ctx, a.org.ID, pat.ID)).of(t), pat)
	same(t, "A's token", must(s.RefreshTokenByHash(ctx, hash("a"))).of(t), tok)
	same(t, "A's prediction model", must(s.LatestPredictionModel(ctx, a.org.ID)).of(t), model)
	same(t, "A's labelled call", must(s.GetCall(ctx, a.org.ID, labelled.ID)).of(t).Call, labelled)
	if ls := must(s.LabelledCalls(ctx, a.org.ID, store.LabelledQuery{})).of(t); len(ls) != 1 || ls[0].CallID != labelled.ID {
		t.Errorf("A's labelled calls: %+v", ls)
	}
	// B's models are numbered from 1 whatever A has.
	same(t, "B's first model", must(s.SavePredictionModel(ctx, store.PredictionModel{OrgID: B, TrainedAt: base,
		Model: json.RawMessage(`{}`)})).of(t).Version, 1)
	same(t, "A's latest model after B's", must(s.LatestPredictionModel(ctx, a.org.ID)).of(t).Version, model.Version)
}
