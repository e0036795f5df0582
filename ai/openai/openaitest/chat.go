package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Chunk shapes of a Groq stream (docs/protocols/llm.md sections 1.4-1.6), field order and
// nulls as on the wire.
type chunk struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	SystemFingerprint string   `json:"system_fingerprint"`
	Choices           []choice `json:"choices"`
	XGroq             *xGroq   `json:"x_groq,omitempty"`
	Usage             *usage   `json:"usage,omitempty"`
	ServiceTier       string   `json:"service_tier,omitempty"`
}

type choice struct {
	Index        int             `json:"index"`
	Delta        delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type delta struct {
	Role      string          `json:"role,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	ToolCalls []toolDelta     `json:"tool_calls,omitempty"`
}

type toolDelta struct {
	Index    int       `json:"index"`
	ID       string    `json:"id,omitempty"`
	Type     string    `json:"type,omitempty"`
	Function funcDelta `json:"function"`
}

type funcDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type xGroq struct {
	ID    string `json:"id"`
	Seed  int64  `json:"seed,omitempty"`
	Usage *usage `json:"usage,omitempty"`
}

type usage struct {
	QueueTime        float64 `json:"queue_time"`
	PromptTokens     int     `json:"prompt_tokens"`
	PromptTime       float64 `json:"prompt_time"`
	CompletionTokens int     `json:"completion_tokens"`
	CompletionTime   float64 `json:"completion_time"`
	TotalTokens      int     `json:"total_tokens"`
	TotalTime        float64 `json:"total_time"`
}

var jsonNull = json.RawMessage("null")

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// chatChunks builds the data payloads of a reply, [DONE] excluded.
func chatChunks(reply ChatReply, model string, seq int, includeUsage bool) [][]byte {
	id := fmt.Sprintf("chatcmpl-fake%04d", seq)
	reqID := fmt.Sprintf("req_fake%04d", seq)
	created := time.Now().Unix()
	base := func() chunk {
		return chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, SystemFingerprint: "fp_fake0001"}
	}
	var out [][]byte
	add := func(c chunk) {
		b, _ := json.Marshal(c)
		out = append(out, b)
	}
	one := func(d delta, finish *string) chunk {
		c := base()
		c.Choices = []choice{{Index: 0, Delta: d, Logprobs: jsonNull, FinishReason: finish}}
		return c
	}

	// The first chunk: role and empty content (or null content before a tool
	// call), with x_groq.id and seed.
	first := one(delta{Role: "assistant", Content: jsonString("")}, nil)
	if len(reply.Text) == 0 && len(reply.ToolCalls) > 0 {
		first.Choices[0].Delta.Content = jsonNull
	}
	first.XGroq = &xGroq{ID: reqID, Seed: 42}
	if len(reply.Text) > 0 || len(reply.ToolCalls) == 0 {
		add(first)
	}
	for _, t := range reply.Text {
		add(one(delta{Content: jsonString(t)}, nil))
	}
	for i, tc := range reply.ToolCalls {
		if tc.ID == "" {
			tc.ID = fmt.Sprintf("call_fake%d", i)
		}
		if tc.Arguments == "" {
			tc.Arguments = "{}"
		}
		pieces := split(tc.Arguments, max(1, tc.Fragments))
		for j, p := range pieces {
			td := toolDelta{Index: i, Function: funcDelta{Arguments: p}}
			var c chunk
			if j == 0 {
				td.ID, td.Type, td.Function.Name = tc.ID, "function", tc.Name
				d := delta{ToolCalls: []toolDelta{td}}
				if i == 0 && len(reply.Text) == 0 {
					d.Role, d.Content = "assistant", jsonNull
				}
				c = one(d, nil)
				if i == 0 && len(reply.Text) == 0 {
					c.XGroq = &xGroq{ID: reqID}
				}
			} else {
				c = one(delta{ToolCalls: []toolDelta{td}}, nil)
			}
			add(c)
		}
	}
	reason := "stop"
	if len(reply.ToolCalls) > 0 {
		reason = "tool_calls"
	}
	u := &usage{QueueTime: 0.02, PromptTokens: 60, PromptTime: 0.003, CompletionTokens: 5 + len(reply.Text),
		CompletionTime: 0.004, TotalTokens: 65 + len(reply.Text), TotalTime: 0.007}
	fin := one(delta{}, &reason)
	fin.XGroq = &xGroq{ID: reqID, Usage: u}
	if includeUsage {
		fin.Usage = u
	}
	add(fin)
	if includeUsage {
		c := base()
		c.Choices = []choice{}
		c.Usage, c.ServiceTier = u, "on_demand"
		add(c)
	}
	return out
}

// split cuts s into n pieces of about equal length (fewer if s is short).
func split(s string, n int) []string {
	if n <= 1 || len(s) < n {
		return []string{s}
	}
	size := (len(s) + n - 1) / n
	var out []string
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	return append(out, s)
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request, req *ChatRequest, seq int) {
	reply := s.nextChat()
	if !s.wait(r, reply.FirstByteDelay) {
		return
	}
	if decommissioned[req.Model] {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model), nil)
		return
	}
	if req.Model == "" || len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "model and messages are required", nil)
		return
	}
	if writeFault(w, reply.Fault, reply.RetryAfter, req.Model) {
		return
	}
	if !req.Stream {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "the fake only streams: set stream:true", nil)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunks := chatChunks(reply, req.Model, seq, includeUsage)
	fl, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("x-request-id", fmt.Sprintf("req_fake%04d", seq))
	h.Set("x-ratelimit-remaining-requests", "14399")
	w.WriteHeader(http.StatusOK)
	send := func(data string) {
		_, _ = w.Write([]byte("data: " + data + "\n\n"))
		if fl != nil {
			fl.Flush()
		}
	}
	cutAfter := max(1, reply.CutAfter)
	// The content chunks end before the finish chunk (and the usage one).
	contentEnd := len(chunks) - 1
	if includeUsage {
		contentEnd--
	}
	for i, c := range chunks {
		if i > 0 && !s.wait(r, reply.ChunkDelay) {
			return
		}
		if i == cutAfter {
			switch reply.Fault {
			case FaultCut:
				cut()
			case FaultMalformed:
				send(`{"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hal`)
			case FaultErrorEvent:
				_, _ = w.Write([]byte("event: error\n"))
				send(`{"error":{"message":"Service Unavailable","type":"internal_server_error"}}`)
				return
			}
		}
		if i == contentEnd && reply.Hold {
			s.hold(r)
			return
		}
		send(string(c))
	}
	send("[DONE]")
}
