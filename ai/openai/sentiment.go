package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/iace/iace/ai"
)

// Defaults of SentimentConfig.
const (
	defaultSentimentTimeout   = 3 * time.Second
	defaultSentimentTextBytes = 2000
	defaultSentimentMaxTokens = 300
	maxSentimentAnswer        = 64 << 10
)

// sentimentPrompt asks for JSON: Groq's JSON mode requires the prompt to
// (docs/protocols/llm.md section 1.1, response_format).
const sentimentPrompt = `You rate the mood of one thing a caller said on a phone call to a business.
Answer with a JSON object only, exactly {"score": <number from -1 to 1>, "label": "<negative|neutral|positive>"}.
score: -1 is furious or desperate, 0 is neutral or purely factual, 1 is delighted.
label: "negative" if score <= -0.25, "positive" if score >= 0.25, otherwise "neutral".`

// SentimentConfig configures a SentimentClient. Zero fields take defaults.
type SentimentConfig struct {
	// Model is the chat model; default the Config's Model.
	Model string
	// Timeout bounds one attempt. Default 3s.
	Timeout time.Duration
	// MaxTextBytes cuts longer utterances. Default 2000.
	MaxTextBytes int
	// MaxTokens caps the answer, reasoning included. Default 300.
	MaxTokens int
}

// SentimentClient scores caller utterances with a chat model in JSON mode
// (response_format json_object, not streamed) and checks the answer
// strictly. It is safe for concurrent use.
type SentimentClient struct {
	cfg       SentimentConfig
	reasoning string
	source    string
	op        *unary
}

// NewSentiment builds a sentiment client for the API of cfg (base URL, key,
// model, retries, breaker, bulkhead, metrics). It sends nothing.
func NewSentiment(cfg Config, sc SentimentConfig) (*SentimentClient, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sc.Model = cmpOr(sc.Model, cfg.Model)
	setDur(&sc.Timeout, defaultSentimentTimeout)
	sc.MaxTextBytes = cmpOr(sc.MaxTextBytes, defaultSentimentTextBytes)
	sc.MaxTokens = cmpOr(sc.MaxTokens, defaultSentimentMaxTokens)
	if sc.Timeout < 0 || sc.MaxTextBytes < 16 || sc.MaxTokens < 16 {
		return nil, errors.New("openai sentiment: timeout must not be negative, max text bytes and max tokens at least 16")
	}
	op, err := newUnary(cfg, opSentiment, "/chat/completions", sc.Timeout, maxSentimentAnswer)
	if err != nil {
		return nil, err
	}
	s := &SentimentClient{cfg: sc, source: cfg.Name, op: op}
	if strings.HasPrefix(sc.Model, "openai/gpt-oss") {
		s.reasoning = "low" // reasoning tokens only delay the answer here
	}
	return s, nil
}

// Close releases the idle connections of the client's own transport.
func (s *SentimentClient) Close() error {
	s.op.close()
	return nil
}

type jsonModeBody struct {
	Model               string          `json:"model"`
	Messages            []wireMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	Temperature         float64         `json:"temperature"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	ReasoningEffort     string          `json:"reasoning_effort,omitempty"`
}

type completion struct {
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// sentimentAnswer is the model's JSON; pointers tell a missing field from 0.
type sentimentAnswer struct {
	Score *float64 `json:"score"`
	Label *string  `json:"label"`
}

// Score rates one caller utterance. It fails with ErrMalformed when the
// model's answer is not the JSON asked for: not an object, a score outside
// -1..1, an unknown label, or a label that contradicts the score. Callers
// that need a score always wrap it with the offline lexicon
// (local.SentimentWithFallback).
func (s *SentimentClient) Score(ctx context.Context, text string) (ai.Sentiment, error) {
	text = capText(strings.TrimSpace(text), s.cfg.MaxTextBytes)
	if text == "" {
		return ai.Sentiment{}, fmt.Errorf("openai sentiment: %w", ErrEmptyText)
	}
	prompt, user := sentimentPrompt, text
	body, err := json.Marshal(jsonModeBody{
		Model:               s.cfg.Model,
		Messages:            []wireMessage{{Role: "system", Content: &prompt}, {Role: "user", Content: &user}},
		ResponseFormat:      json.RawMessage(`{"type":"json_object"}`),
		MaxCompletionTokens: s.cfg.MaxTokens,
		ReasoningEffort:     s.reasoning,
	})
	if err != nil {
		return ai.Sentiment{}, fmt.Errorf("openai sentiment: %w", err)
	}
	data, err := s.op.post(ctx, "application/json", body)
	if err != nil {
		return ai.Sentiment{}, err
	}
	sent, err := parseSentiment(data)
	if err != nil {
		return ai.Sentiment{}, fmt.Errorf("openai sentiment: %w: %w", ErrMalformed, err)
	}
	sent.Source = s.source
	return sent, nil
}

// parseSentiment reads a chat completion whose content must be the
// sentiment JSON.
func parseSentiment(data []byte) (ai.Sentiment, error) {
	var c completion
	if err := json.Unmarshal(data, &c); err != nil {
		return ai.Sentiment{}, fmt.Errorf("completion: %w", err)
	}
	if len(c.Choices) == 0 || c.Choices[0].Message.Content == nil {
		return ai.Sentiment{}, errors.New("completion without content")
	}
	if fr := c.Choices[0].FinishReason; fr != "stop" && fr != "" {
		return ai.Sentiment{}, fmt.Errorf("finish reason %q", fr)
	}
	content := bytes.TrimSpace([]byte(*c.Choices[0].Message.Content))
	if len(content) == 0 || content[0] != '{' {
		return ai.Sentiment{}, errors.New("content is not a JSON object")
	}
	var a sentimentAnswer
	if err := json.Unmarshal(content, &a); err != nil {
		return ai.Sentiment{}, fmt.Errorf("content: %w", err)
	}
	return a.validate()
}

// validate checks the answer's fields and their agreement. The model is
// asked for the label thresholds of ai.SentimentLabel; a label on the wrong
// side of zero is a confused answer, a near miss around the thresholds is
// tolerated and kept as the model's.
func (a sentimentAnswer) validate() (ai.Sentiment, error) {
	if a.Score == nil || a.Label == nil {
		return ai.Sentiment{}, errors.New(`"score" and "label" are required`)
	}
	score, label := *a.Score, strings.ToLower(strings.TrimSpace(*a.Label))
	if math.IsNaN(score) || score < -1 || score > 1 {
		return ai.Sentiment{}, fmt.Errorf("score %v outside -1..1", score)
	}
	switch {
	case label == ai.SentimentPositive && score <= 0,
		label == ai.SentimentNegative && score >= 0,
		label == ai.SentimentNeutral && math.Abs(score) > 0.5:
		return ai.Sentiment{}, fmt.Errorf("label %q contradicts score %v", label, score)
	case label != ai.SentimentPositive && label != ai.SentimentNegative && label != ai.SentimentNeutral:
		return ai.Sentiment{}, fmt.Errorf("unknown label %q", label)
	}
	return ai.Sentiment{Score: score, Label: label}, nil
}
