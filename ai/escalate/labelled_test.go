package escalate_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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
// and labelled, and how to read the figures this test logs.
//
// The development sets, which the rules, the policy and the lexicon were
// chosen on:
//   - conversations.json, the first 52 calls, written before the
//     recommended rules existed;
//   - dev_added.json, 31 calls written for the hard cases of issue 10
//     before round 1 changed the policy against them;
//   - dev_heldout1.json, 47 calls held out for round 1 (then heldout.json,
//     pinned by its SHA-256) and development since round 2;
//   - dev_round2.json, 44 calls in fresh wording, written at the start of
//     round 2 before any change of that round;
//   - dev_heldout2.json, 66 calls written blind and held out for round 2
//     (then heldout2.json, pinned by its SHA-256), development since
//     round 3;
//   - dev_heldout3.json, 70 calls written blind and held out for round 3
//     (then heldout3.json, pinned by its SHA-256), development since
//     round 4;
//   - dev_heldout4.json, 80 calls written blind and held out for round 4
//     (then heldout4.json, pinned by its SHA-256), development since
//     round 5;
//   - dev_heldout5.json, 80 calls written blind and held out for round 5
//     (then heldout5.json, pinned by its SHA-256), development since
//     round 6;
//   - dev_heldout6.json, 80 calls written blind and held out for round 6
//     (then heldout6.json, pinned by its SHA-256), development since the
//     words model.
//
// The words model (words.go) is trained on every development file, so the
// development figures are measured for the rules alone (the recommended
// rules without the words model) and only logged with the model.
//
// The held-out sets, heldout7.json and heldout8.json, are written by
// others who have not seen the policy, the lexicon or these files, and
// used to choose nothing. The test pins each by its SHA-256 and holds the
// rules alone and the recommended rules to what was measured on it
// (heldoutSets); without a file it says so.
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

// floor is the least precision and recall a set must keep: what the
// recommended rules reach on it with the lexicon.
type floor struct{ precision, recall float64 }

// devSets are the development files, in the order they were written, each
// with the figures held on it after round 6 (the confusion counts TP / FN
// / FP / TN, and the figures of every round, are in testdata/README.md).
var devSets = []struct {
	file string
	floor
}{
	{"conversations.json", floor{1.00, 0.96}}, // 24 / 1 / 0 / 27: 1.000, 0.960
	{"dev_added.json", floor{1.00, 1.00}},     // 16 / 0 / 0 / 15: 1.000, 1.000
	{"dev_heldout1.json", floor{1.00, 1.00}},  // 24 / 0 / 0 / 23: 1.000, 1.000
	{"dev_round2.json", floor{1.00, 0.95}},    // 21 / 1 / 0 / 22: 1.000, 0.955
	{"dev_heldout2.json", floor{1.00, 1.00}},  // 32 / 0 / 0 / 34: 1.000, 1.000
	{"dev_heldout3.json", floor{0.97, 1.00}},  // 35 / 0 / 1 / 34: 0.972, 1.000
	{"dev_heldout4.json", floor{1.00, 1.00}},  // 40 / 0 / 0 / 40: 1.000, 1.000
	{"dev_heldout5.json", floor{1.00, 0.97}},  // 39 / 1 / 0 / 40: 1.000, 0.975
	{"dev_heldout6.json", floor{0.93, 0.67}},  // 27 / 13 / 2 / 38: 0.931, 0.675 (blind, round 6)
}

// devFloor holds the development files together: 258 of 261 escalations
// right, 258 of 274 found (0.989, 0.942).
var devFloor = floor{0.98, 0.94}

// heldoutSets are the held-out sets of the words model, each written
// blind by another author and run once, pinned by its SHA-256, with what
// the rules alone and the recommended rules must keep on it: what was
// measured (testdata/README.md).
var heldoutSets = []struct {
	file, sha256      string
	rulesFloor, floor floor
}{
	// 100 calls. Rules alone 25 / 25 / 2 / 48: 0.926, 0.500; recommended
	// 45 / 5 / 4 / 46: 0.918, 0.900.
	{"testdata/heldout7.json", "0779fdd276f805f1c9daa2537f1e7a113ed4bc58bfe3f72c15262d29daa6a2bf",
		floor{0.92, 0.50}, floor{0.91, 0.90}},
	// 100 calls, written after the model was committed, from guidance
	// that also asked for grumbles that settle and bereavements long past.
	// Rules alone 28 / 22 / 4 / 46: 0.875, 0.560; recommended 46 / 4 / 6 /
	// 44: 0.885, 0.920.
	{"testdata/heldout8.json", "4ae7b9157446ded8775d351ca4213c6f73b114ffd3abf9cdbab9820b0fd1d003",
		floor{0.87, 0.56}, floor{0.88, 0.92}},
}

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
func judge(t *testing.T, c labelled, rules store.EscalationRules) verdict {
	t.Helper()
	lex := local.NewLexiconSentiment()
	p := escalate.New(rules)
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
func evaluate(t *testing.T, name string, set []labelled, rules store.EscalationRules) confusion {
	t.Helper()
	var c confusion
	var missed []string
	for _, conv := range set {
		v := judge(t, conv, rules)
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
	full := escalate.RecommendedRules()
	rules := full
	rules.WordsRiskAbove = 0 // the keyword rules, topics and lexicon alone
	t.Logf("recommended rules: %+v", full)

	var dev []labelled
	for _, d := range devSets {
		set := loadLabelled(t, "testdata/"+d.file)
		name := "development, " + d.file + ", rules alone"
		hold(t, name, evaluate(t, name, set, rules), d.floor)
		dev = append(dev, set...)
	}
	checkIDs(t, dev)
	if len(dev) < minLabelled {
		t.Fatalf("development set: %d conversations, want at least %d", len(dev), minLabelled)
	}
	hold(t, "development set, rules alone", evaluate(t, "development set, rules alone", dev, rules), devFloor)
	// the words model was trained on these calls: its figures here are no
	// measurement, and held to nothing
	evaluate(t, "development set, with the words model (trained on it)", dev, full)

	ids := make(map[string]bool, len(dev))
	for _, c := range dev {
		ids[c.ID] = true
	}
	var all []labelled
	for _, h := range heldoutSets {
		b, err := os.ReadFile(h.file)
		if errors.Is(err, fs.ErrNotExist) {
			t.Logf("%s is not there: no held-out measurement", h.file)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != h.sha256 {
			t.Fatalf("%s has changed (sha256 %x): a held-out set is not to be edited", h.file, sum)
		}
		heldout := decodeLabelled(t, h.file, b)
		if len(heldout) < minLabelled {
			t.Fatalf("%s: %d conversations, want at least %d", h.file, len(heldout), minLabelled)
		}
		for _, c := range heldout {
			if ids[c.ID] {
				t.Logf("%s: id %q is also a development id", h.file, c.ID)
			}
		}
		hold(t, h.file+", rules alone", evaluate(t, "held-out set, rules alone, "+h.file, heldout, rules), h.rulesFloor)
		hold(t, h.file+", recommended rules", evaluate(t, "held-out set, recommended rules, "+h.file, heldout, full), h.floor)
		all = append(all, heldout...)
	}
	if len(all) == 0 {
		return
	}
	checkIDs(t, all)
	evaluate(t, "held-out sets together, rules alone", all, rules)
	hold(t, "held-out sets together, recommended rules", evaluate(t, "held-out sets together, recommended rules", all, full), heldoutFloor)
}

// heldoutFloor holds the held-out sets together under the recommended
// rules: 91 / 9 / 10 / 90 of 200 calls, 0.901 and 0.910.
var heldoutFloor = floor{0.90, 0.91}

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
