package learn_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/store"
)

func TestHeuristic(t *testing.T) {
	hours := demo.Intents[0].Reply
	tests := []struct {
		name string
		call learn.Call
		want []learn.Candidate
	}{
		{
			"a resolved call teaches its question and the answer, not the greeting or goodbye",
			call("c1", store.OutcomeResolved, "",
				"agent: "+demo.Greeting,
				"caller: Hi there.",
				"caller: What are your opening hours on weekdays?",
				"agent: "+hours,
				"caller: Great, thank you so much. Bye!",
				"agent: Thanks for calling. Goodbye!"),
			[]learn.Candidate{{Kind: learn.KindFAQ, Trigger: "What are your opening hours on weekdays?", Response: hours}},
		},
		{
			"the fallback answers nothing, the question asked again is learned",
			call("c2", store.OutcomeResolved, "",
				"caller: Do you blorp the frobnicator?",
				"agent: "+demo.Fallback,
				"caller: How much does the basic plan cost?",
				"agent: "+demo.Intents[1].Reply,
				"caller: OK thanks, that's all.",
				"agent: You're welcome!"),
			[]learn.Candidate{{Kind: learn.KindFAQ, Trigger: "How much does the basic plan cost?", Response: demo.Intents[1].Reply}},
		},
		{
			"a model's own answer is learned, cleaned of what looks personal",
			call("c3", store.OutcomeResolved, "",
				"caller: Where is my order 48213 for jane@example.com?",
				"agent: Order 48213 left our warehouse today and arrives within two days.",
				"agent: Anything else?",
				"caller: No thanks."),
			[]learn.Candidate{{Kind: learn.KindFAQ, Trigger: "Where is my order [number] for [email]",
				Response: "Order [number] left our warehouse today and arrives within two days."}},
		},
		{
			"an interrupted answer is not learned, nor a question asked twice",
			call("c4", store.OutcomeResolved, "",
				"caller: Where is your office located?",
				"agent!: We are at one hundred",
				"caller: Where is your office located?",
				"agent: "+demo.Intents[2].Reply,
				"caller: Where is your office located?",
				"agent: "+demo.Intents[2].Reply),
			[]learn.Candidate{{Kind: learn.KindFAQ, Trigger: "Where is your office located?", Response: demo.Intents[2].Reply}},
		},
		{
			"an escalated call teaches what the caller said before the hand-over",
			call("c5", store.OutcomeEscalated, string(store.EscalationKeyword),
				"agent: "+demo.Greeting,
				"caller: You charged my card twice and I want my money back now.",
				"agent: I'm sorry to hear that. Let me look.",
				"caller: Get me a real person.",
				"agent: "+demo.Intents[3].Reply,
				"caller: Thanks."),
			[]learn.Candidate{{Kind: learn.KindEscalation, Trigger: "Get me a real person.", Response: "keyword"}},
		},
		{
			"an escalation without a hand-over reply takes the caller's last words",
			call("c6", store.OutcomeEscalated, "",
				"caller: This is the third time I call about the broken router.",
				"agent: I understand."),
			[]learn.Candidate{{Kind: learn.KindEscalation, Trigger: "This is the third time I call about the broken router.", Response: "escalated"}},
		},
		{
			"an escalation on a silent caller teaches nothing",
			call("c7", store.OutcomeEscalated, "dtmf", "agent: "+demo.Greeting, "caller: Um."),
			nil,
		},
		{
			"an abandoned call teaches nothing",
			call("c8", store.OutcomeAbandoned, "", "caller: What are your opening hours?", "agent: "+hours),
			nil,
		},
		{
			"small talk answered is not a question",
			call("c9", store.OutcomeResolved, "", "caller: Hello, good morning!", "agent: Good morning to you, how can I help?"),
			nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := learn.Heuristic{}.Extract(context.Background(), tt.call)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("candidates:\n got  %+v\n want %+v", got, tt.want)
			}
			// The order the turns come in does not matter.
			rev := tt.call
			rev.Turns = slices.Clone(rev.Turns)
			slices.Reverse(rev.Turns)
			if again, _ := (learn.Heuristic{}).Extract(context.Background(), rev); !reflect.DeepEqual(again, got) {
				t.Errorf("with the turns reversed: %+v", again)
			}
		})
	}
}

func TestHeuristicKeepsAtMostMaxCandidates(t *testing.T) {
	var lines []string
	for _, q := range []string{"What are your opening hours?", "How much is the basic plan?", "Where is your office located?",
		"Do you deliver to Canada?", "Can I pay by invoice?"} {
		lines = append(lines, "caller: "+q, "agent: Let me answer that question for you now.")
	}
	got, _ := learn.Heuristic{}.Extract(context.Background(), call("c", store.OutcomeResolved, "", lines...))
	if len(got) != learn.MaxCandidates || got[0].Trigger != "What are your opening hours?" {
		t.Errorf("candidates %+v: want the first %d", got, learn.MaxCandidates)
	}
}
