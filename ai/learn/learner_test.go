package learn_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/storetest"
)

// backends open a fresh, migrated store that keeps at most maxPatterns
// patterns per organization (0: the default).
var backends = []struct {
	name string
	open func(t *testing.T, maxPatterns int) store.Store
}{
	{"embedded", func(t *testing.T, maxPatterns int) store.Store {
		s, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true,
			MaxPatternsPerOrg: maxPatterns})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T, maxPatterns int) store.Store {
		s, err := postgres.Open(t.Context(), postgres.Config{URL: storetest.PostgresURL(), Schema: storetest.FreshSchema(t),
			Migrate: true, MaxConns: 4, MaxPatternsPerOrg: maxPatterns})
		if err != nil {
			t.Fatalf("open %s: %v", storetest.PostgresURL(), err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// syncBuffer is a log destination tests read while a learner may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// world is an organization with the demo agent in a store, and a learner
// with the offline embedder and the heuristic.
type world struct {
	st    store.Store
	org   store.OrgID
	agent store.Agent
	l     *learn.Learner
	log   *syncBuffer
}

func newWorld(t *testing.T, st store.Store, learning store.LearningMode) *world {
	t.Helper()
	ctx := t.Context()
	org, err := st.CreateOrg(ctx, store.Organization{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	a := demo
	a.ID, a.OrgID, a.Settings.Learning = "", org.ID, learning
	if a, err = st.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	emb, err := local.NewHashEmbedder(store.EmbeddingDims)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{st: st, org: org.ID, agent: a, log: &syncBuffer{}}
	w.l, err = learn.New(st, emb, learn.Heuristic{}, learn.Config{Logger: slog.New(slog.NewJSONHandler(w.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// finish records a finished call with its transcript and returns what
// learning reads of it, as the call's end hands it over.
func (w *world) finish(t *testing.T, outcome store.Outcome, reason string, lines ...string) learn.Call {
	t.Helper()
	ctx := t.Context()
	c, err := w.st.CreateCall(ctx, store.Call{OrgID: w.org, AgentID: w.agent.ID, Status: store.CallActive, Direction: "incoming"})
	if err != nil {
		t.Fatal(err)
	}
	c, err = w.st.FinishCall(ctx, store.CallEnd{OrgID: w.org, CallID: c.ID, Outcome: outcome, EscalationReason: reason,
		Turns: script(lines...)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.st.GetCall(ctx, w.org, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return learn.NewCall(w.agent, d.Call, d.Turns)
}

func (w *world) learn(t *testing.T, c learn.Call) learn.Result {
	t.Helper()
	res, err := w.l.Learn(t.Context(), c)
	if err != nil {
		t.Fatalf("Learn %s: %v", c.CallID, err)
	}
	return res
}

func (w *world) patterns(t *testing.T) []store.Pattern {
	t.Helper()
	ps, _, err := w.st.ListPatterns(t.Context(), w.org, store.PatternFilter{}, store.Page{Limit: store.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ps) // oldest first
	return ps
}

// question is a resolved call of one question answered by an intent.
func (w *world) question(t *testing.T, q string, intent int) learn.Call {
	t.Helper()
	return w.finish(t, store.OutcomeResolved, "",
		"agent: "+demo.Greeting, "caller: "+q, "agent: "+demo.Intents[intent].Reply,
		"caller: Thanks, bye.", "agent: "+demo.Intents[4].Reply)
}

func TestLearner(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("the same question twice is one pattern used twice", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, b.open(t, 0), "")
				c1 := w.question(t, "What are your opening hours?", 0)
				c2 := w.question(t, "what are your opening hours please", 0)
				r1, r2 := w.learn(t, c1), w.learn(t, c2)
				if len(r1.Created) != 1 || len(r2.Merged) != 1 || r2.Merged[0] != r1.Created[0] || len(r2.Created) != 0 {
					t.Fatalf("results %+v then %+v: want one pattern created, then merged into", r1, r2)
				}
				ps := w.patterns(t)
				if len(ps) != 1 {
					t.Fatalf("%d patterns, want 1", len(ps))
				}
				p := ps[0]
				want := store.Pattern{ID: p.ID, OrgID: w.org, AgentID: w.agent.ID, Kind: learn.KindFAQ,
					Trigger: "What are your opening hours?", Response: demo.Intents[0].Reply, Uses: 2, Successes: 2,
					Status: store.PatternActive, Source: store.PatternLearned,
					Examples:      []string{"What are your opening hours?", "what are your opening hours please"},
					SourceCallIDs: []store.CallID{c1.CallID, c2.CallID}}
				got := p
				got.Embedding, got.CreatedAt, got.UpdatedAt = nil, want.CreatedAt, want.UpdatedAt
				if !equal(got, want) {
					t.Errorf("pattern:\n got  %+v\n want %+v", got, want)
				}

				// The same words in another case are not a new example.
				c3 := w.question(t, "WHAT ARE YOUR OPENING HOURS?", 0)
				w.learn(t, c3)
				if p := w.patterns(t)[0]; p.Uses != 3 || len(p.Examples) != 2 || len(p.SourceCallIDs) != 3 {
					t.Errorf("after a third call: uses %d, examples %q, calls %d", p.Uses, p.Examples, len(p.SourceCallIDs))
				}
				// A call learned again (a replay) counts once.
				if r := w.learn(t, c3); len(r.Merged) != 1 || w.patterns(t)[0].Uses != 3 {
					t.Errorf("a replay: %+v, uses %d", r, w.patterns(t)[0].Uses)
				}
			})
			t.Run("a different question is another pattern", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, b.open(t, 0), store.LearningOn)
				w.learn(t, w.question(t, "What are your opening hours?", 0))
				r := w.learn(t, w.question(t, "How much does the basic plan cost?", 1))
				ps := w.patterns(t)
				if len(r.Created) != 1 || len(ps) != 2 || ps[1].Trigger != "How much does the basic plan cost?" ||
					ps[1].Response != demo.Intents[1].Reply || ps[0].Uses != 1 {
					t.Errorf("result %+v, patterns %+v", r, ps)
				}
			})
			t.Run("an escalated call is an escalation pattern without success", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, b.open(t, 0), "")
				c := w.finish(t, store.OutcomeEscalated, string(store.EscalationCallerRequest),
					"caller: I want to cancel my contract right now.", "agent: "+demo.Intents[3].Reply)
				w.learn(t, c)
				ps := w.patterns(t)
				if len(ps) != 1 || ps[0].Kind != learn.KindEscalation || ps[0].Response != "caller_request" ||
					ps[0].Uses != 1 || ps[0].Successes != 0 {
					t.Errorf("patterns %+v", ps)
				}
			})
			t.Run("learning off learns nothing", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, b.open(t, 0), store.LearningOff)
				if r := w.learn(t, w.question(t, "What are your opening hours?", 0)); len(r.Created)+len(r.Merged) != 0 {
					t.Errorf("result %+v", r)
				}
				if ps := w.patterns(t); len(ps) != 0 {
					t.Errorf("%d patterns learned with learning off", len(ps))
				}
			})
			t.Run("learning that needs approval keeps what it learns pending", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, b.open(t, 0), store.LearningApprove)
				w.learn(t, w.question(t, "What are your opening hours?", 0))
				w.learn(t, w.question(t, "What are your opening hours?", 0))
				ps := w.patterns(t)
				if len(ps) != 1 || ps[0].Status != store.PatternPending || ps[0].Uses != 2 {
					t.Errorf("patterns %+v: want one pending pattern used twice", ps)
				}
			})
			t.Run("a disabled pattern absorbs its question", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, b.open(t, 0), "")
				r := w.learn(t, w.question(t, "What are your opening hours?", 0))
				if _, err := w.st.SetPatternStatus(t.Context(), w.org, r.Created[0], store.PatternDisabled); err != nil {
					t.Fatal(err)
				}
				w.learn(t, w.question(t, "What are your opening hours?", 0))
				ps := w.patterns(t)
				if len(ps) != 1 || ps[0].Status != store.PatternDisabled || ps[0].Uses != 2 {
					t.Errorf("patterns %+v: want the disabled one, used twice", ps)
				}
			})
			t.Run("at the cap new patterns are refused and logged, merges still made", func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, b.open(t, 1), "")
				w.learn(t, w.question(t, "What are your opening hours?", 0))
				c := w.finish(t, store.OutcomeResolved, "",
					"caller: What are your opening hours?", "agent: "+demo.Intents[0].Reply,
					"caller: How much does the basic plan cost?", "agent: "+demo.Intents[1].Reply)
				r, err := w.l.Learn(t.Context(), c)
				if err != nil || r.Refused != 1 || len(r.Merged) != 1 || len(r.Created) != 0 {
					t.Fatalf("Learn at the cap: %+v, %v", r, err)
				}
				if ps := w.patterns(t); len(ps) != 1 || ps[0].Uses != 2 {
					t.Errorf("patterns %+v", ps)
				}
				log := w.log.String()
				if !strings.Contains(log, "learning refused") || !strings.Contains(log, string(c.CallID)) || !strings.Contains(log, `"max":1`) {
					t.Errorf("log %q: want the refusal with the call and the cap", log)
				}
				// The call is kept, whatever learning did.
				if _, err := w.st.GetCall(t.Context(), w.org, c.CallID); err != nil {
					t.Errorf("the call after learning was refused: %v", err)
				}
			})
		})
	}
}

// equal compares patterns without their embeddings and times.
func equal(a, b store.Pattern) bool {
	return a.ID == b.ID && a.OrgID == b.OrgID && a.AgentID == b.AgentID && a.Kind == b.Kind && a.Trigger == b.Trigger &&
		a.Response == b.Response && a.Uses == b.Uses && a.Successes == b.Successes && a.Status == b.Status &&
		a.Source == b.Source && slices.Equal(a.Examples, b.Examples) && slices.Equal(a.SourceCallIDs, b.SourceCallIDs)
}

// TestDefaultThresholdSeparatesRewordingsFromOtherQuestions checks the
// claim of DefaultThreshold's doc with the offline embedder.
func TestDefaultThresholdSeparatesRewordingsFromOtherQuestions(t *testing.T) {
	emb, err := local.NewHashEmbedder(store.EmbeddingDims)
	if err != nil {
		t.Fatal(err)
	}
	sim := func(a, b string) float64 {
		v, err := emb.Embed(context.Background(), []string{a, b})
		if err != nil {
			t.Fatal(err)
		}
		var d float64
		for i := range v[0] {
			d += float64(v[0][i]) * float64(v[1][i])
		}
		return d
	}
	for _, p := range [][2]string{
		{"What are your opening hours?", "what are your opening hours please"},
		{"What are your opening hours?", "WHAT ARE YOUR OPENING HOURS"},
	} {
		if s := sim(p[0], p[1]); s < learn.DefaultThreshold {
			t.Errorf("%q ~ %q: %.3f, below the threshold", p[0], p[1], s)
		}
	}
	for _, p := range [][2]string{
		{"What are your opening hours?", "What are your prices?"},
		{"What are your opening hours?", "How much does the basic plan cost?"},
		{"Where is my order?", "Where is your office?"},
	} {
		if s := sim(p[0], p[1]); s > learn.DefaultThreshold-0.2 {
			t.Errorf("%q ~ %q: %.3f, not well below the threshold", p[0], p[1], s)
		}
	}
}

// failingEmbedder fails every request, as a provider that is down.
type failingEmbedder struct{}

func (failingEmbedder) Embed(context.Context, []string) ([][]float32, error) {
	return nil, ai.ErrUnavailable
}
func (failingEmbedder) Dimensions() int { return store.EmbeddingDims }

func TestLearnerReturnsWhatMayBeRetried(t *testing.T) {
	w := newWorld(t, backends[0].open(t, 0), "")
	l, err := learn.New(w.st, failingEmbedder{}, learn.Heuristic{}, learn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := w.question(t, "What are your opening hours?", 0)
	if _, err := l.Learn(t.Context(), c); !errors.Is(err, ai.ErrUnavailable) {
		t.Errorf("Learn with the embedder down: %v, want ai.ErrUnavailable", err)
	}
	c.CallID = ""
	if _, err := w.l.Learn(t.Context(), c); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Learn of a call without an id: %v, want store.ErrInvalid", err)
	}
}

func TestNewChecksItsParts(t *testing.T) {
	small, err := local.NewHashEmbedder(64)
	if err != nil {
		t.Fatal(err)
	}
	right, _ := local.NewHashEmbedder(store.EmbeddingDims)
	for name, err := range map[string]error{
		"an embedder of the wrong size": second(learn.New(storeStub{}, small, learn.Heuristic{}, learn.Config{})),
		"no extractor":                  second(learn.New(storeStub{}, right, nil, learn.Config{})),
		"a threshold above 1":           second(learn.New(storeStub{}, right, learn.Heuristic{}, learn.Config{Threshold: 1.5})),
	} {
		if err == nil {
			t.Errorf("New accepted %s", name)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// storeStub is a learn.Store that is never called.
type storeStub struct{ learn.Store }
