package session

import (
	"context"
	"slices"
	"strings"
	"sync"
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
	key := patternKey{s.agent.OrgID, s.agent.ID}
	if ps, ok := s.eng.patterns.get(key, time.Now()); ok {
		s.patterns = ps // read by a call of the same agent moments ago
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
		top := make([]store.Pattern, 0, min(len(list), contextPatterns))
		for _, p := range list[:min(len(list), contextPatterns)] {
			// A call needs the words, not the vector or the history.
			top = append(top, store.Pattern{ID: p.ID, Trigger: p.Trigger, Response: p.Response, Uses: p.Uses})
		}
		s.eng.patterns.put(key, top, time.Now())
		select {
		case s.memory <- top:
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

// notePatternUse records which of the call's patterns informed a reply the
// caller heard whole: one whose answer's words the reply mostly repeats.
func (s *Session) notePatternUse(reply string) {
	if len(s.patterns) == 0 {
		return
	}
	said := wordSet(reply)
	for _, p := range s.patterns {
		if slices.Contains(s.patternsUsed, p.ID) {
			continue
		}
		want := wordSet(p.Response)
		if len(want) == 0 {
			continue
		}
		n := 0
		for w := range want {
			if said[w] {
				n++
			}
		}
		if float64(n) >= informedShare*float64(len(want)) {
			s.patternsUsed = append(s.patternsUsed, p.ID)
		}
	}
}

// informedShare is how much of a pattern's answer a reply must repeat to
// count as informed by it.
const informedShare = 0.6

// wordSet is the lower-case words of s of three letters or more.
func wordSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r < 0x80
	}) {
		if len(w) >= 3 {
			out[w] = true
		}
	}
	return out
}

// patternTTL is how long an agent's patterns, once read, serve the calls
// that start after: at a thousand calls, one read per agent every few
// seconds instead of one per call. A pattern learned meanwhile waits that
// long to reach the model.
const patternTTL = 30 * time.Second

type patternKey struct {
	org   store.OrgID
	agent store.AgentID
}

type patternEntry struct {
	at   time.Time
	list []store.Pattern // read-only once stored
}

// patternCache keeps each agent's context patterns for patternTTL. No I/O
// under its lock; calls share the slices read-only.
type patternCache struct {
	mu sync.Mutex
	m  map[patternKey]patternEntry
}

func (c *patternCache) get(k patternKey, now time.Time) ([]store.Pattern, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.Sub(e.at) >= patternTTL {
		return nil, false
	}
	return e.list, true
}

func (c *patternCache) put(k patternKey, list []store.Pattern, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[patternKey]patternEntry{}
	}
	for key, e := range c.m { // agents that stopped taking calls
		if now.Sub(e.at) >= patternTTL {
			delete(c.m, key)
		}
	}
	c.m[k] = patternEntry{at: now, list: list}
}
