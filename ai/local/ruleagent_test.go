package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
)

var testIntents = []ai.Intent{
	{Name: "human", Keywords: []string{"human", "agent", "real person"}, Reply: "Of course, let me connect you with a colleague now.", Action: local.ActionTransfer},
	{Name: "bye", Keywords: []string{"goodbye", "bye"}, Reply: "Thank you for calling, goodbye!", Action: local.ActionEndCall},
	{Name: "hours", Keywords: []string{"opening hours", "open", "don't"}, Reply: "We are open from nine to five, Monday to Friday."},
}

var allTools = []ai.Tool{{Name: local.ToolTransferToHuman}, {Name: local.ToolEndCall}}

// chatAll runs one turn and collects the whole answer.
func chatAll(t *testing.T, req ai.ChatRequest) (text string, calls []ai.ToolCall, deltas int) {
	t.Helper()
	s, err := local.NewRuleAgent().Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, s)
	var b strings.Builder
	for {
		d, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return b.String(), calls, deltas
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) > 0 {
			t.Fatalf("delta %q after the tool calls: tool calls must come in the last delta", d.Text)
		}
		deltas++
		b.WriteString(d.Text)
		calls = append(calls, d.ToolCalls...)
	}
}

func userSays(s string) []ai.Message {
	return []ai.Message{
		{Role: ai.RoleSystem, Content: "You are a receptionist."},
		{Role: ai.RoleAssistant, Content: "Hello, how can I help?"},
		{Role: ai.RoleUser, Content: s},
	}
}

func TestRuleAgentPicksIntents(t *testing.T) {
	const fallback = "I did not catch that."
	tests := []struct {
		name, said, want string
	}{
		{"a keyword followed by more words matches", "human please", testIntents[0].Reply},
		{"matching ignores case and punctuation", "Can I talk to an AGENT?", testIntents[0].Reply},
		{"a plural does not match the singular keyword", "do your agents work weekends", fallback},
		{"a keyword inside a longer word does not match", "that is inhumane", fallback},
		{"a phrase keyword matches the phrase", "I'd like a real person now", testIntents[0].Reply},
		{"a phrase keyword does not match its words apart", "a real nice person", fallback},
		{"the first intent in configuration order wins", "bye, I want a human", testIntents[0].Reply},
		{"a keyword with an apostrophe matches the typographic one", "I don’t know", testIntents[2].Reply},
		{"a keyword does not match a word's part before an apostrophe", "the agent's desk", fallback},
		{"a two-word keyword", "what are your opening hours", testIntents[2].Reply},
		{"no keyword gives the fallback", "the weather is nice", fallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _ := chatAll(t, ai.ChatRequest{Messages: userSays(tt.said), Intents: testIntents, Fallback: fallback})
			if got != tt.want {
				t.Errorf("%q -> %q, want %q", tt.said, got, tt.want)
			}
		})
	}
}

func TestRuleAgentWithoutFallbackUsesDefault(t *testing.T) {
	got, _, _ := chatAll(t, ai.ChatRequest{Messages: userSays("mumble")})
	if got != local.DefaultFallback {
		t.Errorf("got %q, want %q", got, local.DefaultFallback)
	}
}

func TestRuleAgentLooksAtTheLastUserMessage(t *testing.T) {
	msgs := append(userSays("goodbye"), ai.Message{Role: ai.RoleAssistant, Content: "Sorry?"}, ai.Message{Role: ai.RoleUser, Content: "when are you open"})
	got, _, _ := chatAll(t, ai.ChatRequest{Messages: msgs, Intents: testIntents})
	if got != testIntents[2].Reply {
		t.Errorf("got %q, want the hours reply", got)
	}
}

func TestRuleAgentEmitsToolCallsOnlyWhenOffered(t *testing.T) {
	tests := []struct {
		name     string
		said     string
		tools    []ai.Tool
		wantTool string
		reason   string
	}{
		{"transfer when offered", "human please", allTools, local.ToolTransferToHuman, "caller_request"},
		{"end_call when offered", "ok bye", allTools, local.ToolEndCall, "caller said goodbye"},
		{"no transfer when not offered", "human please", []ai.Tool{{Name: local.ToolEndCall}}, "", ""},
		{"no end_call without tools", "ok bye", nil, "", ""},
		{"no call for an intent without action", "are you open", allTools, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, calls, _ := chatAll(t, ai.ChatRequest{Messages: userSays(tt.said), Intents: testIntents, Tools: tt.tools})
			if text == "" {
				t.Error("no reply text")
			}
			if tt.wantTool == "" {
				if len(calls) != 0 {
					t.Errorf("tool calls %+v, want none", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0].Name != tt.wantTool || calls[0].ID != "call_1" {
				t.Fatalf("tool calls %+v, want one %s with id call_1", calls, tt.wantTool)
			}
			var args struct{ Reason string }
			if err := json.Unmarshal([]byte(calls[0].Arguments), &args); err != nil || args.Reason != tt.reason {
				t.Errorf("arguments %s (%v), want reason %q", calls[0].Arguments, err, tt.reason)
			}
		})
	}
}

func TestRuleAgentToolCallIDsAreUniqueInAConversation(t *testing.T) {
	msgs := append(userSays("hi"),
		ai.Message{Role: ai.RoleAssistant, ToolCalls: []ai.ToolCall{{ID: "call_1", Name: "lookup"}}},
		ai.Message{Role: ai.RoleTool, ToolCallID: "call_1", Content: "{}"},
		ai.Message{Role: ai.RoleUser, Content: "bye"})
	_, calls, _ := chatAll(t, ai.ChatRequest{Messages: msgs, Intents: testIntents, Tools: allTools})
	if len(calls) != 1 || calls[0].ID != "call_2" {
		t.Errorf("calls %+v, want one with id call_2", calls)
	}
}

func TestRuleAgentDoesNotAnswerATurnTwice(t *testing.T) {
	msgs := append(userSays("human please"),
		ai.Message{Role: ai.RoleAssistant, ToolCalls: []ai.ToolCall{{ID: "call_1", Name: local.ToolTransferToHuman}}},
		ai.Message{Role: ai.RoleTool, ToolCallID: "call_1", Content: `{"ok":true}`})
	text, calls, _ := chatAll(t, ai.ChatRequest{Messages: msgs, Intents: testIntents, Tools: allTools})
	if text != "" || len(calls) != 0 {
		t.Errorf("answer to a tool result = %q %+v, want nothing", text, calls)
	}
}

func TestRuleAgentStreamsInSeveralDeltas(t *testing.T) {
	text, calls, deltas := chatAll(t, ai.ChatRequest{Messages: userSays("human"), Intents: testIntents, Tools: allTools})
	if text != testIntents[0].Reply {
		t.Errorf("joined deltas = %q, want %q", text, testIntents[0].Reply)
	}
	if deltas < 3 {
		t.Errorf("%d deltas for a %d-word reply, want several", deltas, len(strings.Fields(text)))
	}
	if len(calls) != 1 {
		t.Errorf("calls %+v, want the transfer in the last delta", calls)
	}
}

func TestRuleAgentToolCallWithoutReply(t *testing.T) {
	intents := []ai.Intent{{Keywords: []string{"bye"}, Action: local.ActionEndCall}}
	text, calls, deltas := chatAll(t, ai.ChatRequest{Messages: userSays("bye"), Intents: intents, Tools: allTools})
	if text != "" || len(calls) != 1 || deltas != 1 {
		t.Errorf("got %q, %+v in %d deltas, want only the end_call in one delta", text, calls, deltas)
	}
}

func TestRuleAgentHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := local.NewRuleAgent().Chat(ctx, ai.ChatRequest{Messages: userSays("human"), Intents: testIntents})
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, s)
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for range 3 {
		if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv after cancel = %v, want context.Canceled", err)
		}
	}
	if _, err := local.NewRuleAgent().Chat(ctx, ai.ChatRequest{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Chat with cancelled context = %v, want context.Canceled", err)
	}
}

func TestRuleAgentStreamClose(t *testing.T) {
	s, err := local.NewRuleAgent().Chat(t.Context(), ai.ChatRequest{Messages: userSays("human")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Recv(); !errors.Is(err, local.ErrClosed) {
		t.Errorf("Recv after Close = %v, want ErrClosed", err)
	}
}

// TestRuleAgentAnswersWithAnEarlierCallsAnswer: a question no intent knows
// gets the answer an earlier call was given, when the caller's words hold
// most of that question's; an intent still comes first, and words that
// share too little get the fallback.
func TestRuleAgentAnswersWithAnEarlierCallsAnswer(t *testing.T) {
	answers := []ai.Answer{
		{Question: "do you ship to canada", Answer: "Yes, we ship to Canada within five days."},
		{Question: "can I pay by bank transfer", Answer: "Yes, bank transfers are welcome."},
	}
	intents := []ai.Intent{{Name: "hours", Keywords: []string{"hours"}, Reply: "We are open nine to five."}}
	for _, tc := range []struct{ said, want string }{
		{"hi, do you also ship to Canada?", "Yes, we ship to Canada within five days."},
		{"can i pay with a bank transfer", "Yes, bank transfers are welcome."},
		{"what are your hours, and do you ship to canada", "We are open nine to five."},
		{"do you sell bikes", "Sorry?"},
		{"canada", "Sorry?"},
	} {
		req := ai.ChatRequest{Messages: userSays(tc.said), Intents: intents, Answers: answers, Fallback: "Sorry?"}
		if got, _, _ := chatAll(t, req); got != tc.want {
			t.Errorf("%q: answered %q, want %q", tc.said, got, tc.want)
		}
	}
}
