// Package storetest is the conformance suite of store.Store: every backend
// runs it against a real, empty store and must pass it whole. It checks the
// rules written above store.Store, one subtest per rule, as a user of the
// store would see them.
package storetest

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// Run runs the suite. open returns a fresh, empty, migrated store for one
// subtest and registers its own cleanup (closing the store, removing its
// data) with t.Cleanup. Subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"organizations are created and read back", testOrgs},
		{"times are kept in UTC at microsecond precision", testTimes},
		{"required fields are ErrInvalid", testInvalid},
		{"users have unique emails across IACE", testUsers},
		{"agents are created, listed, updated and deleted", testAgents},
		{"numbers route to one agent across IACE", testNumbers},
		{"numbers are routed only where an operator allotted them", testAllotments},
		{"organizations keep their transfer policy", testTransferPolicy},
		{"customers have a unique phone within their organization", testCustomers},
		{"customer search matches name, phone or email, by name", testSearchCustomers},
		{"calls are created, read and updated", testCalls},
		{"calls list newest first across pages without gaps", testListCallsPages},
		{"every call filter narrows the list", testCallFilters},
		{"listed calls carry their agent and customer", testCallJoins},
		{"turns are appended once", testAppendTurns},
		{"finishing a call writes call, turns and customer once", testFinishCall},
		{"concurrent finishes count the customer once", testFinishCallConcurrent},
		{"a call's events are kept once, in order, within its organization", testCallEvents},
		{"transcript search matches every word whole", testSearchTranscripts},
		{"call statistics count by bucket within the organization", testCallStats},
		{"a call's summary and prediction are kept once, within their caps", testCallIntelligence},
		{"a customer's memory is set alone, trimmed, within its cap", testCustomerMemory},
		{"prediction models are versioned per organization, the newest kept", testPredictionModels},
		{"concurrent prediction model saves get distinct versions", testPredictionModelsConcurrent},
		{"labelled calls are the ended calls with an outcome and features, newest first", testLabelledCalls},
		{"patterns are created, listed, used and deleted", testPatterns},
		{"similar patterns rank by cosine similarity", testSimilarPatterns},
		{"patterns keep their status, source, examples and calls", testPatternProvenance},
		{"merging a call into a pattern counts it once, within the caps", testMergePattern},
		{"a pattern's status decides which lists and searches see it", testPatternStatus},
		{"refresh tokens rotate, and reuse revokes the family", testRefreshTokens},
		{"concurrent rotations of one token: one wins", testRotateConcurrent},
		{"refresh tokens are revoked by family and user", testRevokeTokens},
		{"webhook events are processed once", testWebhookEvents},
		{"expired refresh tokens and old webhook events are pruned", testPrune},
		{"a call's media stream is admitted once", testStreamClaims},
		{"another organization's rows are not found", testIsolation},
		{"ping answers", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// base is the suite's reference time: microsecond-exact, in UTC.
var base = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// at is base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

func ptr[T any](v T) *T { return &v }

// must takes a call's two results: must(s.GetOrg(ctx, id)).of(t) is the
// organization, or the test's end.
func must[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

// of fails the test on the error, and otherwise returns the value.
func (r result[T]) of(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// same compares with reflect.DeepEqual, which is exact for times the store
// keeps (UTC, no monotonic reading).
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// between checks that a time the store filled with now is now, in UTC at
// microseconds.
func between(t *testing.T, what string, got, before, after time.Time) {
	t.Helper()
	if got.Location() != time.UTC || got.Nanosecond()%1000 != 0 {
		t.Errorf("%s %v: not UTC at microseconds", what, got)
	}
	if got.Before(before.Truncate(time.Microsecond)) || got.After(after) {
		t.Errorf("%s %v: not between %v and %v", what, got, before, after)
	}
}

// fixture is an organization with an agent, as most tests need.
type fixture struct {
	s     store.Store
	org   store.Organization
	agent store.Agent
}

func newFixture(t *testing.T, s store.Store, name string) fixture {
	t.Helper()
	ctx := t.Context()
	org := must(s.CreateOrg(ctx, store.Organization{Name: name})).of(t)
	agent := must(s.CreateAgent(ctx, store.Agent{OrgID: org.ID, Name: name + " agent", Greeting: "Hello.", Fallback: "Sorry?"})).of(t)
	return fixture{s: s, org: org, agent: agent}
}

func (f fixture) customer(t *testing.T, phone, name string) store.Customer {
	t.Helper()
	return must(f.s.CreateCustomer(t.Context(), store.Customer{OrgID: f.org.ID, Phone: store.PhoneNumber(phone), Name: name})).of(t)
}

func (f fixture) call(t *testing.T, c store.Call) store.Call {
	t.Helper()
	c.OrgID = f.org.ID
	if c.AgentID == "" {
		c.AgentID = f.agent.ID
	}
	if c.Status == "" {
		c.Status = store.CallActive
	}
	if c.Direction == "" {
		c.Direction = "incoming"
	}
	return must(f.s.CreateCall(t.Context(), c)).of(t)
}

func turn(seq int, speaker store.Speaker, text string, start time.Time) store.Turn {
	return store.Turn{Seq: seq, Speaker: speaker, Text: text, StartedAt: start, EndedAt: start.Add(1500 * time.Millisecond)}
}

// withoutNumbers drops Agent.Numbers, which the rules leave to each backend
// (numbers are kept as Number rows).
func withoutNumbers(a store.Agent) store.Agent {
	a.Numbers = nil
	return a
}

func agentIDs(as []store.Agent) []store.AgentID {
	ids := make([]store.AgentID, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	slices.Sort(ids)
	return ids
}

func callIDs(items []store.CallListItem) []store.CallID {
	ids := make([]store.CallID, len(items))
	for i, it := range items {
		ids[i] = it.Call.ID
	}
	return ids
}

// unit returns a unit vector of store.EmbeddingDims dimensions whose cosine
// similarity with axis vector e_i is sim, leaning towards axis j (i != j):
// sim*e_i + sqrt(1-sim^2)*e_j.
func unit(sim float64, i, j int) []float32 {
	v := make([]float32, store.EmbeddingDims)
	v[i] = float32(sim)
	v[j] += float32(math.Sqrt(1 - sim*sim))
	return v
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-4 }

func testPing(t *testing.T, s store.Store) {
	ok(t, s.Ping(t.Context()))
}

// pageAll lists every page of a list function, failing on a repeated
// cursor or a page larger than asked.
func pageAll[T any](t *testing.T, limit int, list func(p store.Page) ([]T, string, error)) (all []T, pages int) {
	t.Helper()
	seen := map[string]bool{}
	cursor := ""
	for {
		got, next, err := list(store.Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		if len(got) > limit {
			t.Fatalf("page %d: %d rows, asked for %d", pages, len(got), limit)
		}
		all = append(all, got...)
		if next == "" {
			return all, pages
		}
		if seen[next] {
			t.Fatalf("page %d: cursor %q repeated", pages, next)
		}
		seen[next] = true
		cursor = next
		if pages > 10000 {
			t.Fatal("endless pagination")
		}
	}
}

func describe(items []store.CallListItem) string {
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "%s@%s ", it.Call.ID, it.Call.StartedAt.Format(time.RFC3339Nano))
	}
	return b.String()
}
