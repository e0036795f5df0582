package learn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media/telemetry"
	"github.com/iace/iace/store"
)

// DefaultThreshold is the cosine similarity from which a candidate is taken
// for the same question as a stored pattern and merged into it: high, since
// a wrong merge teaches one question another's answer, while a missed one
// only keeps two patterns. With the offline hashed embedder only nearly the
// same words reach it ("What are your opening hours?" and "what are your
// opening hours please": 0.91), and another question on the same subject
// stays well below ("What are your prices?": 0.64); a cloud embedder
// scores paraphrases higher ("When are you open?", which shares no word,
// 0.24 offline).
const DefaultThreshold = 0.9

// Store is what a Learner reads and writes of a store.Store.
type Store interface {
	SimilarPatterns(ctx context.Context, org store.OrgID, f store.PatternFilter, query []float32, k int) ([]store.ScoredPattern, error)
	CreatePattern(ctx context.Context, p store.Pattern) (store.Pattern, error)
	MergePattern(ctx context.Context, org store.OrgID, id store.PatternID, m store.PatternMerge) (store.Pattern, error)
}

// Config configures a Learner.
type Config struct {
	// Threshold is the similarity, above 0 and at most 1, from which a
	// candidate merges into a stored pattern. Default DefaultThreshold.
	Threshold float64
	// Registerer receives iace_learn_patterns_total; nil: not registered.
	Registerer prometheus.Registerer
	// Logger logs what learning refuses (an organization at its cap of
	// patterns); nil: slog.Default().
	Logger *slog.Logger
}

// Actions on a candidate, the values of the action label.
const (
	actionCreated = "created"
	actionMerged  = "merged"
	actionRefused = "refused"
)

// Learner learns from finished calls: it extracts candidates, embeds them,
// and merges each into its near-duplicate or stores it as a new pattern of
// the call's agent. It is safe for concurrent use.
type Learner struct {
	st        Store
	emb       ai.Embedder
	ex        Extractor
	threshold float64
	log       *slog.Logger
	patterns  *prometheus.CounterVec
}

// New builds a Learner. The embedder must make vectors of the length the
// store keeps (store.EmbeddingDims).
func New(st Store, emb ai.Embedder, ex Extractor, cfg Config) (*Learner, error) {
	switch {
	case st == nil || emb == nil || ex == nil:
		return nil, errors.New("learn: a store, an embedder and an extractor are needed")
	case emb.Dimensions() != store.EmbeddingDims:
		return nil, fmt.Errorf("learn: the embedder makes %d dimensions, the store keeps %d", emb.Dimensions(), store.EmbeddingDims)
	case cfg.Threshold < 0 || cfg.Threshold > 1:
		return nil, fmt.Errorf("learn: threshold %v outside (0, 1]", cfg.Threshold)
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c, err := telemetry.Register(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "learn",
		Name: "patterns_total",
		Help: "Patterns learned from finished calls, by action: created, merged into a near-duplicate, or refused (the organization keeps as many as it may)."},
		[]string{"action"}))
	if err != nil {
		return nil, fmt.Errorf("learn: metrics: %w", err)
	}
	for _, a := range []string{actionCreated, actionMerged, actionRefused} {
		c.WithLabelValues(a) // exported as 0 from the start
	}
	return &Learner{st: st, emb: emb, ex: ex, threshold: cfg.Threshold, log: cfg.Logger, patterns: c}, nil
}

// Result is what learning from one call did.
type Result struct {
	// Created are the new patterns, Merged the patterns the call was
	// merged into, in the order of the candidates.
	Created, Merged []store.PatternID
	// Refused counts the candidates not kept because the organization has
	// as many patterns as it may (logged once per call).
	Refused int
}

// Learn learns what c teaches, unless its agent's learning is off.
//
// Each candidate's trigger is embedded and compared with the agent's
// patterns of its kind, the org-wide ones included and whatever their
// status: a pattern someone disabled keeps absorbing its near-duplicates
// rather than coming back as a new, active one, and a pending one is not
// learned twice. At DefaultThreshold (Config.Threshold) or above, the call
// is merged into the nearest: one more use, one more success if the call
// was resolved, the trigger as an example unless it is one already, the
// call's id. Below, a new pattern is stored: a learned one of the call's
// agent, with that one use, the trigger as its first example and the
// call's id; active, or pending when the agent's learning needs approval.
//
// A call learned again (a replay after a crash) changes nothing: the
// patterns it was merged into or created hold its id (see
// store.Pattern.Merge). So an error, returned as it is (the store's, the
// embedder's, the extractor's), may be retried. An organization at its cap
// of patterns is not an error: the candidates that would have been new are
// counted as Refused, logged, and the call's merges are still made. Two
// calls with one new question learned at once may both store it; a queue
// per organization avoids that.
func (l *Learner) Learn(ctx context.Context, c Call) (Result, error) {
	var res Result
	if c.Learning == store.LearningOff {
		return res, nil
	}
	if c.OrgID == "" || c.AgentID == "" || c.CallID == "" {
		return res, fmt.Errorf("learn: %w: a call needs its org, agent and id", store.ErrInvalid)
	}
	cands, err := l.ex.Extract(ctx, c)
	if err != nil {
		return res, err
	}
	cands = usable(cands)
	if len(cands) == 0 {
		return res, nil
	}
	texts := make([]string, len(cands))
	for i, cd := range cands {
		texts[i] = cd.Trigger
	}
	vecs, err := l.emb.Embed(ctx, texts)
	if err != nil {
		return res, fmt.Errorf("learn: embed: %w", err)
	}
	if len(vecs) != len(cands) {
		return res, fmt.Errorf("learn: embed: %d vectors for %d texts", len(vecs), len(cands))
	}
	var limit *store.LimitError
	for i, cd := range cands {
		id, created, err := l.learnOne(ctx, &c, cd, vecs[i])
		switch {
		case errors.As(err, &limit):
			res.Refused++
			l.patterns.WithLabelValues(actionRefused).Inc()
		case err != nil:
			return res, err
		case created:
			res.Created = append(res.Created, id)
			l.patterns.WithLabelValues(actionCreated).Inc()
		default:
			res.Merged = append(res.Merged, id)
			l.patterns.WithLabelValues(actionMerged).Inc()
		}
	}
	if res.Refused > 0 {
		l.log.LogAttrs(ctx, slog.LevelWarn, "learning refused: the organization keeps as many patterns as it may",
			slog.String("org", string(c.OrgID)), slog.String("agent_id", string(c.AgentID)),
			slog.String("call_id", string(c.CallID)), slog.Int("refused", res.Refused), slog.Int("max", limit.Max))
	}
	return res, nil
}

// learnOne merges cd into its near-duplicate or creates it, and reports
// which pattern it went to and whether it is new.
func (l *Learner) learnOne(ctx context.Context, c *Call, cd Candidate, vec []float32) (store.PatternID, bool, error) {
	success := 0
	if c.Outcome == store.OutcomeResolved {
		success = 1
	}
	near, err := l.st.SimilarPatterns(ctx, c.OrgID, store.PatternFilter{AgentID: c.AgentID, Kind: cd.Kind}, vec, 1)
	if err != nil {
		return "", false, fmt.Errorf("learn: similar patterns: %w", err)
	}
	if len(near) > 0 && near[0].Similarity >= l.threshold {
		p := near[0].Pattern
		example := cd.Trigger
		for _, e := range p.Examples {
			if strings.EqualFold(e, example) {
				example = ""
				break
			}
		}
		uses := 1
		if slices.Contains(c.Counted, p.ID) {
			uses, success = 0, 0 // counted when it informed the call's reply
		}
		if _, err := l.st.MergePattern(ctx, c.OrgID, p.ID, store.PatternMerge{
			Uses: uses, Successes: success, Example: example, CallID: c.CallID,
		}); err != nil {
			return "", false, fmt.Errorf("learn: merge pattern: %w", err)
		}
		return p.ID, false, nil
	}
	status := store.PatternActive
	if c.Learning == store.LearningApprove {
		status = store.PatternPending
	}
	p, err := l.st.CreatePattern(ctx, store.Pattern{
		OrgID: c.OrgID, AgentID: c.AgentID, Kind: cd.Kind, Trigger: cd.Trigger, Response: cd.Response,
		Uses: 1, Successes: success, Embedding: vec, Status: status, Source: store.PatternLearned,
		Examples: []string{cd.Trigger}, SourceCallIDs: []store.CallID{c.CallID},
	})
	if err != nil {
		return "", false, fmt.Errorf("learn: create pattern: %w", err)
	}
	return p.ID, true, nil
}

// usable keeps the candidates an Extractor may return: at most
// MaxCandidates, each of a known kind with a trigger.
func usable(cands []Candidate) []Candidate {
	out := cands[:0:0]
	for _, cd := range cands {
		if len(out) == MaxCandidates {
			break
		}
		if (cd.Kind == KindFAQ || cd.Kind == KindEscalation) && strings.TrimSpace(cd.Trigger) != "" {
			cd.Trigger = cut(cd.Trigger, MaxTriggerLen)
			cd.Response = cut(cd.Response, MaxResponseLen)
			out = append(out, cd)
		}
	}
	return out
}
