package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Defaults of JSONConfig.
const (
	defaultJSONOperation = "json"
	defaultJSONTimeout   = 20 * time.Second
	defaultJSONMaxTokens = 1500
	defaultJSONUserBytes = 16 << 10
	maxJSONAnswer        = 256 << 10
)

// operationName is what JSONConfig.Operation may be: a fixed word of the
// code, fit for a metric label.
var operationName = regexp.MustCompile(`^[a-z][a-z_]{0,31}$`)

// JSONConfig configures a JSONClient. Zero fields take defaults.
type JSONConfig struct {
	// Operation is the client's value of the metrics' operation label, a
	// word that says what the answers are for ("learn"): lower-case letters
	// and _, at most 32. Default "json".
	Operation string
	// Model is the chat model; default the Config's Model.
	Model string
	// Timeout bounds one attempt. Default 20s: the answer is read whole,
	// and these requests are off any call's path.
	Timeout time.Duration
	// MaxTokens caps the answer, reasoning included. Default 1500.
	MaxTokens int
	// MaxUserBytes cuts a longer user message. Default 16 KiB.
	MaxUserBytes int
}

// JSONClient asks a chat model for one JSON object (response_format
// json_object, not streamed), with the retries, breaker, bulkhead and
// metrics of the other non-streamed requests. It checks that the answer
// is a JSON object and nothing more: what the object must hold is the
// caller's to check. It is safe for concurrent use.
type JSONClient struct {
	cfg       JSONConfig
	reasoning string
	op        *unary
}

// NewJSON builds a JSON-mode client for the API of cfg. It sends nothing.
func NewJSON(cfg Config, jc JSONConfig) (*JSONClient, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	jc.Operation = cmpOr(jc.Operation, defaultJSONOperation)
	jc.Model = cmpOr(jc.Model, cfg.Model)
	setDur(&jc.Timeout, defaultJSONTimeout)
	jc.MaxTokens = cmpOr(jc.MaxTokens, defaultJSONMaxTokens)
	jc.MaxUserBytes = cmpOr(jc.MaxUserBytes, defaultJSONUserBytes)
	switch {
	case !operationName.MatchString(jc.Operation):
		return nil, fmt.Errorf("openai json: operation %q is not a lower-case word of at most 32 letters and _", jc.Operation)
	case jc.Timeout < 0 || jc.MaxTokens < 16 || jc.MaxUserBytes < 16:
		return nil, errors.New("openai json: timeout must not be negative, max tokens and max user bytes at least 16")
	}
	op, err := newUnary(cfg, jc.Operation, "/chat/completions", jc.Timeout, maxJSONAnswer)
	if err != nil {
		return nil, err
	}
	c := &JSONClient{cfg: jc, op: op}
	if strings.HasPrefix(jc.Model, "openai/gpt-oss") {
		c.reasoning = "low" // structured extraction, not a puzzle
	}
	return c, nil
}

// Close releases the idle connections of the client's own transport.
func (c *JSONClient) Close() error {
	c.op.close()
	return nil
}

// CompleteJSON sends the system instructions and the user message and
// returns the model's answer, a JSON object. The instructions must say
// "JSON": Groq refuses JSON mode otherwise (docs/protocols/llm.md section 1.1). A longer
// user message is cut at MaxUserBytes. An answer that is not one JSON
// object, or that the model did not finish, is ErrMalformed; the failures
// of the provider are those of the other requests (ai.ErrUnavailable,
// *APIError...).
func (c *JSONClient) CompleteJSON(ctx context.Context, system, user string) ([]byte, error) {
	user = capText(strings.TrimSpace(user), c.cfg.MaxUserBytes)
	if user == "" {
		return nil, fmt.Errorf("openai %s: %w", c.cfg.Operation, ErrEmptyText)
	}
	body, err := json.Marshal(jsonModeBody{
		Model:               c.cfg.Model,
		Messages:            []wireMessage{{Role: "system", Content: &system}, {Role: "user", Content: &user}},
		ResponseFormat:      json.RawMessage(`{"type":"json_object"}`),
		MaxCompletionTokens: c.cfg.MaxTokens,
		ReasoningEffort:     c.reasoning,
	})
	if err != nil {
		return nil, fmt.Errorf("openai %s: %w", c.cfg.Operation, err)
	}
	data, err := c.op.post(ctx, "application/json", body)
	if err != nil {
		return nil, err
	}
	content, err := jsonObjectContent(data)
	if err != nil {
		return nil, fmt.Errorf("openai %s: %w: %w", c.cfg.Operation, ErrMalformed, err)
	}
	return content, nil
}

// jsonObjectContent reads a chat completion whose content must be one JSON
// object, and returns that object.
func jsonObjectContent(data []byte) ([]byte, error) {
	var c completion
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("completion: %w", err)
	}
	if len(c.Choices) == 0 || c.Choices[0].Message.Content == nil {
		return nil, errors.New("completion without content")
	}
	if fr := c.Choices[0].FinishReason; fr != "stop" && fr != "" {
		return nil, fmt.Errorf("finish reason %q", fr)
	}
	content := bytes.TrimSpace([]byte(*c.Choices[0].Message.Content))
	if len(content) == 0 || content[0] != '{' || !json.Valid(content) {
		return nil, errors.New("content is not a JSON object")
	}
	return content, nil
}
