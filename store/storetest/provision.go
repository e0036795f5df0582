package storetest

import (
	"testing"

	"github.com/iace/iace/store"
)

// allot allots numbers to the fixture's organization, as an operator does
// before the organization may route them.
func (f fixture) allot(t *testing.T, numbers ...store.PhoneNumber) {
	t.Helper()
	for _, n := range numbers {
		ok(t, f.s.AllotNumber(t.Context(), f.org.ID, n))
	}
}

func testTransferPolicy(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := must(s.CreateOrg(ctx, store.Organization{Name: "Acme",
		TransferPolicy: store.TransferPolicy{Allow: []string{"+4420", " +1"}}})).of(t)
	same(t, "CreateOrg keeps the policy it was given, normalised", o.TransferPolicy.Allow, []string{"+1", "+4420"})
	same(t, "GetOrg", must(s.GetOrg(ctx, o.ID)).of(t), o)

	plain := must(s.CreateOrg(ctx, store.Organization{Name: "Plain"})).of(t)
	same(t, "a new organization has no list (the default applies)", must(s.GetOrg(ctx, plain.ID)).of(t).TransferPolicy.Allow, []string(nil))

	got := must(s.SetTransferPolicy(ctx, o.ID, store.TransferPolicy{Allow: []string{"+353", "+44"}})).of(t)
	o.TransferPolicy.Allow = []string{"+353", "+44"}
	same(t, "SetTransferPolicy returns the organization", got, o)
	same(t, "GetOrg after SetTransferPolicy", must(s.GetOrg(ctx, o.ID)).of(t), o)
	same(t, "another organization's policy is unchanged", must(s.GetOrg(ctx, plain.ID)).of(t), plain)

	_, err := s.SetTransferPolicy(ctx, o.ID, store.TransferPolicy{Allow: []string{"+1900"}})
	wantErr(t, "a premium-rate prefix", err, store.ErrInvalid)
	_, err = s.SetTransferPolicy(ctx, o.ID, store.TransferPolicy{Allow: []string{"44"}})
	wantErr(t, "a prefix without its plus", err, store.ErrInvalid)
	_, err = s.CreateOrg(ctx, store.Organization{Name: "Bad", TransferPolicy: store.TransferPolicy{Allow: []string{"+449"}}})
	wantErr(t, "CreateOrg with a premium-rate prefix", err, store.ErrInvalid)
	same(t, "a refused policy changes nothing", must(s.GetOrg(ctx, o.ID)).of(t), o)
	_, err = s.SetTransferPolicy(ctx, "no-such-org", store.TransferPolicy{Allow: []string{"+44"}})
	wantErr(t, "SetTransferPolicy of an unknown organization", err, store.ErrNotFound)

	got = must(s.SetTransferPolicy(ctx, o.ID, store.TransferPolicy{})).of(t)
	same(t, "an empty list goes back to the default", got.TransferPolicy.Allow, []string(nil))
	same(t, "GetOrg after clearing", must(s.GetOrg(ctx, o.ID)).of(t).TransferPolicy.Allow, []string(nil))
}

func testAllotments(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	const (
		routed   store.PhoneNumber = "+15550100001" // allotted to A and routed
		spare    store.PhoneNumber = "+15550100002" // allotted to A, not routed
		nobodys  store.PhoneNumber = "+15550100003" // allotted to no one
		bsNumber store.PhoneNumber = "+15550100004" // allotted to B
	)
	a.allot(t, routed, spare)
	a.allot(t, routed) // again: nothing changes
	b.allot(t, bsNumber)
	ok(t, s.AssignNumber(ctx, store.Number{OrgID: a.org.ID, E164: routed, AgentID: a.agent.ID}))
	ok(t, s.AssignNumber(ctx, store.Number{OrgID: b.org.ID, E164: bsNumber, AgentID: b.agent.ID}))

	// B may route only what was allotted to B; a number allotted to A, routed
	// or not, answers as one allotted to no one.
	for what, n := range map[string]store.PhoneNumber{"routed by A": routed, "allotted to A": spare, "allotted to no one": nobodys} {
		wantErr(t, "AssignNumber of a number "+what, s.AssignNumber(ctx, store.Number{OrgID: b.org.ID, E164: n, AgentID: b.agent.ID}), store.ErrNotFound)
	}
	same(t, "A's number still routes to A", must(s.AgentForNumber(ctx, routed)).of(t).ID, a.agent.ID)
	_, err := s.AgentForNumber(ctx, spare)
	wantErr(t, "an allotted number no agent answers", err, store.ErrNotFound)
	same(t, "B's numbers", must(s.ListNumbers(ctx, b.org.ID)).of(t), []store.Number{{OrgID: b.org.ID, E164: bsNumber, AgentID: b.agent.ID}})

	wantErr(t, "AllotNumber of A's number to B", s.AllotNumber(ctx, b.org.ID, routed), store.ErrConflict)
	wantErr(t, "AllotNumber of A's spare number to B", s.AllotNumber(ctx, b.org.ID, spare), store.ErrConflict)
	wantErr(t, "AllotNumber to an unknown organization", s.AllotNumber(ctx, "no-such-org", nobodys), store.ErrNotFound)
	wantErr(t, "AllotNumber without an organization", s.AllotNumber(ctx, "", nobodys), store.ErrInvalid)
	wantErr(t, "AllotNumber without a number", s.AllotNumber(ctx, a.org.ID, " "), store.ErrInvalid)

	// Releasing takes the number back, with its route.
	wantErr(t, "ReleaseNumber by another organization", s.ReleaseNumber(ctx, b.org.ID, routed), store.ErrNotFound)
	same(t, "A's number still routes after B's release", must(s.AgentForNumber(ctx, routed)).of(t).ID, a.agent.ID)
	ok(t, s.ReleaseNumber(ctx, a.org.ID, routed))
	_, err = s.AgentForNumber(ctx, routed)
	wantErr(t, "AgentForNumber after ReleaseNumber", err, store.ErrNotFound)
	same(t, "A's numbers after ReleaseNumber", len(must(s.ListNumbers(ctx, a.org.ID)).of(t)), 0)
	wantErr(t, "AssignNumber of a released number", s.AssignNumber(ctx, store.Number{OrgID: a.org.ID, E164: routed, AgentID: a.agent.ID}), store.ErrNotFound)
	wantErr(t, "ReleaseNumber twice", s.ReleaseNumber(ctx, a.org.ID, routed), store.ErrNotFound)

	// A released number may be allotted to another organization.
	b.allot(t, routed)
	ok(t, s.AssignNumber(ctx, store.Number{OrgID: b.org.ID, E164: routed, AgentID: b.agent.ID}))
	same(t, "the number now routes to B", must(s.AgentForNumber(ctx, routed)).of(t).ID, b.agent.ID)

	// Removing a route keeps the allotment: the organization may route it again.
	ok(t, s.RemoveNumber(ctx, b.org.ID, routed))
	ok(t, s.AssignNumber(ctx, store.Number{OrgID: b.org.ID, E164: routed, AgentID: b.agent.ID}))
}
