package learn_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The store backends have what a Learner uses.
var _ learn.Store = store.Store(nil)

// script is a transcript written as "caller: ..." and "agent: ..." lines;
// "agent!: ..." is an agent turn the caller interrupted.
func script(lines ...string) []store.Turn {
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	turns := make([]store.Turn, 0, len(lines))
	for i, l := range lines {
		who, text, _ := strings.Cut(l, ": ")
		t := store.Turn{Seq: i + 1, Text: text, StartedAt: start.Add(time.Duration(i) * 3 * time.Second)}
		t.EndedAt = t.StartedAt.Add(2 * time.Second)
		switch who {
		case "caller":
			t.Speaker = store.SpeakerCaller
		case "agent!":
			t.Speaker, t.Interrupted = store.SpeakerAgent, true
		default:
			t.Speaker = store.SpeakerAgent
		}
		turns = append(turns, t)
	}
	return turns
}

// demo is the built-in agent: greeting, fallback and intents (hours, price,
// address, human with transfer, goodbye with end_call).
var demo = store.DefaultAgent()

// call is a finished call of the demo agent.
func call(id string, outcome store.Outcome, reason string, lines ...string) learn.Call {
	return learn.Call{
		OrgID: "org", AgentID: demo.ID, CallID: store.CallID(id), Outcome: outcome, EscalationReason: reason,
		Turns: script(lines...), Intents: demo.Intents, Greeting: demo.Greeting, Fallback: demo.Fallback,
	}
}
