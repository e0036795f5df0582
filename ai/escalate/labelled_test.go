package escalate_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/iace/iace/ai/escalate"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/store"
)

// The labelled sets in testdata are scripted phone calls to a
// customer-service agent, each labelled escalate or not as a shift
// supervisor would decide; testdata/README.md says how they were written
// and labelled, and how to read the figures this test logs:
//
//   - conversations.json, the development set's first 52 calls, written
//     before the recommended rules existed; the figures the rules had on
//     it before this round of work are in the README;
//   - dev_added.json, 31 more development calls written for the hard
//     cases of issue 10 before the policy was changed against them;
//   - heldout.json, 47 calls written before any change to the policy, the
//     lexicon or the rules, and not used to choose one; pinned by its
//     SHA-256 so that it cannot drift.
//
// The test holds every figure it reaches, so that a change that loses
// ground on any set fails, and it logs what each set's misclassified
// calls were scored.

// labelled is one conversation of the set.
type labelled struct {
	ID       string `json:"id"`
	Escalate *bool  `json:"escalate"`
	Why      string `json:"why"`
	Turns    []struct {
		Caller   string `json:"caller"`
		Fallback *bool  `json:"fallback"`
	} `json:"turns"`
}

// minLabelled is the size each of the development and held-out sets must
// keep (issue 10 asks for 40).
const minLabelled = 40

// targetFigure is what issue 10 asks of both precision and recall.
const targetFigure = 0.9

// heldoutSHA256 pins testdata/heldout.json: the held-out set is not edited.
const heldoutSHA256 = "33d1249687ec20197c43948940058041af97bc4451ad89baf9ef087b5cbfe3f2"

// floor is the least precision and recall a set must keep: what the
// recommended rules reach on it with the lexicon.
type floor struct{ precision, recall float64 }

// The figures held, with the confusion counts they come from.
var (
	// development set, both files: 38 of 39 escalations right, 38 of 41
	// found (0.974, 0.927).
	devFloor = floor{0.97, 0.92}
	// held-out set: 21 of 24 escalations right, 21 of 24 found (0.875,
	// 0.875), short of the 0.9 of issue 10. Its first run gave 19 of 22
	// and 19 of 24 (0.864, 0.792); the one round of changes made after it
	// is in testdata/README.md.
	heldoutFloor = floor{0.87, 0.87}
)

func loadLabelled(t *testing.T, path string) []labelled {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeLabelled(t, path, b)
}

func decodeLabelled(t *testing.T, path string, b []byte) []labelled {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var set []labelled
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := make(map[string]bool, len(set))
	for _, c := range set {
		switch {
		case c.ID == "" || seen[c.ID]:
			t.Fatalf("conversation id %q is empty or repeated", c.ID)
		case c.Escalate == nil || strings.TrimSpace(c.Why) == "" || len(c.Turns) == 0:
			t.Fatalf("%s: escalate, why and turns are required", c.ID)
		}
		seen[c.ID] = true
		for i, turn := range c.Turns {
			if strings.TrimSpace(turn.Caller) == "" || turn.Fallback == nil {
				t.Fatalf("%s turn %d: caller and fallback are required", c.ID, i+1)
			}
		}
	}
	return set
}

// verdict is what the policy decided on one conversation.
type verdict struct {
	reason store.EscalationReason // the first reason that fired, or ""
	turn   int                    // the caller turn it fired on, from 1
	scores []float64              // the lexicon scores of the turns fed
}

func (v verdict) String() string {
	if v.reason == "" {
		return "kept"
	}
	return fmt.Sprintf("%s at turn %d", v.reason, v.turn)
}

// judge runs a conversation through a policy under the recommended rules,
// fed as the session feeds it: the caller's words, their lexicon score,
// then whether the agent's reply was its fallback.
func judge(t *testing.T, c labelled) verdict {
	t.Helper()
	lex := local.NewLexiconSentiment()
	p := escalate.New(escalate.RecommendedRules())
	var v verdict
	for i, turn := range c.Turns {
		s, err := lex.Score(t.Context(), turn.Caller)
		if err != nil {
			t.Fatalf("%s: score: %v", c.ID, err)
		}
		v.scores = append(v.scores, s.Score)
		for _, r := range []store.EscalationReason{
			p.CallerSaid(turn.Caller),
			p.Scored(s.Score),
			p.AgentReplied(*turn.Fallback),
		} {
			if r != "" {
				v.reason, v.turn = r, i+1
				return v
			}
		}
	}
	return v
}

// confusion counts a policy's decisions against the labels.
type confusion struct{ tp, fp, fn, tn int }

func (c confusion) precision() float64 { return float64(c.tp) / float64(max(1, c.tp+c.fp)) }
func (c confusion) recall() float64    { return float64(c.tp) / float64(max(1, c.tp+c.fn)) }

// evaluate runs every conversation of set and logs the figures and the
// misclassified calls under name.
func evaluate(t *testing.T, name string, set []labelled) confusion {
	t.Helper()
	var c confusion
	var missed []string
	for _, conv := range set {
		v := judge(t, conv)
		want, got := *conv.Escalate, v.reason != ""
		switch {
		case want && got:
			c.tp++
		case !want && got:
			c.fp++
		case want && !got:
			c.fn++
		default:
			c.tn++
		}
		if want != got {
			missed = append(missed, fmt.Sprintf("%s: labelled escalate=%v, policy %v, scores %.2f; why: %s", conv.ID, want, v, v.scores, conv.Why))
		}
	}
	t.Logf("%s: %d conversations, escalate %d, keep %d", name, len(set), c.tp+c.fn, c.fp+c.tn)
	t.Logf("  %-16s policy escalates   policy keeps", "")
	t.Logf("  %-16s %16d   %12d", "label escalate", c.tp, c.fn)
	t.Logf("  %-16s %16d   %12d", "label keep", c.fp, c.tn)
	t.Logf("  precision %.3f  recall %.3f", c.precision(), c.recall())
	for _, m := range missed {
		t.Logf("  misclassified: %s", m)
	}
	return c
}

// hold fails the test when a set's figures fall below its floor, and logs
// whether they reach the target of issue 10.
func hold(t *testing.T, name string, c confusion, f floor) {
	t.Helper()
	if c.precision() < targetFigure || c.recall() < targetFigure {
		t.Logf("%s: short of the target of issue 10 (%.1f for both)", name, targetFigure)
	}
	if c.precision() < f.precision || c.recall() < f.recall {
		t.Errorf("%s: precision %.3f, recall %.3f: want at least %.2f and %.2f", name, c.precision(), c.recall(), f.precision, f.recall)
	}
}

func TestLabelledConversations(t *testing.T) {
	t.Logf("recommended rules: %+v", escalate.RecommendedRules())

	first := loadLabelled(t, "testdata/conversations.json")
	added := loadLabelled(t, "testdata/dev_added.json")
	dev := append(append([]labelled(nil), first...), added...)
	checkIDs(t, dev)
	if len(dev) < minLabelled {
		t.Fatalf("development set: %d conversations, want at least %d", len(dev), minLabelled)
	}
	evaluate(t, "development, conversations.json", first)
	evaluate(t, "development, dev_added.json", added)
	hold(t, "development set", evaluate(t, "development set", dev), devFloor)

	b, err := os.ReadFile("testdata/heldout.json")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != heldoutSHA256 {
		t.Fatalf("testdata/heldout.json has changed (sha256 %x): the held-out set is not to be edited", sum)
	}
	heldout := decodeLabelled(t, "testdata/heldout.json", b)
	if len(heldout) < minLabelled {
		t.Fatalf("held-out set: %d conversations, want at least %d", len(heldout), minLabelled)
	}
	hold(t, "held-out set", evaluate(t, "held-out set", heldout), heldoutFloor)
}

// checkIDs fails on an id that two files of one set share.
func checkIDs(t *testing.T, set []labelled) {
	t.Helper()
	seen := make(map[string]bool, len(set))
	for _, c := range set {
		if seen[c.ID] {
			t.Fatalf("conversation id %q is repeated", c.ID)
		}
		seen[c.ID] = true
	}
}
