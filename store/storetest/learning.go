package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// testPatternProvenance: a pattern keeps its status, source, examples and
// source calls; without them it is an active, manual pattern with none.
func testPatternProvenance(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	learned := must(s.CreatePattern(ctx, store.Pattern{
		OrgID: a.org.ID, AgentID: a.agent.ID, Kind: "faq", Trigger: "when do you open", Response: "At nine.",
		Uses: 1, Successes: 1, Embedding: unit(1, 0, 1), Status: store.PatternPending, Source: store.PatternLearned,
		Examples: []string{"when do you open", "what time do you open"}, SourceCallIDs: []store.CallID{"call-1", "call-2"},
	})).of(t)
	same(t, "GetPattern of a learned pattern", must(s.GetPattern(ctx, a.org.ID, learned.ID)).of(t), learned)
	same(t, "its provenance", []any{learned.Status, learned.Source, learned.Examples, learned.SourceCallIDs},
		[]any{store.PatternPending, store.PatternLearned, []string{"when do you open", "what time do you open"},
			[]store.CallID{"call-1", "call-2"}})

	plain := must(s.CreatePattern(ctx, store.Pattern{OrgID: a.org.ID, Trigger: "refunds", Embedding: unit(1, 1, 2),
		Examples: []string{}, SourceCallIDs: []store.CallID{}})).of(t)
	same(t, "the defaults", []any{plain.Status, plain.Source, plain.Examples, plain.SourceCallIDs},
		[]any{store.PatternActive, store.PatternManual, []string(nil), []store.CallID(nil)})
	same(t, "GetPattern of a plain pattern", must(s.GetPattern(ctx, a.org.ID, plain.ID)).of(t), plain)
	got, _ := pageAll(t, 10, func(pg store.Page) ([]store.Pattern, string, error) {
		return s.ListPatterns(ctx, a.org.ID, store.PatternFilter{}, pg)
	})
	same(t, "ListPatterns", got, []store.Pattern{plain, learned})
}

// testMergePattern: a merge adds a call's counts, example and id once, keeps
// the newest examples and calls within their caps, and concurrent merges
// all count.
func testMergePattern(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	p := must(s.CreatePattern(ctx, store.Pattern{
		OrgID: a.org.ID, AgentID: a.agent.ID, Kind: "faq", Trigger: "opening hours", Response: "Nine to five.",
		Uses: 1, Successes: 1, Embedding: unit(1, 0, 1), Source: store.PatternLearned,
		Examples: []string{"what are your hours"}, SourceCallIDs: []store.CallID{"c0"}, CreatedAt: at(0),
	})).of(t)

	before := time.Now()
	got := must(s.MergePattern(ctx, a.org.ID, p.ID, store.PatternMerge{Uses: 1, Successes: 1, Example: "when are you open", CallID: "c1"})).of(t)
	after := time.Now()
	want := p
	want.Uses, want.Successes = 2, 2
	want.Examples = []string{"what are your hours", "when are you open"}
	want.SourceCallIDs = []store.CallID{"c0", "c1"}
	between(t, "UpdatedAt after a merge", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	same(t, "MergePattern returns the merged pattern", got, want)
	same(t, "GetPattern after MergePattern", must(s.GetPattern(ctx, a.org.ID, p.ID)).of(t), want)

	again := must(s.MergePattern(ctx, a.org.ID, p.ID, store.PatternMerge{Uses: 1, Successes: 1, Example: "new words", CallID: "c1"})).of(t)
	same(t, "a call merged again changes nothing", again, want)
	same(t, "GetPattern after a replayed merge", must(s.GetPattern(ctx, a.org.ID, p.ID)).of(t), want)

	got = must(s.MergePattern(ctx, a.org.ID, p.ID, store.PatternMerge{Uses: 1, Example: "when are you open", CallID: "c2"})).of(t)
	same(t, "an example already there is not repeated", got.Examples, want.Examples)
	same(t, "a failed call counts a use, not a success", []int{got.Uses, got.Successes}, []int{3, 2})

	for i := 3; i < 30; i++ {
		got = must(s.MergePattern(ctx, a.org.ID, p.ID, store.PatternMerge{Uses: 1, Successes: 1,
			Example: fmt.Sprint("phrasing ", i), CallID: store.CallID(fmt.Sprint("c", i))})).of(t)
	}
	same(t, "the newest examples are kept", got.Examples,
		[]string{"phrasing 25", "phrasing 26", "phrasing 27", "phrasing 28", "phrasing 29"})
	wantCalls := make([]store.CallID, 0, store.MaxPatternSourceCalls)
	for i := 30 - store.MaxPatternSourceCalls; i < 30; i++ {
		wantCalls = append(wantCalls, store.CallID(fmt.Sprint("c", i)))
	}
	same(t, "the newest calls are kept", got.SourceCallIDs, wantCalls)
	same(t, "every call counted", []int{got.Uses, got.Successes}, []int{30, 29})
	same(t, "the embedding is untouched", got.Embedding, p.Embedding)
	same(t, "GetPattern after many merges", must(s.GetPattern(ctx, a.org.ID, p.ID)).of(t), got)

	// Concurrent merges of different calls each count once.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.MergePattern(ctx, a.org.ID, p.ID, store.PatternMerge{Uses: 1, CallID: store.CallID(fmt.Sprint("parallel-", i))})
		})
	}
	wg.Wait()
	ok(t, errors.Join(errs...))
	if g := must(s.GetPattern(ctx, a.org.ID, p.ID)).of(t); g.Uses != 30+n {
		t.Errorf("after %d concurrent merges: uses %d, want %d", n, g.Uses, 30+n)
	}

	for _, tc := range []struct {
		name string
		m    store.PatternMerge
	}{
		{"more successes than uses", store.PatternMerge{Uses: 1, Successes: 2}},
		{"negative uses", store.PatternMerge{Uses: -1}},
		{"an example too long", store.PatternMerge{Uses: 1, Example: string(make([]byte, store.MaxPatternExampleLen+1))}},
	} {
		_, err := s.MergePattern(ctx, a.org.ID, p.ID, tc.m)
		wantErr(t, "a merge with "+tc.name, err, store.ErrInvalid)
	}
	_, err := s.MergePattern(ctx, a.org.ID, "nope", store.PatternMerge{Uses: 1})
	wantErr(t, "MergePattern of an unknown pattern", err, store.ErrNotFound)
}

// testPatternStatus: a filter by status decides which patterns a list and a
// search see, and SetPatternStatus moves a pattern between them at once.
func testPatternStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	query := unit(1, 0, 1)
	mk := func(id string, sim float64, axis int, status store.PatternStatus) store.Pattern {
		return must(s.CreatePattern(ctx, store.Pattern{ID: store.PatternID(id), OrgID: a.org.ID, AgentID: a.agent.ID,
			Kind: "faq", Trigger: id, Embedding: unit(sim, 0, axis), Status: status, CreatedAt: at(time.Duration(axis) * time.Minute)})).of(t)
	}
	mk("active", 0.9, 2, "")
	mk("pending", 0.95, 3, store.PatternPending)
	disabled := mk("disabled", 0.99, 4, store.PatternDisabled)

	similar := func(status store.PatternStatus) []store.PatternID {
		t.Helper()
		got := must(s.SimilarPatterns(ctx, a.org.ID, store.PatternFilter{AgentID: a.agent.ID, Kind: "faq", Status: status}, query, 10)).of(t)
		ids := make([]store.PatternID, 0, len(got))
		for _, g := range got {
			ids = append(ids, g.Pattern.ID)
		}
		return ids
	}
	listed := func(status store.PatternStatus) []store.PatternID {
		t.Helper()
		got, _ := pageAll(t, 2, func(pg store.Page) ([]store.Pattern, string, error) {
			return s.ListPatterns(ctx, a.org.ID, store.PatternFilter{Status: status}, pg)
		})
		return patternIDs(got)
	}
	same(t, "every status, most similar first", similar(""), []store.PatternID{"disabled", "pending", "active"})
	same(t, "the active ones", similar(store.PatternActive), []store.PatternID{"active"})
	same(t, "the pending ones", similar(store.PatternPending), []store.PatternID{"pending"})
	same(t, "listed, every status", listed(""), []store.PatternID{"disabled", "pending", "active"})
	same(t, "listed, the disabled ones", listed(store.PatternDisabled), []store.PatternID{"disabled"})

	before := time.Now()
	got := must(s.SetPatternStatus(ctx, a.org.ID, "disabled", store.PatternActive)).of(t)
	after := time.Now()
	between(t, "UpdatedAt after SetPatternStatus", got.UpdatedAt, before, after)
	want := disabled
	want.Status, want.UpdatedAt = store.PatternActive, got.UpdatedAt
	same(t, "SetPatternStatus returns the pattern", got, want)
	same(t, "GetPattern after SetPatternStatus", must(s.GetPattern(ctx, a.org.ID, "disabled")).of(t), want)
	same(t, "the active ones after enabling one", similar(store.PatternActive), []store.PatternID{"disabled", "active"})
	must(s.SetPatternStatus(ctx, a.org.ID, "pending", store.PatternActive)).of(t)
	must(s.SetPatternStatus(ctx, a.org.ID, "active", store.PatternDisabled)).of(t)
	same(t, "the active ones after approving one and disabling another", similar(store.PatternActive),
		[]store.PatternID{"disabled", "pending"})
	same(t, "no pending one is left", similar(store.PatternPending), []store.PatternID{})
	same(t, "listed, the active ones", listed(store.PatternActive), []store.PatternID{"disabled", "pending"})
	// A new pattern after a status change is found with the rest.
	mk("later", 0.5, 5, "")
	same(t, "a pattern created after the changes", similar(store.PatternActive), []store.PatternID{"disabled", "pending", "later"})

	_, err := s.SetPatternStatus(ctx, a.org.ID, "active", "archived")
	wantErr(t, "SetPatternStatus to an unknown status", err, store.ErrInvalid)
	_, err = s.SetPatternStatus(ctx, a.org.ID, "nope", store.PatternActive)
	wantErr(t, "SetPatternStatus of an unknown pattern", err, store.ErrNotFound)
}

// RunLimits runs the rules of the per-organization caps, which need a store
// with a small cap: open returns a fresh, empty, migrated store that keeps
// at most maxPatterns patterns per organization, and registers its cleanup.
func RunLimits(t *testing.T, open func(t *testing.T, maxPatterns int) store.Store) {
	t.Run("an organization's patterns are capped", func(t *testing.T) {
		t.Parallel()
		testPatternCap(t, open(t, 3))
	})
	t.Run("concurrent creates never pass the cap", func(t *testing.T) {
		t.Parallel()
		testPatternCapConcurrent(t, open(t, 5))
	})
}

func testPatternCap(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	create := func(org store.OrgID, i int) (store.Pattern, error) {
		return s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: fmt.Sprint("t", i), Embedding: unit(1, 0, 1+i)})
	}
	var first store.Pattern
	for i := range 3 {
		p := must(create(a.org.ID, i)).of(t)
		if i == 0 {
			first = p
		}
	}
	_, err := create(a.org.ID, 3)
	wantErr(t, "a pattern beyond the cap", err, store.ErrLimit)
	wantErr(t, "a pattern beyond the cap", err, store.ErrConflict)
	var le *store.LimitError
	if !errors.As(err, &le) || le.Max != 3 || le.What != "patterns" {
		t.Errorf("a pattern beyond the cap: %v, want a *store.LimitError of 3 patterns", err)
	}
	if got, _, err := s.ListPatterns(ctx, a.org.ID, store.PatternFilter{}, store.Page{}); len(got) != 3 || err != nil {
		t.Errorf("after a refused create: %d patterns, %v", len(got), err)
	}
	must(create(b.org.ID, 0)).of(t) // the cap is each organization's
	ok(t, s.DeletePattern(ctx, a.org.ID, first.ID))
	must(create(a.org.ID, 4)).of(t)
	_, err = create("no-such-org", 0)
	wantErr(t, "a pattern of an unknown organization", err, store.ErrNotFound)
}

func testPatternCapConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	const tries = 12
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Go(func() {
			_, errs[i] = s.CreatePattern(ctx, store.Pattern{OrgID: a.org.ID, Trigger: fmt.Sprint("t", i), Embedding: unit(1, 0, 1+i)})
		})
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, store.ErrLimit):
			t.Errorf("a concurrent create: %v", err)
		}
	}
	if created != 5 {
		t.Errorf("%d of %d concurrent creates passed a cap of 5", created, tries)
	}
	got, _ := pageAll(t, 50, func(pg store.Page) ([]store.Pattern, string, error) {
		return s.ListPatterns(ctx, a.org.ID, store.PatternFilter{}, pg)
	})
	if len(got) != 5 {
		t.Errorf("%d patterns stored under a cap of 5", len(got))
	}
}
