package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func testCalls(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	cust := a.customer(t, "+15551110001", "Caller")

	before := time.Now()
	c := must(s.CreateCall(ctx, store.Call{
		OrgID: a.org.ID, AgentID: a.agent.ID, CustomerID: cust.ID, CallControlID: "v3:ctl-1", CallSessionID: "sess-1",
		Direction: "incoming", From: "+15551110001", To: "+15550000001", Status: store.CallRinging,
	})).of(t)
	after := time.Now()
	if c.ID == "" {
		t.Fatal("CreateCall left the id empty")
	}
	between(t, "StartedAt", c.StartedAt, before, after)
	d := must(s.GetCall(ctx, a.org.ID, c.ID)).of(t)
	same(t, "GetCall's call", d.Call, c)
	if d.Agent == nil || d.Agent.ID != a.agent.ID {
		t.Errorf("GetCall's agent %+v", d.Agent)
	}
	same(t, "GetCall's customer", d.Customer, &cust)
	if len(d.Turns) != 0 {
		t.Errorf("a new call has turns: %+v", d.Turns)
	}
	same(t, "CallByControlID", must(s.CallByControlID(ctx, a.org.ID, "v3:ctl-1")).of(t), c)
	_, err := s.CallByControlID(ctx, a.org.ID, "v3:unknown")
	wantErr(t, "CallByControlID of an unknown id", err, store.ErrNotFound)
	_, err = s.CallByControlID(ctx, b.org.ID, "v3:ctl-1")
	wantErr(t, "CallByControlID in another organization", err, store.ErrNotFound)

	_, err = s.CreateCall(ctx, store.Call{ID: c.ID, OrgID: a.org.ID, AgentID: a.agent.ID, Status: store.CallRinging})
	wantErr(t, "CreateCall with a taken id", err, store.ErrConflict)
	other := b.customer(t, "+15551110002", "B's caller")
	_, err = s.CreateCall(ctx, store.Call{OrgID: a.org.ID, AgentID: a.agent.ID, CustomerID: other.ID, Status: store.CallRinging})
	wantErr(t, "CreateCall with another organization's customer", err, store.ErrNotFound)

	upd := c
	upd.Status = store.CallActive
	upd.AnsweredAt = ptr(c.StartedAt.Add(2 * time.Second))
	upd.Sentiment = &store.Sentiment{Average: 0.25, Min: -0.5, Last: 0.5, Trend: 0.1, Turns: 4}
	upd.EscalationReason = "asked for a human"
	same(t, "UpdateCall", must(s.UpdateCall(ctx, upd)).of(t), upd)
	same(t, "GetCall after UpdateCall", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Call, upd)
	upd.CustomerID = other.ID
	_, err = s.UpdateCall(ctx, upd)
	wantErr(t, "UpdateCall to another organization's customer", err, store.ErrNotFound)
	upd.CustomerID = ""
	got := must(s.UpdateCall(ctx, upd)).of(t)
	same(t, "UpdateCall to an unknown caller", got.CustomerID, store.CustomerID(""))
	if d := must(s.GetCall(ctx, a.org.ID, c.ID)).of(t); d.Customer != nil {
		t.Errorf("a call without a customer reads one: %+v", d.Customer)
	}
}

// wantOrder sorts calls as ListCalls must: StartedAt desc, then ID desc.
func wantOrder(calls []store.Call) []store.CallID {
	sorted := append([]store.Call(nil), calls...)
	slices.SortFunc(sorted, func(x, y store.Call) int {
		if c := y.StartedAt.Compare(x.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	ids := make([]store.CallID, len(sorted))
	for i, c := range sorted {
		ids[i] = c.ID
	}
	return ids
}

func testListCallsPages(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	// 120 calls: 40 distinct start times, three calls at each, so that the
	// id decides between equal times, inserted in no particular order.
	calls := make([]store.Call, 0, 120)
	for i := range 120 {
		j := (i * 37) % 120
		calls = append(calls, a.call(t, store.Call{StartedAt: at(time.Duration(j/3) * time.Minute)}))
	}
	b.call(t, store.Call{StartedAt: at(time.Hour)}) // another organization's, newest of all

	list := func(p store.Page) ([]store.CallListItem, string, error) {
		return s.ListCalls(ctx, a.org.ID, store.CallFilter{}, p)
	}
	all, pages := pageAll(t, 50, list)
	same(t, "pages of 50", pages, 3)
	same(t, "pages of 50, concatenated", callIDs(all), wantOrder(calls))

	first, next, err := list(store.Page{})
	ok(t, err)
	same(t, "the default page size", len(first), 50)
	same(t, "the default page", callIDs(first), wantOrder(calls)[:50])

	// Stable under inserts: a new call (newer than every listed one) and an
	// old one arrive between two pages.
	newest := a.call(t, store.Call{StartedAt: at(24 * time.Hour)})
	oldest := a.call(t, store.Call{StartedAt: at(-24 * time.Hour)})
	second, _, err := list(store.Page{Limit: 50, Cursor: next})
	ok(t, err)
	same(t, "the second page after inserts", callIDs(second), wantOrder(calls)[50:100])
	all, _ = pageAll(t, 200, list)
	same(t, "one page of 200", callIDs(all), wantOrder(append(calls, newest, oldest)))
	t.Logf("order: %.200s...", describe(all))
}

func testCallFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	agent2 := must(s.CreateAgent(ctx, store.Agent{OrgID: a.org.ID, Name: "A second"})).of(t)
	cust1 := a.customer(t, "+15552220001", "One")
	cust2 := a.customer(t, "+15552220002", "Two")

	statuses := []store.CallStatus{store.CallRinging, store.CallActive, store.CallEnded}
	outcomes := []store.Outcome{store.OutcomeNone, store.OutcomeResolved, store.OutcomeEscalated, store.OutcomeAbandoned, store.OutcomeFailed}
	calls := make([]store.Call, 0, 60)
	for i := range 60 {
		c := store.Call{StartedAt: at(time.Duration(i) * time.Minute), Status: statuses[i%3]}
		if c.Status == store.CallEnded {
			c.Outcome = outcomes[i%5]
		}
		if i%4 == 0 {
			c.AgentID = agent2.ID
		}
		switch i % 5 {
		case 1:
			c.CustomerID = cust1.ID
		case 2, 3:
			c.CustomerID = cust2.ID
		}
		calls = append(calls, a.call(t, c))
	}
	b.call(t, store.Call{StartedAt: at(10 * time.Minute), Status: store.CallEnded, Outcome: store.OutcomeResolved})

	check := func(name string, f store.CallFilter, keep func(c store.Call) bool) {
		t.Helper()
		var want []store.Call
		for _, c := range calls {
			if keep(c) {
				want = append(want, c)
			}
		}
		if len(want) == 0 {
			t.Fatalf("%s: the test's filter keeps no call", name)
		}
		got, _ := pageAll(t, 7, func(p store.Page) ([]store.CallListItem, string, error) {
			return s.ListCalls(ctx, a.org.ID, f, p)
		})
		same(t, name, callIDs(got), wantOrder(want))
	}
	check("status", store.CallFilter{Status: store.CallActive}, func(c store.Call) bool { return c.Status == store.CallActive })
	check("outcome", store.CallFilter{Outcome: store.OutcomeEscalated}, func(c store.Call) bool { return c.Outcome == store.OutcomeEscalated })
	check("agent", store.CallFilter{AgentID: agent2.ID}, func(c store.Call) bool { return c.AgentID == agent2.ID })
	check("customer", store.CallFilter{CustomerID: cust2.ID}, func(c store.Call) bool { return c.CustomerID == cust2.ID })
	from, to := at(10*time.Minute), at(25*time.Minute)
	check("from (inclusive)", store.CallFilter{From: from}, func(c store.Call) bool { return !c.StartedAt.Before(from) })
	check("to (exclusive)", store.CallFilter{To: to}, func(c store.Call) bool { return c.StartedAt.Before(to) })
	check("from and to", store.CallFilter{From: from, To: to}, func(c store.Call) bool {
		return !c.StartedAt.Before(from) && c.StartedAt.Before(to)
	})
	check("everything at once", store.CallFilter{Status: store.CallEnded, AgentID: a.agent.ID, CustomerID: cust2.ID, From: at(0), To: at(time.Hour)},
		func(c store.Call) bool {
			return c.Status == store.CallEnded && c.AgentID == a.agent.ID && c.CustomerID == cust2.ID
		})
	got, next, err := s.ListCalls(ctx, a.org.ID, store.CallFilter{Outcome: store.OutcomeFailed, CustomerID: cust1.ID}, store.Page{})
	ok(t, err)
	if len(got) != 0 || next != "" {
		t.Errorf("a filter that matches nothing: %d calls, cursor %q", len(got), next)
	}
}

func testCallJoins(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	gone := must(s.CreateAgent(ctx, store.Agent{OrgID: a.org.ID, Name: "Soon gone"})).of(t)
	cust := a.customer(t, "+15553330001", "Known")
	want := make([]store.CallListItem, 0, 30)
	for i := range 30 {
		c := store.Call{StartedAt: at(time.Duration(-i) * time.Second)}
		it := store.CallListItem{Agent: &a.agent}
		if i%3 == 0 {
			c.AgentID, it.Agent = gone.ID, &gone
		}
		if i%2 == 0 {
			c.CustomerID, it.Customer = cust.ID, &cust
		}
		it.Call = a.call(t, c)
		want = append(want, it)
	}
	check := func(what string) {
		t.Helper()
		for _, limit := range []int{1, 10, 200} {
			got, _ := pageAll(t, limit, func(p store.Page) ([]store.CallListItem, string, error) {
				return s.ListCalls(ctx, a.org.ID, store.CallFilter{}, p)
			})
			if len(got) != len(want) {
				t.Fatalf("%s: %d calls, want %d", what, len(got), len(want))
			}
			for i := range got {
				g, w := got[i], want[i]
				same(t, fmt.Sprintf("%s, pages of %d, call %d", what, limit, i), g.Call, w.Call)
				if g.Agent != nil {
					ga := withoutNumbers(*g.Agent)
					g.Agent = &ga
				}
				same(t, fmt.Sprintf("%s, pages of %d, call %d's agent", what, limit, i), g.Agent, w.Agent)
				same(t, fmt.Sprintf("%s, pages of %d, call %d's customer", what, limit, i), g.Customer, w.Customer)
			}
		}
	}
	check("with every agent")

	ok(t, s.DeleteAgent(ctx, a.org.ID, gone.ID))
	for i := range want {
		if want[i].Call.AgentID == gone.ID {
			want[i].Agent = nil
		}
	}
	check("after DeleteAgent")
	d := must(s.GetCall(ctx, a.org.ID, want[0].Call.ID)).of(t)
	same(t, "GetCall keeps the deleted agent's id", d.Call.AgentID, gone.ID)
	if d.Agent != nil {
		t.Errorf("GetCall reads a deleted agent: %+v", d.Agent)
	}
}
