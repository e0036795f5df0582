package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
	"github.com/iace/iace/store"
)

// PatternSource gives an organization's patterns (the store, cached): the
// agent's most used at a call's start, and those nearest to what the caller
// first said.
type PatternSource interface {
	ListPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, p store.Page) ([]store.Pattern, string, error)
	SimilarPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, query []float32, k int) ([]store.ScoredPattern, error)
}

// CallHistory lists an organization's calls: a returning caller's latest.
type CallHistory interface {
	ListCalls(ctx context.Context, org store.OrgID, f store.CallFilter, p store.Page) ([]store.CallListItem, string, error)
}

// contextPatterns is how many of the agent's patterns go into the model's
// context: the most used of its latest active ones; similarPatterns how
// many more the caller's first words bring, and maxPatterns the most a
// call holds.
const (
	contextPatterns = 5
	patternsRead    = 50
	similarPatterns = 3
	maxPatterns     = contextPatterns + similarPatterns
	// minSimilarity is how near to the caller's words a pattern must be
	// to join the call's context.
	minSimilarity = 0.5
	// recentCalls is how many of a returning caller's latest calls the
	// call reads: their outcomes feed the prediction, and a verified
	// caller's go to the model.
	recentCalls = 5
)

// Reads a call makes at its start and after the caller's first words, the
// values of iace_session_memory_fetch_seconds's and
// iace_session_memory_misses_total's label.
const (
	fetchPatterns = "patterns"
	fetchCaller   = "caller"
	fetchSimilar  = "similar"
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
		list, err := timedRead(ctx, s, fetchPatterns, func(ctx context.Context) ([]store.Pattern, error) {
			list, _, err := src.ListPatterns(ctx, s.agent.OrgID,
				store.PatternFilter{AgentID: s.agent.ID, Status: store.PatternActive}, store.Page{Limit: patternsRead})
			return list, err
		})
		if err != nil {
			s.log.Info("patterns not loaded in time; the call goes on without them", "err", err)
			return
		}
		slices.SortStableFunc(list, func(a, b store.Pattern) int { return b.Uses - a.Uses })
		top := make([]store.Pattern, 0, min(len(list), contextPatterns))
		for _, p := range list[:min(len(list), contextPatterns)] {
			top = append(top, slim(p))
		}
		s.eng.patterns.put(key, top, time.Now())
		deliver(s, s.memory, top, ctx.Done())
	})
}

// slim is what a call keeps of a pattern: the words, not the vector or the
// history.
func slim(p store.Pattern) store.Pattern {
	return store.Pattern{ID: p.ID, Trigger: p.Trigger, Response: p.Response, Uses: p.Uses}
}

// timedRead runs read under the memory deadline, observes how long it took
// and counts a miss; a read that finds nothing (store.ErrNotFound) is not
// a miss.
func timedRead[T any](ctx context.Context, s *Session, what string, read func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, s.eng.cfg.MemoryDeadline)
	defer cancel()
	began := time.Now()
	v, err := read(ctx)
	media.ObserveTraced(ctx, s.eng.metrics.memoryFetch.WithLabelValues(what), time.Since(began).Seconds())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.eng.metrics.memoryMisses.WithLabelValues(what).Inc()
	}
	return v, err
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

// callerMemory is what the call reads at its start about a returning
// caller: their customer record and latest calls.
type callerMemory struct {
	customer    store.Customer
	recent      []recentCall
	escalations int // among the recent calls
}

// fetchCaller reads the caller's customer record and, for a customer,
// their latest calls, in the background and under the memory deadline,
// beside fetchPatterns. The greeting never waits for it. What it reads
// serves the customer tools (so a verified caller's facts come at once)
// and the prediction (how many calls, how many escalated); nothing of it
// reaches the model before the caller is verified.
func (s *Session) fetchCaller(ctx context.Context) {
	cl, hist := s.eng.deps.Customers, s.eng.deps.History
	if cl == nil || hist == nil || s.start.From == "" || s.agent.OrgID == "" {
		return // without a history, the customer tools read the record when asked
	}
	org, phone := s.agent.OrgID, store.PhoneNumber(s.start.From)
	s.scoring.Go(func() { // owned by run: it cancels ctx and waits
		m, err := timedRead(ctx, s, fetchCaller, func(ctx context.Context) (callerMemory, error) {
			c, err := cl.CustomerByPhone(ctx, org, phone)
			if err != nil {
				return callerMemory{}, err
			}
			calls, _, err := hist.ListCalls(ctx, org, store.CallFilter{CustomerID: c.ID, Status: store.CallEnded},
				store.Page{Limit: recentCalls})
			m := callerMemory{customer: c}
			for _, it := range calls {
				if it.Call.ID == s.id {
					continue
				}
				m.recent = append(m.recent, recentCall{Date: it.Call.StartedAt.UTC().Format(time.DateOnly),
					Outcome: string(it.Call.Outcome), Summary: it.Call.Summary})
				if it.Call.Outcome == store.OutcomeEscalated {
					m.escalations++
				}
			}
			return m, err
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			return // a first-time caller
		case err != nil:
			s.log.Info("the caller's record was not read in time; the call goes on without it", "err", err)
			return
		}
		deliver(s, s.caller, m, ctx.Done())
	})
}

// onCallerMemory takes in what fetchCaller read.
func (s *Session) onCallerMemory(m callerMemory) {
	if ct := s.customerTools(); ct != nil {
		ct.remember(m.customer, m.recent)
	}
	s.tracker.SetHistory(m.customer.CallCount, m.escalations)
}

// refreshPatterns, after the caller's first words, reads the agent's
// patterns nearest to them, under the memory deadline, in the background:
// the reply to those words does not wait for it, the later ones have them.
func (s *Session) refreshPatterns(ctx context.Context, words string) {
	src, emb := s.eng.deps.Patterns, s.eng.deps.Embedder
	if src == nil || emb == nil || s.agent.OrgID == "" || strings.TrimSpace(words) == "" {
		return
	}
	s.scoring.Go(func() { // owned by run: it cancels ctx and waits
		found, err := timedRead(ctx, s, fetchSimilar, func(ctx context.Context) ([]store.ScoredPattern, error) {
			vecs, err := emb.Embed(ctx, []string{words})
			if err != nil {
				return nil, err
			}
			return src.SimilarPatterns(ctx, s.agent.OrgID,
				store.PatternFilter{AgentID: s.agent.ID, Status: store.PatternActive}, vecs[0], similarPatterns)
		})
		if err != nil {
			s.log.Info("patterns like the caller's words not loaded in time", "err", err)
			return
		}
		var near []store.Pattern
		for _, sp := range found {
			if sp.Similarity >= minSimilarity {
				near = append(near, slim(sp.Pattern))
			}
		}
		if len(near) == 0 {
			return
		}
		deliver(s, s.memory, near, ctx.Done())
	})
}

// addPatterns puts ps ahead of the call's patterns, each once, at most
// maxPatterns in all.
func (s *Session) addPatterns(ps []store.Pattern) {
	out := make([]store.Pattern, 0, min(len(ps)+len(s.patterns), maxPatterns))
	for _, p := range slices.Concat(ps, s.patterns) {
		if len(out) == maxPatterns {
			break
		}
		if !slices.ContainsFunc(out, func(q store.Pattern) bool { return q.ID == p.ID }) {
			out = append(out, p)
		}
	}
	s.patterns = out
}
