package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// PatternStatus says whether calls use a pattern.
type PatternStatus string

// Pattern statuses.
const (
	// PatternActive: calls retrieve it. The default.
	PatternActive PatternStatus = "active"
	// PatternPending: learned for an agent whose learning needs approval
	// (LearningApprove); calls do not use it until it is made active.
	PatternPending PatternStatus = "pending"
	// PatternDisabled: turned off by someone; calls do not use it, and the
	// learner keeps merging what it learns into it rather than learning the
	// same thing again as a new, active pattern.
	PatternDisabled PatternStatus = "disabled"
)

// Valid reports whether s is one of the statuses.
func (s PatternStatus) Valid() bool {
	return s == PatternActive || s == PatternPending || s == PatternDisabled
}

// PatternSource says where a pattern came from.
type PatternSource string

// Pattern sources.
const (
	// PatternManual: written by someone (the API, a seed). The default.
	PatternManual PatternSource = "manual"
	// PatternLearned: extracted from finished calls.
	PatternLearned PatternSource = "learned"
)

// Valid reports whether s is one of the sources.
func (s PatternSource) Valid() bool { return s == PatternManual || s == PatternLearned }

// Caps of patterns.
const (
	// MaxPatternsPerOrg is how many patterns an organization may keep
	// (deleted ones do not count); CreatePattern refuses more with a
	// *LimitError. Backends may be configured with another cap.
	MaxPatternsPerOrg = 10_000
	// MaxPatternExamples is how many caller phrasings a pattern keeps.
	MaxPatternExamples = 5
	// MaxPatternExampleLen bounds each example, in bytes.
	MaxPatternExampleLen = 300
	// MaxPatternSourceCalls is how many source call ids a pattern keeps.
	MaxPatternSourceCalls = 20
)

// PatternMerge is what MergePattern adds to a pattern: one more call that
// asked the same thing (see Pattern.Merge).
type PatternMerge struct {
	// Uses is added to the pattern's Uses, at least 0.
	Uses int
	// Successes is added to its Successes, from 0 to Uses.
	Successes int
	// Example is a caller's phrasing, at most MaxPatternExampleLen bytes,
	// appended to Examples unless empty or already there.
	Example string
	// CallID is the call it comes from, appended to SourceCallIDs unless
	// empty. A call already among them makes the merge a no-op.
	CallID CallID
}

// Check applies the rules of a merge: counts that are not negative, no more
// successes than uses, an example within MaxPatternExampleLen bytes.
func (m *PatternMerge) Check() error {
	switch {
	case m.Uses < 0 || m.Successes < 0:
		return invalidf("negative uses or successes")
	case m.Successes > m.Uses:
		return invalidf("%d successes of %d uses", m.Successes, m.Uses)
	case len(m.Example) > MaxPatternExampleLen:
		return invalidf("example is %d bytes, more than %d", len(m.Example), MaxPatternExampleLen)
	}
	return nil
}

// Merge applies m to p at time now and reports whether p changed. When
// m.CallID is already among p.SourceCallIDs the call was merged before (a
// replay after a lost acknowledgement) and nothing changes. Otherwise the
// counts are added, the example and the call id appended, each list keeping
// its newest MaxPatternExamples and MaxPatternSourceCalls entries, and
// UpdatedAt set to now. Every backend's MergePattern applies it, under a
// lock on the pattern's row, so the rule is one.
func (p *Pattern) Merge(m PatternMerge, now time.Time) bool {
	if m.CallID != "" && slices.Contains(p.SourceCallIDs, m.CallID) {
		return false
	}
	p.Uses += m.Uses
	p.Successes += m.Successes
	if m.Example != "" && !slices.Contains(p.Examples, m.Example) {
		p.Examples = lastN(append(slices.Clone(p.Examples), m.Example), MaxPatternExamples)
	}
	if m.CallID != "" {
		p.SourceCallIDs = lastN(append(slices.Clone(p.SourceCallIDs), m.CallID), MaxPatternSourceCalls)
	}
	p.UpdatedAt = now
	return true
}

func lastN[T any](s []T, n int) []T {
	if len(s) > n {
		return slices.Clone(s[len(s)-n:])
	}
	return s
}

// Check applies the write rules of a pattern, but for its embedding, which
// each backend checks: an organization, a trigger, counts that are not
// negative, a known status and source (empty: PatternActive and
// PatternManual), at most MaxPatternExamples non-empty examples of at most
// MaxPatternExampleLen bytes, at most MaxPatternSourceCalls non-empty call
// ids. It keeps empty lists as nil and its own copies of the caller's.
func (p *Pattern) Check() error {
	if p.Status == "" {
		p.Status = PatternActive
	}
	if p.Source == "" {
		p.Source = PatternManual
	}
	switch {
	case p.OrgID == "":
		return invalidf("org id is empty")
	case strings.TrimSpace(p.Trigger) == "":
		return invalidf("trigger is empty")
	case p.Uses < 0 || p.Successes < 0:
		return invalidf("negative uses or successes")
	case !p.Status.Valid():
		return invalidf("unknown pattern status %q", p.Status)
	case !p.Source.Valid():
		return invalidf("unknown pattern source %q", p.Source)
	case len(p.Examples) > MaxPatternExamples:
		return invalidf("%d examples, more than %d", len(p.Examples), MaxPatternExamples)
	case len(p.SourceCallIDs) > MaxPatternSourceCalls:
		return invalidf("%d source calls, more than %d", len(p.SourceCallIDs), MaxPatternSourceCalls)
	}
	for i, e := range p.Examples {
		if e == "" || len(e) > MaxPatternExampleLen {
			return invalidf("example %d is %d bytes, want 1 to %d", i+1, len(e), MaxPatternExampleLen)
		}
	}
	if slices.Contains(p.SourceCallIDs, "") {
		return invalidf("a source call id is empty")
	}
	p.Examples = nilIfEmpty(slices.Clone(p.Examples))
	p.SourceCallIDs = nilIfEmpty(slices.Clone(p.SourceCallIDs))
	return nil
}

// nilIfEmpty keeps an empty list as nil, as every backend reads one back.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// LimitError says that an organization holds as many rows of a kind as it
// may (MaxPatternsPerOrg). It wraps ErrLimit and ErrConflict: the write
// conflicts with what is stored, and trying again will not help until rows
// are deleted.
type LimitError struct {
	What string // "patterns"
	Max  int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("store: limit reached: an organization keeps at most %d %s", e.Max, e.What)
}

// Unwrap makes errors.Is(err, ErrLimit) and errors.Is(err, ErrConflict)
// hold.
func (e *LimitError) Unwrap() []error { return []error{ErrLimit, ErrConflict} }
