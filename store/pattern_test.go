package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestPatternMergeKeepsTheNewestWithinTheCaps(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	p := Pattern{Uses: 1, Successes: 1, Examples: []string{"a"}, SourceCallIDs: []CallID{"c0"}}
	examples := slices.Clone(p.Examples)
	if !p.Merge(PatternMerge{Uses: 1, Successes: 1, Example: "b", CallID: "c1"}, now) {
		t.Fatal("a new call's merge changed nothing")
	}
	if examples[0] != "a" || len(examples) != 1 {
		t.Error("Merge wrote into the examples it was given")
	}
	if p.Merge(PatternMerge{Uses: 5, Example: "z", CallID: "c1"}, now.Add(time.Hour)) {
		t.Error("a replayed call's merge changed the pattern")
	}
	if p.Uses != 2 || p.Successes != 2 || !p.UpdatedAt.Equal(now) || !slices.Equal(p.Examples, []string{"a", "b"}) {
		t.Errorf("after one merge and a replay: %+v", p)
	}
	for i := range 30 {
		p.Merge(PatternMerge{Uses: 1, Example: string(rune('c' + i)), CallID: CallID(rune('A' + i))}, now)
	}
	if len(p.Examples) != MaxPatternExamples || p.Examples[MaxPatternExamples-1] != string(rune('c'+29)) {
		t.Errorf("examples %q: want the newest %d", p.Examples, MaxPatternExamples)
	}
	if len(p.SourceCallIDs) != MaxPatternSourceCalls || p.SourceCallIDs[0] != CallID(rune('A'+10)) {
		t.Errorf("calls %q: want the newest %d", p.SourceCallIDs, MaxPatternSourceCalls)
	}
	p.Merge(PatternMerge{Uses: 1}, now) // neither example nor call: counted, nothing appended
	if p.Uses != 33 || len(p.SourceCallIDs) != MaxPatternSourceCalls {
		t.Errorf("an anonymous merge: uses %d, %d calls", p.Uses, len(p.SourceCallIDs))
	}
}

func TestLearningModes(t *testing.T) {
	for _, m := range []LearningMode{"", LearningOn, LearningOff, LearningApprove} {
		s := AgentSettings{Learning: m}
		if err := s.Check(); err != nil {
			t.Errorf("learning %q: %v", m, err)
		}
	}
	s := AgentSettings{Learning: "sometimes"}
	if err := s.Check(); !errors.Is(err, ErrInvalid) {
		t.Errorf("learning %q: %v, want ErrInvalid", s.Learning, err)
	}
}
