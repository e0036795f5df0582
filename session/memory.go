package session

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

// PatternSource lists an organization's patterns (the store, cached).
type PatternSource interface {
	ListPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, p store.Page) ([]store.Pattern, string, error)
}

// contextPatterns is how many of the agent's patterns go into the model's
// context: the most used of its latest active ones.
const (
	contextPatterns = 5
	patternsRead    = 50
)

// fetchPatterns reads the agent's most used active patterns in the
// background, under the configured deadline, and hands them to the run
// loop. The greeting never waits for it; a miss is counted and the call
// goes on without them.
func (s *Session) fetchPatterns(ctx context.Context) {
	src := s.eng.deps.Patterns
	if src == nil || s.agent.OrgID == "" {
		return
	}
	s.scoring.Go(func() { // owned by run: it cancels ctx and waits
		ctx, cancel := context.WithTimeout(ctx, s.eng.cfg.MemoryDeadline)
		defer cancel()
		list, _, err := src.ListPatterns(ctx, s.agent.OrgID,
			store.PatternFilter{AgentID: s.agent.ID, Status: store.PatternActive}, store.Page{Limit: patternsRead})
		if err != nil {
			s.eng.metrics.memoryMisses.Inc()
			s.log.Info("patterns not loaded in time; the call goes on without them", "err", err)
			return
		}
		slices.SortStableFunc(list, func(a, b store.Pattern) int { return b.Uses - a.Uses })
		select {
		case s.memory <- list[:min(len(list), contextPatterns)]:
		case <-ctx.Done():
		}
	})
}

// patternsMessage is the system message that gives the model the answers
// that worked on earlier calls; empty without patterns.
func patternsMessage(ps []store.Pattern) (ai.Message, bool) {
	if len(ps) == 0 {
		return ai.Message{}, false
	}
	var b strings.Builder
	b.WriteString("Answers that resolved earlier calls; use one when the caller asks the same:")
	for _, p := range ps {
		b.WriteString("\n- Q: ")
		b.WriteString(p.Trigger)
		b.WriteString(" A: ")
		b.WriteString(p.Response)
	}
	return ai.Message{Role: ai.RoleSystem, Content: b.String()}, true
}

// memoryDeadline bounds what a call reads about its caller and its agent at
// start (DefaultConfig's MemoryDeadline).
const memoryDeadline = 150 * time.Millisecond
