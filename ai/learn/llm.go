package learn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media/telemetry"
	"github.com/iace/iace/store"
)

// JSONModel answers with one JSON object (a chat model in JSON mode: the
// openai package's JSONClient). It checks that the answer is an object;
// what the object holds is the LLM extractor's to check.
type JSONModel interface {
	CompleteJSON(ctx context.Context, system, user string) ([]byte, error)
}

// Reasons the LLM extractor fell back to the heuristic, the values of the
// reason label.
const (
	fallbackUnavailable = "unavailable" // the provider is down, slow, rate limited, or its breaker is open
	fallbackInvalid     = "invalid"     // an answer that is not the JSON asked for, or a request the provider refused
)

// defaultMaxTranscriptBytes bounds the transcript sent to the model.
const defaultMaxTranscriptBytes = 12 << 10

// LLMConfig configures an LLM extractor.
type LLMConfig struct {
	// MaxTranscriptBytes bounds the transcript sent to the model: the
	// turns from the end that fit (the end is where a call is resolved or
	// handed over). Default 12 KiB.
	MaxTranscriptBytes int
	// Registerer receives iace_learn_llm_fallbacks_total; nil: not
	// registered.
	Registerer prometheus.Registerer
	// Logger logs the fallbacks at warn level; nil: slog.Default().
	Logger *slog.Logger
}

// LLM extracts with a chat model in JSON mode and checks its answer
// strictly (see Extract); when the model fails or its answer does not pass,
// it extracts with the Heuristic instead and counts the fallback.
type LLM struct {
	model     JSONModel
	heuristic Heuristic
	maxBytes  int
	log       *slog.Logger
	fallbacks *prometheus.CounterVec
	n         atomic.Uint64
}

// NewLLM builds an LLM extractor over model.
func NewLLM(model JSONModel, cfg LLMConfig) (*LLM, error) {
	if model == nil {
		return nil, errors.New("learn: no model")
	}
	if cfg.MaxTranscriptBytes < 0 {
		return nil, errors.New("learn: negative max transcript bytes")
	}
	if cfg.MaxTranscriptBytes == 0 {
		cfg.MaxTranscriptBytes = defaultMaxTranscriptBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c, err := telemetry.Register(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "learn",
		Name: "llm_fallbacks_total",
		Help: "Calls whose patterns the heuristic extracted because the LLM extractor failed, by reason (unavailable, invalid)."},
		[]string{"reason"}))
	if err != nil {
		return nil, fmt.Errorf("learn: metrics: %w", err)
	}
	for _, r := range []string{fallbackUnavailable, fallbackInvalid} {
		c.WithLabelValues(r) // exported as 0 from the start
	}
	return &LLM{model: model, maxBytes: cfg.MaxTranscriptBytes, log: cfg.Logger, fallbacks: c}, nil
}

// Fallbacks is how many calls the heuristic extracted instead of the model.
func (x *LLM) Fallbacks() uint64 { return x.n.Load() }

// llmPrompt asks for JSON: Groq's JSON mode requires the prompt to.
const llmPrompt = `You read the transcript of a finished phone call between a caller and a company's AI phone agent, and extract what the agent should learn from it.
Answer with a JSON object only, exactly {"patterns": [{"kind": "...", "trigger": "...", "response": "..."}]}, with at most 3 patterns, or {"patterns": []} when there is nothing to learn.
If the call was resolved, each pattern is a question or request of the caller that the agent answered: kind "faq"; trigger the caller's question, in the caller's own words, shortened to one sentence; response the agent's answer, in the agent's own words, shortened.
If the call was escalated to a human, give one pattern: kind "escalation"; trigger what the caller said that led to the transfer, in the caller's own words; response why the call went to a human, in a few words.
Skip greetings, small talk, thanks, goodbyes and anything the agent did not understand. Leave out names, numbers, addresses and anything else personal.`

// Extract asks the model. Its answer passes only if it is the object asked
// for: a "patterns" array of at most MaxCandidates objects (one for an
// escalated call), each with a kind that is the call's (KindFAQ for a
// resolved call, KindEscalation for an escalated one), a trigger of at
// most MaxTriggerLen bytes and, for KindFAQ, a response of at most
// MaxResponseLen bytes, all strings; and each trigger must be the caller's
// words and each response the agent's: at least half the words of either
// that are not small talk must have been said by that side of the call, so
// a model's inventions are not learned. What passes is cleaned as the
// heuristic cleans; an escalation's response is the call's escalation
// reason when it has one.
//
// When the model fails, or its answer does not pass, Extract returns the
// Heuristic's candidates, logs why and counts it; it returns an error only
// when ctx ends. Abandoned and failed calls, and calls without a caller's
// word, are not sent.
func (x *LLM) Extract(ctx context.Context, c Call) ([]Candidate, error) {
	if c.Outcome != store.OutcomeResolved && c.Outcome != store.OutcomeEscalated {
		return nil, nil
	}
	user, ok := x.transcript(&c)
	if !ok {
		return nil, nil
	}
	data, err := x.model.CompleteJSON(ctx, llmPrompt, user)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("learn: extract: %w", context.Cause(ctx))
		}
		reason := fallbackInvalid
		if errors.Is(err, ai.ErrUnavailable) {
			reason = fallbackUnavailable
		}
		return x.fallback(ctx, c, reason, err)
	}
	cands, err := parseCandidates(data, &c)
	if err != nil {
		return x.fallback(ctx, c, fallbackInvalid, err)
	}
	return cands, nil
}

func (x *LLM) fallback(ctx context.Context, c Call, reason string, err error) ([]Candidate, error) {
	x.n.Add(1)
	x.fallbacks.WithLabelValues(reason).Inc()
	// The error names the provider's status or the rule the answer broke,
	// never the transcript.
	x.log.LogAttrs(ctx, slog.LevelWarn, "learning falls back to the heuristic extractor",
		slog.String("org", string(c.OrgID)), slog.String("call_id", string(c.CallID)),
		slog.String("reason", reason), slog.Any("err", err))
	return x.heuristic.Extract(ctx, c)
}

// transcript is the model's user message: the outcome, then the turns from
// the end that fit in maxBytes, one a line. It reports false when the
// caller said nothing.
func (x *LLM) transcript(c *Call) (string, bool) {
	turns := c.turns()
	var lines []string
	size, caller := 0, false
	for i := len(turns) - 1; i >= 0; i-- {
		t := turns[i]
		line := string(t.Speaker) + ": " + strings.Join(strings.Fields(t.Text), " ")
		if t.Interrupted {
			line += " [interrupted by the caller]"
		}
		if size+len(line)+1 > x.maxBytes {
			break
		}
		size += len(line) + 1
		lines = append(lines, line)
		caller = caller || t.Speaker == store.SpeakerCaller
	}
	if !caller {
		return "", false
	}
	var b strings.Builder
	if c.Outcome == store.OutcomeResolved {
		b.WriteString("The call was resolved.\n")
	} else {
		fmt.Fprintf(&b, "The call was escalated to a human (reason: %s).\n", escalationResponse(c))
	}
	b.WriteString("Transcript:\n")
	for i := len(lines) - 1; i >= 0; i-- {
		b.WriteString(lines[i])
		b.WriteByte('\n')
	}
	return b.String(), true
}

// llmAnswer is the model's JSON; a pointer tells a missing field from an
// empty one.
type llmAnswer struct {
	Patterns *[]llmPattern `json:"patterns"`
}

type llmPattern struct {
	Kind     *string `json:"kind"`
	Trigger  *string `json:"trigger"`
	Response *string `json:"response"`
}

// parseCandidates checks the model's answer for c (see LLM.Extract).
func parseCandidates(data []byte, c *Call) ([]Candidate, error) {
	var a llmAnswer
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	if a.Patterns == nil {
		return nil, errors.New(`"patterns" is missing`)
	}
	ps := *a.Patterns
	kind, most := KindFAQ, MaxCandidates
	if c.Outcome == store.OutcomeEscalated {
		kind, most = KindEscalation, 1
	}
	if len(ps) > most {
		return nil, fmt.Errorf("%d patterns, at most %d for a %s call", len(ps), most, c.Outcome)
	}
	callerWords, agentWords := spoken(c)
	out := make([]Candidate, 0, len(ps))
	for i, p := range ps {
		switch {
		case p.Kind == nil || p.Trigger == nil || (kind == KindFAQ && p.Response == nil):
			return nil, fmt.Errorf("pattern %d: kind, trigger and response are required", i+1)
		case *p.Kind != kind:
			return nil, fmt.Errorf("pattern %d: kind %q in a %s call", i+1, *p.Kind, c.Outcome)
		case len(*p.Trigger) > MaxTriggerLen:
			return nil, fmt.Errorf("pattern %d: trigger of %d bytes, at most %d", i+1, len(*p.Trigger), MaxTriggerLen)
		case !grounded(*p.Trigger, callerWords):
			return nil, fmt.Errorf("pattern %d: the trigger is not the caller's words", i+1)
		}
		cand := Candidate{Kind: kind, Trigger: clean(*p.Trigger, MaxTriggerLen), Response: escalationResponse(c)}
		if kind == KindFAQ {
			switch {
			case len(*p.Response) > MaxResponseLen:
				return nil, fmt.Errorf("pattern %d: response of %d bytes, at most %d", i+1, len(*p.Response), MaxResponseLen)
			case !grounded(*p.Response, agentWords):
				return nil, fmt.Errorf("pattern %d: the response is not the agent's words", i+1)
			}
			cand.Response = clean(*p.Response, MaxResponseLen)
		}
		if asked(out, cand.Trigger) {
			continue
		}
		out = append(out, cand)
	}
	return out, nil
}

// spoken are the words each side of the call said.
func spoken(c *Call) (caller, agent map[string]bool) {
	caller, agent = map[string]bool{}, map[string]bool{}
	for _, t := range c.Turns {
		side := agent
		if t.Speaker == store.SpeakerCaller {
			side = caller
		}
		for _, w := range words(t.Text) {
			side[w] = true
		}
	}
	return caller, agent
}

// grounded reports whether text has words other than small talk and at
// least half of them are in said.
func grounded(text string, said map[string]bool) bool {
	n, in := 0, 0
	for _, w := range words(text) {
		if smallTalk[w] {
			continue
		}
		n++
		if said[w] {
			in++
		}
	}
	return n > 0 && 2*in >= n
}
