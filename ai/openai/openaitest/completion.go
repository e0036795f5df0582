package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ResponseFormat is a chat request's response_format.
type ResponseFormat struct {
	Type string `json:"type"`
}

// JSONReply scripts one non-streamed /chat/completions answer, the shape a
// JSON-mode request (response_format json_object) gets.
type JSONReply struct {
	// Content is the model's message. In JSON mode the fake, like Groq,
	// checks that it is JSON and answers 400 json_validate_failed with the
	// content as failed_generation if it is not (unless Raw).
	Content string
	// Raw sends Content as it is even when it is not JSON, as a compatible
	// server without JSON validation would.
	Raw bool
	// FinishReason defaults to "stop".
	FinishReason   string
	FirstByteDelay time.Duration
	// Fault is a status fault, FaultCut or FaultMalformed (a body that is
	// not JSON).
	Fault      Fault
	RetryAfter time.Duration
}

// serveCompletion answers a request with stream false from the JSON queue.
func (s *Server) serveCompletion(w http.ResponseWriter, r *http.Request, req *ChatRequest, seq int) {
	reply := s.nextJSON()
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
	jsonMode := req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object"
	if jsonMode && !mentionsJSON(req.Messages) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "",
			"'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", nil)
		return
	}
	if writeFault(w, reply.Fault, reply.RetryAfter, req.Model) {
		return
	}
	switch reply.Fault {
	case FaultCut:
		cut()
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,"message":{"role":"assis`))
		return
	}
	if jsonMode && !reply.Raw && !json.Valid([]byte(reply.Content)) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "json_validate_failed",
			"Failed to generate JSON. Please adjust your prompt. See 'failed_generation' for more details.",
			map[string]any{"failed_generation": reply.Content})
		return
	}
	finish := reply.FinishReason
	if finish == "" {
		finish = "stop"
	}
	reqID := fmt.Sprintf("req_fake%04d", seq)
	w.Header().Set("x-request-id", reqID)
	writeJSON(w, map[string]any{
		"id": fmt.Sprintf("chatcmpl-fake%04d", seq), "object": "chat.completion", "created": time.Now().Unix(),
		"model": req.Model, "system_fingerprint": "fp_fake0001", "service_tier": "on_demand",
		"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": reply.Content},
			"logprobs": nil, "finish_reason": finish}},
		"usage": map[string]any{"queue_time": 0.02, "prompt_tokens": 90, "prompt_time": 0.003, "completion_tokens": 12,
			"completion_time": 0.01, "total_tokens": 102, "total_time": 0.013},
		"x_groq": map[string]string{"id": reqID},
	})
}

// mentionsJSON reports whether a message says "json", which Groq requires of
// JSON-mode requests.
func mentionsJSON(msgs []Message) bool {
	for _, m := range msgs {
		if m.Content != nil && strings.Contains(strings.ToLower(*m.Content), "json") {
			return true
		}
	}
	return false
}
