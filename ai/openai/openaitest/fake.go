// Package openaitest is a fake OpenAI-compatible API (Groq flavoured) that
// speaks the real wire: SSE chat chunks with tool-call deltas, JSON-mode
// completions, streamed WAV or PCM speech, multipart Whisper transcriptions,
// embeddings and OpenAI error envelopes, with scriptable latency and faults.
// It records every request and notices when a client goes away mid-answer.
package openaitest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Vendor selects the flavour of the speech endpoint.
type Vendor int

// Vendors.
const (
	// Groq answers speech only as WAV (48 kHz by default) and rejects
	// other formats and inputs over 200 characters with 400.
	Groq Vendor = iota
	// OpenAI answers "wav" with a WAV body and "pcm" with raw 24 kHz PCM16.
	OpenAI
)

// BasePath is where the fake serves, as Groq does: URL + BasePath is the
// client's base URL.
const BasePath = "/openai/v1"

// Fault is a failure the fake plays instead of, or in the middle of, an
// answer.
type Fault int

// Faults.
const (
	FaultNone Fault = iota
	// FaultRateLimit answers 429 rate_limit_exceeded with retry-after.
	FaultRateLimit
	// FaultServerError answers 500.
	FaultServerError
	// FaultUnavailable answers 503.
	FaultUnavailable
	// FaultCapacity answers Groq's 498 capacity_exceeded.
	FaultCapacity
	// FaultToolUseFailed answers 400 tool_use_failed with failed_generation.
	FaultToolUseFailed
	// FaultCut sends CutAfter chunks (speech: CutAfter writes) then drops
	// the connection without the terminator.
	FaultCut
	// FaultMalformed sends CutAfter chunks, then a chunk that is not JSON,
	// then the rest of the answer.
	FaultMalformed
	// FaultErrorEvent sends CutAfter chunks, then Groq's "event: error"
	// frame, and ends.
	FaultErrorEvent
)

// ToolCall is a tool call the fake's model makes.
type ToolCall struct {
	ID        string // default "call_<n>"
	Name      string
	Arguments string // JSON, default "{}"
	// Fragments splits the arguments over this many chunks (the first also
	// carries id and name); 0 or 1 sends the whole call in one chunk, as
	// Groq often does.
	Fragments int
}

// ChatReply scripts one /chat/completions answer.
type ChatReply struct {
	// Text is the answer, one content chunk per element.
	Text []string
	// ToolCalls follow the text; finish_reason is then "tool_calls".
	ToolCalls []ToolCall
	// FirstByteDelay is the wait before the response headers; ChunkDelay
	// the wait before each later chunk.
	FirstByteDelay time.Duration
	ChunkDelay     time.Duration
	Fault          Fault
	// RetryAfter is sent with FaultRateLimit (whole seconds, at least 1).
	RetryAfter time.Duration
	// CutAfter is how many chunks precede a mid-stream fault (default 1).
	CutAfter int
	// Hold keeps the stream open after the last content chunk until the
	// client goes away or the server closes: a model still thinking.
	Hold bool
}

// SpeechReply scripts one /audio/speech answer: a sine tone.
type SpeechReply struct {
	// SampleRate of the audio; default 48000 (Groq) or 24000 (OpenAI).
	SampleRate int
	// Duration of the audio; default 500ms.
	Duration time.Duration
	// ChunkBytes is the size of each write; default 4096.
	ChunkBytes     int
	FirstByteDelay time.Duration
	ChunkDelay     time.Duration
	// StreamingHeader writes 0xFFFFFFFF as the WAV sizes, as a server does
	// that does not know the length yet.
	StreamingHeader bool
	Fault           Fault
	RetryAfter      time.Duration
	CutAfter        int
	// Hold keeps the answer open after the audio until the client goes away.
	Hold bool
}

// Request is a request the fake received.
type Request struct {
	Path          string
	Authorization string
	Header        http.Header
	Body          []byte
	Received      time.Time
	// Chat is the decoded body of a /chat/completions request.
	Chat *ChatRequest
	// Speech is the decoded body of an /audio/speech request.
	Speech *SpeechRequest
	// Transcription is the decoded form of an /audio/transcriptions request.
	Transcription *TranscriptionRequest
	// Embeddings is the decoded body of an /embeddings request.
	Embeddings *EmbeddingsRequest
}

// ChatRequest is the body of a chat request as the fake reads it.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Tools               []Tool          `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	Stream              bool            `json:"stream"`
	StreamOptions       *StreamOptions  `json:"stream_options"`
	Temperature         *float64        `json:"temperature"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	MaxTokens           *int            `json:"max_tokens"`
	ReasoningEffort     string          `json:"reasoning_effort"`
	ResponseFormat      *ResponseFormat `json:"response_format"`
}

// StreamOptions is stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one message of a chat request.
type Message struct {
	Role       string            `json:"role"`
	Content    *string           `json:"content"`
	ToolCalls  []MessageToolCall `json:"tool_calls"`
	ToolCallID string            `json:"tool_call_id"`
}

// MessageToolCall is a tool call of an assistant message.
type MessageToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// Tool is a tool of a chat request.
type Tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// SpeechRequest is the body of a speech request.
type SpeechRequest struct {
	Model          string `json:"model"`
	Input          string `json:"input"`
	Voice          string `json:"voice"`
	ResponseFormat string `json:"response_format"`
}

// Cancellation says that a client went away before its answer was complete.
type Cancellation struct {
	Path string
	At   time.Time
}

// Options configure a fake.
type Options struct {
	// APIKey, if set, is the only key accepted; others get 401.
	APIKey string
	Vendor Vendor
}

// Server is the fake on a loopback listener. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the base URL to give a client (it ends in BasePath).
	URL string

	opts    Options
	srv     *httptest.Server
	closing chan struct{}
	closeMu sync.Once

	mu          sync.Mutex
	chatQueue   []ChatReply
	speechQueue []SpeechReply
	defChat     ChatReply
	defSpeech   SpeechReply
	more        queues // the endpoints added after chat and speech
	requests    []Request
	seq         int
	canceled    chan Cancellation
	nCanceled   int
	arrived     chan string
}

// Start starts a fake on loopback. Close stops it.
func Start(opts Options) *Server {
	s := &Server{
		opts:      opts,
		closing:   make(chan struct{}),
		canceled:  make(chan Cancellation, 256),
		arrived:   make(chan string, 256),
		defChat:   ChatReply{Text: []string{"Hello", ", how can", " I help?"}},
		defSpeech: SpeechReply{},
		more:      newQueues(),
	}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + BasePath
	return s
}

// Close releases held answers and stops the server.
func (s *Server) Close() {
	s.closeMu.Do(func() { close(s.closing) })
	s.srv.Close()
}

// EnqueueChat scripts the next chat answers, one per request; when the queue
// is empty the default answer is sent.
func (s *Server) EnqueueChat(r ...ChatReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatQueue = append(s.chatQueue, r...)
}

// SetDefaultChat sets the answer sent when the chat queue is empty.
func (s *Server) SetDefaultChat(r ChatReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defChat = r
}

// EnqueueSpeech scripts the next speech answers.
func (s *Server) EnqueueSpeech(r ...SpeechReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.speechQueue = append(s.speechQueue, r...)
}

// Requests returns a copy of the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Cancellations delivers a value each time a client went away before its
// answer was complete (at most 256 are buffered).
func (s *Server) Cancellations() <-chan Cancellation { return s.canceled }

// Arrivals delivers the path of each request as it arrives, before its
// answer is scripted (at most 256 are buffered), so a test can act while a
// request is held.
func (s *Server) Arrivals() <-chan string { return s.arrived }

// CancelCount is how many answers were abandoned by their client.
func (s *Server) CancelCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nCanceled
}

// ServeHTTP serves the fake API under BasePath.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return
	}
	rec := Request{Path: strings.TrimPrefix(r.URL.Path, BasePath), Authorization: r.Header.Get("Authorization"),
		Header: r.Header.Clone(), Body: body, Received: time.Now()}
	switch rec.Path {
	case "/chat/completions":
		var cr ChatRequest
		if err := json.Unmarshal(body, &cr); err == nil {
			rec.Chat = &cr
		}
	case "/audio/speech":
		var sr SpeechRequest
		if err := json.Unmarshal(body, &sr); err == nil {
			rec.Speech = &sr
		}
	case "/audio/transcriptions":
		rec.Transcription = parseTranscription(r.Header.Get("Content-Type"), body)
	case "/embeddings":
		var er EmbeddingsRequest
		if err := json.Unmarshal(body, &er); err == nil {
			rec.Embeddings = &er
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	select {
	case s.arrived <- rec.Path:
	default:
	}

	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "use POST", nil)
		return
	}
	if s.opts.APIKey != "" && rec.Authorization != "Bearer "+s.opts.APIKey {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Invalid API Key", nil)
		return
	}
	switch rec.Path {
	case "/chat/completions":
		if rec.Chat == nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "request body is not valid JSON", nil)
			return
		}
		if !rec.Chat.Stream {
			s.serveCompletion(w, r, rec.Chat, seq)
			return
		}
		s.serveChat(w, r, rec.Chat, seq)
	case "/audio/speech":
		if rec.Speech == nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "request body is not valid JSON", nil)
			return
		}
		s.serveSpeech(w, r, rec.Speech)
	case "/audio/transcriptions":
		s.serveTranscription(w, r, rec.Transcription, seq)
	case "/embeddings":
		s.serveEmbeddings(w, r, rec.Embeddings)
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL: "+r.URL.Path, nil)
	}
}

// wait sleeps d unless the client goes away or the server closes first; it
// reports whether to go on, and records a client that went away.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-r.Context().Done():
			s.noteCancel(r)
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		s.noteCancel(r)
		return false
	case <-s.closing:
		return false
	}
}

// hold blocks until the client goes away or the server closes.
func (s *Server) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
		s.noteCancel(r)
	case <-s.closing:
	}
}

func (s *Server) noteCancel(r *http.Request) {
	c := Cancellation{Path: strings.TrimPrefix(r.URL.Path, BasePath), At: time.Now()}
	s.mu.Lock()
	s.nCanceled++
	s.mu.Unlock()
	select {
	case s.canceled <- c:
	default:
	}
}

// writeError writes an OpenAI error envelope (docs/protocols/llm.md section 0).
func writeError(w http.ResponseWriter, status int, typ, code, msg string, extra map[string]any) {
	obj := map[string]any{"message": msg, "type": typ}
	if code != "" {
		obj["code"] = code
	}
	for k, v := range extra {
		obj[k] = v
	}
	b, _ := json.Marshal(map[string]any{"error": obj})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeFault answers a status fault; it reports false for faults that are
// not a status.
func writeFault(w http.ResponseWriter, f Fault, retryAfter time.Duration, model string) bool {
	switch f {
	case FaultRateLimit:
		secs := max(1, int(math.Ceil(retryAfter.Seconds())))
		w.Header().Set("retry-after", strconv.Itoa(secs))
		w.Header().Set("x-ratelimit-limit-requests", "14400")
		w.Header().Set("x-ratelimit-remaining-requests", "14000")
		w.Header().Set("x-ratelimit-reset-tokens", "2.3s")
		writeError(w, http.StatusTooManyRequests, "tokens", "rate_limit_exceeded",
			fmt.Sprintf("Rate limit reached for model `%s` in organization `org_fake` service tier on_demand on tokens per minute (TPM): Limit 8000, Used 7400, Requested 900. Please try again in %ds.", model, secs), nil)
	case FaultServerError:
		writeError(w, http.StatusInternalServerError, "internal_server_error", "", "Internal Server Error", nil)
	case FaultUnavailable:
		writeError(w, http.StatusServiceUnavailable, "internal_server_error", "service_unavailable", "Service Unavailable", nil)
	case FaultCapacity:
		writeError(w, 498, "capacity_exceeded", "capacity_exceeded", "Flex tier capacity exceeded. Please try again later.", nil)
	case FaultToolUseFailed:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "tool_use_failed",
			"Failed to call a function. Please adjust your prompt.", map[string]any{"failed_generation": "<function=transfer_to_human>{}"})
	default:
		return false
	}
	return true
}

// decommissioned are models Groq shut down; they answer 404 as in production.
var decommissioned = map[string]bool{"llama-3.3-70b-versatile": true, "llama-3.1-8b-instant": true}

func (s *Server) nextChat() ChatReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.chatQueue) == 0 {
		return s.defChat
	}
	r := s.chatQueue[0]
	s.chatQueue = s.chatQueue[1:]
	return r
}

func (s *Server) nextSpeech() SpeechReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.speechQueue) == 0 {
		return s.defSpeech
	}
	r := s.speechQueue[0]
	s.speechQueue = s.speechQueue[1:]
	return r
}

// cut drops the connection without finishing the response.
func cut() { panic(http.ErrAbortHandler) }
