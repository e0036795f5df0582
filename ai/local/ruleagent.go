package local

import (
	"context"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/iace/iace/ai"
)

// Intent actions the rule agent turns into tool calls (ai.Intent.Action).
const (
	ActionTransfer = "transfer"
	ActionEndCall  = "end_call"
)

// Tool names the rule agent calls, the same the cloud models are offered.
const (
	ToolTransferToHuman = "transfer_to_human"
	ToolEndCall         = "end_call"
)

// DefaultFallback is the rule agent's answer when no intent matches and the
// request carries no Fallback of its own.
const DefaultFallback = "Sorry, could you say that again?"

// ruleWordsPerDelta is how many words each streamed delta carries, so the
// session's sentence splitter sees text arrive in pieces as from a real model.
const ruleWordsPerDelta = 3

// RuleAgent is an offline chat model that answers from the agent's configured
// intents (ai.ChatRequest.Intents) instead of a language model. It reads the
// last user message; the first intent (in configuration order) with a keyword
// in it gives the reply, and its Action becomes a tool call if the request
// offers that tool. Keywords match whole words, case-insensitively: "agent"
// matches "an agent, please" but not "agents" (no stemming: list each form you
// want), and a keyword of several words matches only that phrase. When no
// intent matches, the answer of an earlier call (ai.ChatRequest.Answers)
// whose question's words of three letters or more the caller mostly said
// (60 %, two words at least) gives the reply. The answer is deterministic.
type RuleAgent struct{}

// NewRuleAgent returns a rule-based chat model.
func NewRuleAgent() *RuleAgent { return &RuleAgent{} }

// Chat answers the conversation's last user message. If that message was
// already answered (an assistant or tool message follows it, as when a tool
// result is fed back) or there is no user message, the answer is empty.
func (*RuleAgent) Chat(ctx context.Context, req ai.ChatRequest) (ai.ChatStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &RuleStream{
		deltas: answer(req),
		ctxErr: ctx.Err,
	}, nil
}

// answer computes the whole streamed answer of one turn.
func answer(req ai.ChatRequest) []ai.ChatDelta {
	utterance, ok := lastUnansweredUser(req.Messages)
	if !ok {
		return nil
	}
	text := req.Fallback
	if text == "" {
		text = DefaultFallback
	}
	var call *ai.ToolCall
	if in, ok := matchIntent(req.Intents, utterance); ok {
		text = in.Reply
		call = actionCall(in.Action, req)
		if text == "" && call == nil {
			text = req.Fallback
			if text == "" {
				text = DefaultFallback
			}
		}
	} else if a, ok := matchAnswer(req.Answers, utterance); ok {
		text = a.Answer
	}
	deltas := splitWords(text, ruleWordsPerDelta)
	if call != nil {
		if len(deltas) == 0 {
			deltas = append(deltas, ai.ChatDelta{})
		}
		deltas[len(deltas)-1].ToolCalls = []ai.ToolCall{*call}
	}
	return deltas
}

// minAnswerShare is how much of an answer's question (its words of three
// letters or more) the caller's words must hold for the rule agent to give
// that answer; minAnswerWords how many such words at least.
const (
	minAnswerShare = 0.6
	minAnswerWords = 2
)

// matchAnswer returns the answer whose question the utterance matches
// best, if one matches enough.
func matchAnswer(answers []ai.Answer, utterance string) (ai.Answer, bool) {
	said := map[string]bool{}
	for _, w := range tokenize(utterance) {
		said[w] = true
	}
	best, bestShare := -1, 0.0
	for i, a := range answers {
		var n, of int
		for _, w := range tokenize(a.Question) {
			if len(w) < 3 {
				continue
			}
			of++
			if said[w] {
				n++
			}
		}
		if of == 0 || n < minAnswerWords || strings.TrimSpace(a.Answer) == "" {
			continue
		}
		if share := float64(n) / float64(of); share >= minAnswerShare && share > bestShare {
			best, bestShare = i, share
		}
	}
	if best < 0 {
		return ai.Answer{}, false
	}
	return answers[best], true
}

// lastUnansweredUser returns the content of the last user message if no
// assistant or tool message follows it.
func lastUnansweredUser(msgs []ai.Message) (string, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		switch msgs[i].Role {
		case ai.RoleUser:
			return msgs[i].Content, true
		case ai.RoleAssistant, ai.RoleTool:
			return "", false
		}
	}
	return "", false
}

// matchIntent returns the first intent with a keyword in the utterance.
func matchIntent(intents []ai.Intent, utterance string) (ai.Intent, bool) {
	words := tokenize(utterance)
	for _, in := range intents {
		for _, kw := range in.Keywords {
			if containsPhrase(words, tokenize(kw)) {
				return in, true
			}
		}
	}
	return ai.Intent{}, false
}

// tokenize lowercases s and splits it into words: runs of letters and digits,
// with apostrophes inside a word kept ("don't" is one word).
func tokenize(s string) []string {
	s = strings.ToLower(strings.ReplaceAll(s, "\u2019", "'"))
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
	words := fields[:0]
	for _, f := range fields {
		if f = strings.Trim(f, "'"); f != "" {
			words = append(words, f)
		}
	}
	return words
}

// containsPhrase reports whether phrase occurs as consecutive words of words.
func containsPhrase(words, phrase []string) bool {
	if len(phrase) == 0 {
		return false
	}
outer:
	for i := 0; i+len(phrase) <= len(words); i++ {
		for j, p := range phrase {
			if words[i+j] != p {
				continue outer
			}
		}
		return true
	}
	return false
}

// actionCall returns the tool call an intent action asks for, or nil if there
// is none or the request does not offer the tool.
func actionCall(action string, req ai.ChatRequest) *ai.ToolCall {
	var name, args string
	switch action {
	case ActionTransfer:
		name, args = ToolTransferToHuman, `{"reason":"caller_request"}`
	case ActionEndCall:
		name, args = ToolEndCall, `{"reason":"caller said goodbye"}`
	default:
		return nil
	}
	offered := false
	for _, t := range req.Tools {
		if t.Name == name {
			offered = true
			break
		}
	}
	if !offered {
		return nil
	}
	return &ai.ToolCall{ID: nextCallID(req.Messages), Name: name, Arguments: args}
}

// nextCallID numbers tool calls through the conversation ("call_1", "call_2",
// ...) so ids are deterministic and unique within one call's history.
func nextCallID(msgs []ai.Message) string {
	n := 1
	for _, m := range msgs {
		n += len(m.ToolCalls)
	}
	return "call_" + strconv.Itoa(n)
}

// splitWords cuts text into deltas of n words each. Each piece keeps the
// spacing that follows its words, so the pieces join back into text exactly.
func splitWords(text string, n int) []ai.ChatDelta {
	var deltas []ai.ChatDelta
	start, words, inWord := 0, 0, false
	for i, r := range text {
		space := unicode.IsSpace(r)
		switch {
		case !space && !inWord:
			if words == n {
				deltas = append(deltas, ai.ChatDelta{Text: text[start:i]})
				start, words = i, 0
			}
			words++
			inWord = true
		case space:
			inWord = false
		}
	}
	if start < len(text) {
		deltas = append(deltas, ai.ChatDelta{Text: text[start:]})
	}
	return deltas
}

// RuleStream yields a RuleAgent answer piece by piece.
type RuleStream struct {
	deltas []ai.ChatDelta
	next   int
	closed bool
	// ctxErr is the Err method of the Chat call's context: once it is
	// cancelled, Recv reports it instead of the remaining pieces.
	ctxErr func() error
}

// Recv returns the next piece of the answer, io.EOF after the last, or the
// context's error once the Chat context is cancelled.
func (s *RuleStream) Recv() (ai.ChatDelta, error) {
	if s.closed {
		return ai.ChatDelta{}, ErrClosed
	}
	if err := s.ctxErr(); err != nil {
		return ai.ChatDelta{}, err
	}
	if s.next == len(s.deltas) {
		return ai.ChatDelta{}, io.EOF
	}
	d := s.deltas[s.next]
	s.next++
	return d, nil
}

// Close ends the stream. It is idempotent.
func (s *RuleStream) Close() error {
	s.closed = true
	return nil
}
