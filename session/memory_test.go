package session_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// nearPatterns is a pattern store with no patterns to list and one that is
// near whatever the caller said; it keeps the queries it was asked.
type nearPatterns struct {
	mu      sync.Mutex
	queries int
	near    store.Pattern
}

func (*nearPatterns) ListPatterns(context.Context, store.OrgID, store.PatternFilter, store.Page) ([]store.Pattern, string, error) {
	return nil, "", nil
}

func (n *nearPatterns) SimilarPatterns(_ context.Context, _ store.OrgID, f store.PatternFilter, q []float32, k int) ([]store.ScoredPattern, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queries++
	if len(q) == 0 || k < 1 || f.Status != store.PatternActive {
		return nil, nil
	}
	return []store.ScoredPattern{{Pattern: n.near, Similarity: 0.8}}, nil
}

// recordingModel answers every turn with the rule agent and keeps each
// request it was given.
type recordingModel struct {
	mu       sync.Mutex
	requests []ai.ChatRequest
}

func (m *recordingModel) Chat(ctx context.Context, req ai.ChatRequest) (ai.ChatStream, error) {
	m.mu.Lock()
	req.Messages, req.Answers = slices.Clone(req.Messages), slices.Clone(req.Answers)
	m.requests = append(m.requests, req)
	m.mu.Unlock()
	return local.NewRuleAgent().Chat(ctx, req)
}

// all is every request so far.
func (m *recordingModel) all() []ai.ChatRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.requests)
}

// TestTheCallersFirstWordsBringTheirPatterns: after the caller's first
// words, the patterns nearest to them are read in the background, once;
// the reply to those words does not wait for them, the next replies have
// them.
func TestTheCallersFirstWordsBringTheirPatterns(t *testing.T) {
	emb, err := local.NewHashEmbedder(64)
	if err != nil {
		t.Fatal(err)
	}
	src := &nearPatterns{near: store.Pattern{ID: "p1", Trigger: "do you ship to canada", Response: "Yes, within five days."}}
	model := &recordingModel{}
	ts := newTestServerWith(t, nil, func(d *session.Deps) {
		agent := store.DefaultAgent()
		agent.OrgID = "org-a"
		agents, err := store.NewStaticAgents([]store.Agent{agent})
		if err != nil {
			t.Fatal(err)
		}
		d.Agents, d.Chat, d.Patterns, d.Embedder = agents, model, src, emb
	})
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "hello there, a question about shipping|do you ship to canada"})
	p.expect("greeting end mark", 10*time.Second, isMark("t1-end"))
	p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav"))
	p.expect("first reply end mark", 15*time.Second, isMark("t2-end"))
	p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav"))
	p.expect("second reply end mark", 15*time.Second, isMark("t3-end"))
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	sum := ts.summary(t)
	p.close()

	src.mu.Lock()
	queries := src.queries
	src.mu.Unlock()
	if queries != 1 {
		t.Errorf("%d similarity reads, want one after the first words", queries)
	}
	if reqs := model.all(); len(reqs) != 2 || len(reqs[1].Answers) != 1 || reqs[1].Answers[0].Answer != "Yes, within five days." {
		t.Fatalf("answers the model was given per turn: %+v", reqs)
	}
	if !slices.ContainsFunc(sum.Transcript, func(tn session.Turn) bool {
		// What the caller heard of it before the test hung up.
		return tn.Speaker == ai.RoleAssistant && strings.HasPrefix(tn.Text, "Yes, within")
	}) {
		t.Errorf("the second reply did not use the pattern: %+v", sum.Transcript)
	}
}
