package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/iace/iace/ai"
)

// Wire shapes of POST /chat/completions (docs/protocols/llm.md section 1.1). Only fields
// every compatible server accepts are sent; Groq rejects logprobs, n and
// messages[].name, so those never are.
type chatBody struct {
	Model               string        `json:"model"`
	Messages            []wireMessage `json:"messages"`
	Tools               []wireTool    `json:"tools,omitempty"`
	ToolChoice          string        `json:"tool_choice,omitempty"`
	Stream              bool          `json:"stream"`
	Temperature         *float64      `json:"temperature,omitempty"`
	MaxCompletionTokens int           `json:"max_completion_tokens,omitempty"`
	MaxTokens           int           `json:"max_tokens,omitempty"`
	ReasoningEffort     string        `json:"reasoning_effort,omitempty"`
}

type wireMessage struct {
	Role string `json:"role"`
	// Content is null only for an assistant message that carries tool calls.
	Content    *string        `json:"content"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type wireToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type wireTool struct {
	Type     string      `json:"type"`
	Function wireToolDef `json:"function"`
}

type wireToolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

// emptySchema is the parameters of a tool that takes no arguments.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// chatBody builds the request body of req with the client's defaults.
func (c *Client) chatBody(req ai.ChatRequest) ([]byte, error) {
	b := chatBody{
		Model:           cmpOr(req.Model, c.cfg.Model),
		Stream:          true,
		ReasoningEffort: c.cfg.ReasoningEffort,
		Messages:        make([]wireMessage, 0, len(req.Messages)),
	}
	if t := cmpOr(req.Temperature, c.cfg.Temperature); t != 0 {
		b.Temperature = &t
	}
	if n := cmpOr(req.MaxTokens, c.cfg.MaxTokens); n > 0 {
		if c.cfg.LegacyMaxTokens {
			b.MaxTokens = n
		} else {
			b.MaxCompletionTokens = n
		}
	}
	for i, m := range req.Messages {
		wm := wireMessage{Role: string(m.Role), ToolCallID: m.ToolCallID}
		switch m.Role {
		case ai.RoleSystem, ai.RoleUser, ai.RoleAssistant, ai.RoleTool:
		default:
			return nil, fmt.Errorf("openai chat: message %d: unknown role %q", i, m.Role)
		}
		if m.Role == ai.RoleTool && m.ToolCallID == "" {
			return nil, fmt.Errorf("openai chat: message %d: tool message without tool call id", i)
		}
		if m.Content != "" || len(m.ToolCalls) == 0 {
			wm.Content = &m.Content
		}
		for _, tc := range m.ToolCalls {
			wm.ToolCalls = append(wm.ToolCalls, wireToolCall{ID: tc.ID, Type: "function",
				Function: wireFunction{Name: tc.Name, Arguments: cmpOr(tc.Arguments, "{}")}})
		}
		b.Messages = append(b.Messages, wm)
	}
	for _, t := range req.Tools {
		params := emptySchema
		if strings.TrimSpace(t.Parameters) != "" {
			if !json.Valid([]byte(t.Parameters)) {
				return nil, fmt.Errorf("openai chat: tool %q: parameters are not JSON", t.Name)
			}
			params = json.RawMessage(t.Parameters)
		}
		b.Tools = append(b.Tools, wireTool{Type: "function",
			Function: wireToolDef{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if len(b.Tools) > 0 {
		b.ToolChoice = "auto"
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("openai chat: %w", err)
	}
	return body, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Chat streams the model's answer to req: text pieces as they arrive, tool
// calls once complete. req's model, temperature and max tokens override the
// client's defaults when set. Chat returns when the first byte of the answer
// has arrived; until then a failure of the provider is retried. Cancelling
// ctx aborts the request at once; Close releases it.
func (c *Client) Chat(ctx context.Context, req ai.ChatRequest) (ai.ChatStream, error) {
	body, err := c.chatBody(req)
	if err != nil {
		c.chat.m.outcomes[outcomeClientError].Inc()
		return nil, err
	}
	cn, r, err := c.open(ctx, c.chat, body, "text/event-stream")
	if err != nil {
		return nil, err
	}
	return newChatStream(cn.body, &cn.dog.n, c.cfg.MaxLineBytes, c.cfg.MaxAnswerBytes, func(err error) error {
		switch {
		case errors.Is(err, errReadFailed):
			err = cn.readErr(c.chat, errors.Unwrap(err))
		case err == nil || errors.Is(err, io.EOF):
			r.end(nil)
			return err
		}
		r.end(err)
		return err
	}), nil
}

// errReadFailed marks an error of the body reader, which end classifies.
var errReadFailed = errors.New("read failed")

type readError struct{ err error }

func (e readError) Error() string        { return "openai: read: " + e.err.Error() }
func (e readError) Unwrap() error        { return e.err }
func (e readError) Is(target error) bool { return target == errReadFailed }

// chatStream parses an SSE stream of chat.completion.chunk objects.
type chatStream struct {
	r         byteLineReader
	read      *int64 // bytes read from the wire so far
	maxLine   int
	maxAnswer int64
	// end is called once with the stream's final error (nil or io.EOF for
	// a complete answer) and returns the error to report.
	end func(error) error

	line    []byte // a line longer than the reader's buffer
	data    []byte // the data lines of the event being read
	hasData bool   // the event has a data field, maybe empty
	event   string // its event field
	calls   []*pendingCall
	pending []ai.ChatDelta // deltas parsed, not yet returned
	err     error          // sticky
}

// byteLineReader is what the parser needs of a bufio.Reader.
type byteLineReader interface {
	ReadSlice(delim byte) ([]byte, error)
}

type pendingCall struct {
	index int
	id    string
	name  string
	args  strings.Builder
}

func newChatStream(r byteLineReader, read *int64, maxLine int, maxAnswer int64, end func(error) error) *chatStream {
	return &chatStream{r: r, read: read, maxLine: maxLine, maxAnswer: maxAnswer, end: end}
}

// Recv returns the next piece of the answer, io.EOF after the last. An
// answer that ends without [DONE] fails with ErrTruncated.
func (s *chatStream) Recv() (ai.ChatDelta, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return ai.ChatDelta{}, s.err
		}
		if err := s.step(); err != nil {
			s.err = s.end(err)
		}
	}
	d := s.pending[0]
	s.pending = s.pending[1:]
	return d, nil
}

// Close releases the answer; an answer not read to its end is aborted.
func (s *chatStream) Close() error {
	if s.err == nil {
		s.err = s.end(ErrClosed)
	}
	return nil
}

// step reads one line and handles it (SSE, as openai-go's decoder implements the
// spec: field:value, one leading space dropped, data lines joined by \n, a
// blank line dispatches, ':' starts a comment).
func (s *chatStream) step() error {
	line, err := s.readLine()
	if err != nil {
		return err
	}
	if s.read != nil && *s.read > s.maxAnswer {
		return fmt.Errorf("openai chat: %w: more than %d bytes", ErrTooLarge, s.maxAnswer)
	}
	if len(line) == 0 {
		return s.dispatch()
	}
	if line[0] == ':' {
		return nil
	}
	field, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	switch string(field) {
	case "data":
		if s.hasData {
			s.data = append(s.data, '\n')
		}
		if len(s.data)+len(value) > s.maxLine {
			return fmt.Errorf("openai chat: %w: event over %d bytes", ErrTooLarge, s.maxLine)
		}
		s.data = append(s.data, value...)
		s.hasData = true
	case "event":
		s.event = string(value)
	}
	return nil
}

// readLine returns the next line without its \n or \r\n, valid until the next
// call.
func (s *chatStream) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		frag, err := s.r.ReadSlice('\n')
		switch {
		case err == nil:
			if len(s.line) > 0 {
				s.line = append(s.line, frag...)
				frag = s.line
			}
			frag = frag[:len(frag)-1]
			return bytes.TrimSuffix(frag, []byte("\r")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(s.line)+len(frag) > s.maxLine {
				return nil, fmt.Errorf("openai chat: %w: line over %d bytes", ErrTooLarge, s.maxLine)
			}
			s.line = append(s.line, frag...)
		default:
			return nil, readError{err}
		}
	}
}

// dispatch handles one complete event.
func (s *chatStream) dispatch() error {
	// data stays valid until the next step appends to s.data.
	data, event, has := s.data, s.event, s.hasData
	s.data, s.event, s.hasData = s.data[:0], "", false
	if !has {
		return nil
	}
	if event == "error" {
		return s.streamError(data)
	}
	if bytes.Equal(data, []byte("[DONE]")) {
		if d, ok := s.flushCalls(); ok {
			s.pending = append(s.pending, d)
		}
		if err := s.validate(); err != nil {
			return err
		}
		return io.EOF
	}
	return s.chunk(data)
}

// Wire shapes of a streamed chunk (docs/protocols/llm.md section 1.4).
type wireChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Error json.RawMessage `json:"error"`
	XGroq *struct {
		Error string `json:"error"`
	} `json:"x_groq"`
}

func (s *chatStream) chunk(data []byte) error {
	var ch wireChunk
	if err := json.Unmarshal(data, &ch); err != nil {
		return fmt.Errorf("openai chat: %w: chunk: %w", ErrMalformed, err)
	}
	if len(ch.Error) > 0 && string(ch.Error) != "null" {
		return s.streamError(data)
	}
	if ch.XGroq != nil && ch.XGroq.Error != "" {
		return fmt.Errorf("openai chat: %w", &APIError{Message: ch.XGroq.Error})
	}
	var d ai.ChatDelta
	finished := false
	for _, c := range ch.Choices {
		if c.Index != 0 {
			continue // n is always 1; a stray choice is not ours to speak
		}
		if c.Delta.Content != nil {
			d.Text += *c.Delta.Content
		}
		for _, tc := range c.Delta.ToolCalls {
			pc := s.call(tc.Index)
			if tc.ID != "" {
				pc.id = tc.ID
			}
			// The name comes whole in the first fragment; some servers
			// repeat it in later ones, a few split it.
			if n := tc.Function.Name; n != "" && n != pc.name {
				pc.name += n
			}
			pc.args.WriteString(tc.Function.Arguments)
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			finished = true
		}
	}
	if finished {
		if err := s.validate(); err != nil {
			return err
		}
		calls, _ := s.flushCalls()
		d.ToolCalls = calls.ToolCalls
	}
	if d.Text != "" || len(d.ToolCalls) > 0 {
		s.pending = append(s.pending, d)
	}
	return nil
}

func (s *chatStream) call(index int) *pendingCall {
	for _, pc := range s.calls {
		if pc.index == index {
			return pc
		}
	}
	pc := &pendingCall{index: index}
	s.calls = append(s.calls, pc)
	return pc
}

// validate checks the assembled tool calls before they are handed on.
func (s *chatStream) validate() error {
	for _, pc := range s.calls {
		if pc.name == "" {
			return fmt.Errorf("openai chat: %w: tool call %d has no name", ErrMalformed, pc.index)
		}
		if a := pc.args.String(); a != "" && !json.Valid([]byte(a)) {
			return fmt.Errorf("openai chat: %w: arguments of tool call %q are not JSON", ErrMalformed, pc.name)
		}
	}
	return nil
}

// flushCalls returns the assembled tool calls in index order and forgets
// them.
func (s *chatStream) flushCalls() (ai.ChatDelta, bool) {
	if len(s.calls) == 0 {
		return ai.ChatDelta{}, false
	}
	slices.SortFunc(s.calls, func(a, b *pendingCall) int { return a.index - b.index })
	d := ai.ChatDelta{ToolCalls: make([]ai.ToolCall, 0, len(s.calls))}
	for _, pc := range s.calls {
		d.ToolCalls = append(d.ToolCalls, ai.ToolCall{ID: pc.id, Name: pc.name, Arguments: cmpOr(pc.args.String(), "{}")})
	}
	s.calls = s.calls[:0]
	return d, true
}

// streamError turns an error event's data into an APIError.
func (s *chatStream) streamError(data []byte) error {
	ae := &APIError{}
	ae.parseEnvelope(data)
	return fmt.Errorf("openai chat: %w", ae)
}
