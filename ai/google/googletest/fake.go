// Package googletest is a fake Gemini API embeddings endpoint speaking the
// real wire (batchEmbedContents and embedContent, Google's error body with
// RetryInfo and ErrorInfo details), with deterministic vectors derived from
// the text and scriptable latency and faults. It records every request.
package googletest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
	"unicode"
)

// BasePath is where the fake serves, as Google does: URL + BasePath is the
// client's base URL.
const BasePath = "/v1beta"

// Fault is a failure the fake plays instead of an answer.
type Fault int

// Faults.
const (
	FaultNone Fault = iota
	// FaultRateLimit answers 429 RESOURCE_EXHAUSTED with a RetryInfo
	// retryDelay of RetryAfter.
	FaultRateLimit
	// FaultDailyQuota answers 429 RESOURCE_EXHAUSTED for a per-day quota.
	FaultDailyQuota
	// FaultInternal answers 500 INTERNAL.
	FaultInternal
	// FaultUnavailable answers 503 UNAVAILABLE.
	FaultUnavailable
	// FaultCut drops the connection without an answer.
	FaultCut
	// FaultMalformed answers 200 with a body that is not JSON.
	FaultMalformed
	// FaultShort answers one embedding fewer than asked.
	FaultShort
)

// Reply scripts one answer.
type Reply struct {
	Delay      time.Duration
	Fault      Fault
	RetryAfter time.Duration // with FaultRateLimit; default 1s
}

// Request is a request the fake received.
type Request struct {
	Path   string
	Method string // "batchEmbedContents" or "embedContent"
	Model  string // from the URL
	APIKey string // x-goog-api-key, or the key query parameter
	Body   []byte
	// Items are the texts and their parameters, in order.
	Items []Item
}

// Item is one embedding request of a batch.
type Item struct {
	Model                string
	Text                 string
	TaskType             string
	OutputDimensionality int
}

// Options configure a fake.
type Options struct {
	// APIKey, if set, is the only key accepted.
	APIKey string
}

// Server is the fake on a loopback listener. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the base URL to give a client (it ends in BasePath).
	URL string

	opts    Options
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	queue    []Reply
	requests []Request
}

// Start starts a fake on loopback. Close stops it.
func Start(opts Options) *Server {
	s := &Server{opts: opts, closing: make(chan struct{})}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + BasePath
	return s
}

// Close stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.Close()
}

// Enqueue scripts the next answers, one per request; when the queue is
// empty the fake answers normally.
func (s *Server) Enqueue(r ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, r...)
}

// Requests returns a copy of the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) next() Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return Reply{}
	}
	r := s.queue[0]
	s.queue = s.queue[1:]
	return r
}

// Wire shapes (docs/protocols/llm.md section 5).
type wireContent struct {
	Parts []struct {
		Text string `json:"text"`
	} `json:"parts"`
}

type wireRequest struct {
	Model                string       `json:"model"`
	Content              *wireContent `json:"content"`
	TaskType             string       `json:"taskType"`
	OutputDimensionality *int         `json:"outputDimensionality"`
	// The docs' curl examples use snake_case, which the API accepts too.
	OutputDimensionalitySnake *int   `json:"output_dimensionality"`
	TaskTypeSnake             string `json:"task_type"`
}

type wireBatch struct {
	Requests []wireRequest `json:"requests"`
}

func (w wireRequest) item() Item {
	it := Item{Model: w.Model, TaskType: w.TaskType}
	if it.TaskType == "" {
		it.TaskType = w.TaskTypeSnake
	}
	if w.OutputDimensionality != nil {
		it.OutputDimensionality = *w.OutputDimensionality
	} else if w.OutputDimensionalitySnake != nil {
		it.OutputDimensionality = *w.OutputDimensionalitySnake
	}
	if w.Content != nil {
		texts := make([]string, 0, len(w.Content.Parts))
		for _, p := range w.Content.Parts {
			texts = append(texts, p.Text)
		}
		it.Text = strings.Join(texts, " ")
	}
	return it
}

// ServeHTTP serves POST /v1beta/models/{model}:batchEmbedContents and
// :embedContent.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return
	}
	rec := Request{Path: strings.TrimPrefix(r.URL.Path, BasePath), Body: body, APIKey: r.Header.Get("x-goog-api-key")}
	if rec.APIKey == "" {
		rec.APIKey = r.URL.Query().Get("key")
	}
	name, method, _ := strings.Cut(strings.TrimPrefix(rec.Path, "/models/"), ":")
	rec.Model, rec.Method = name, method
	var batch wireBatch
	bodyOK := true
	switch method {
	case "batchEmbedContents":
		bodyOK = json.Unmarshal(body, &batch) == nil
	case "embedContent":
		var one wireRequest
		bodyOK = json.Unmarshal(body, &one) == nil
		batch.Requests = []wireRequest{one}
	}
	for _, req := range batch.Requests {
		rec.Items = append(rec.Items, req.item())
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	if r.Method != http.MethodPost || !strings.HasPrefix(rec.Path, "/models/") || (method != "batchEmbedContents" && method != "embedContent") {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.", nil)
		return
	}
	if rec.APIKey == "" {
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", nil)
		return
	}
	if s.opts.APIKey != "" && rec.APIKey != s.opts.APIKey {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
			[]any{map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
				"domain": "googleapis.com", "metadata": map[string]string{"service": "generativelanguage.googleapis.com"}}})
		return
	}
	if name != "gemini-embedding-001" && name != "gemini-embedding-2" {
		writeError(w, http.StatusNotFound, "NOT_FOUND",
			fmt.Sprintf("models/%s is not found for API version v1beta, or is not supported for embedContent.", name), nil)
		return
	}
	if !bodyOK {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.", nil)
		return
	}
	if msg := validate(name, method, rec.Items); msg != "" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg, nil)
		return
	}
	reply := s.next()
	if !s.wait(r, reply.Delay) {
		return
	}
	if s.fault(w, reply) {
		return
	}
	vectors := make([]map[string][]float64, 0, len(rec.Items))
	for _, it := range rec.Items {
		vectors = append(vectors, map[string][]float64{"values": Vector(it.Text, dims(it.OutputDimensionality))})
	}
	if reply.Fault == FaultShort && len(vectors) > 0 {
		vectors = vectors[:len(vectors)-1]
	}
	var out any = map[string]any{"embeddings": vectors}
	if method == "embedContent" {
		out = map[string]any{"embedding": vectors[0]}
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b)
}

// validate checks a batch as the API does; it returns the error message or "".
func validate(model, method string, items []Item) string {
	if method == "batchEmbedContents" && len(items) == 0 {
		return "* BatchEmbedContentsRequest.requests: must not be empty"
	}
	if len(items) > 100 {
		return "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch"
	}
	for i, it := range items {
		switch {
		case method == "batchEmbedContents" && it.Model != "models/"+model:
			return fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].model: the model %q must match the model of the URL", i, it.Model)
		case strings.TrimSpace(it.Text) == "":
			return fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].content.parts: contents must not be empty", i)
		case it.OutputDimensionality != 0 && (it.OutputDimensionality < 128 || it.OutputDimensionality > 3072):
			return fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].output_dimensionality: must be between 128 and 3072", i)
		}
	}
	return ""
}

func dims(d int) int {
	if d == 0 {
		return 3072
	}
	return d
}

// fault answers a scripted fault; it reports false when there is none to
// play before the answer.
func (s *Server) fault(w http.ResponseWriter, r Reply) bool {
	switch r.Fault {
	case FaultRateLimit:
		delay := r.RetryAfter
		if delay <= 0 {
			delay = time.Second
		}
		writeError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
			"You exceeded your current quota, please check your plan and billing details.",
			[]any{
				map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []map[string]string{
					{"quotaId": "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier", "quotaValue": "100"}}},
				map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fmt.Sprintf("%gs", delay.Seconds())},
			})
	case FaultDailyQuota:
		writeError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
			"You exceeded your current quota, please check your plan and billing details.",
			[]any{map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []map[string]string{
				{"quotaId": "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier", "quotaValue": "1000"}}}})
	case FaultInternal:
		writeError(w, http.StatusInternalServerError, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", nil)
	case FaultUnavailable:
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The model is overloaded. Please try again later.", nil)
	case FaultCut:
		panic(http.ErrAbortHandler)
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write([]byte(`{"embeddings":[{"values":[0.011,`))
	default:
		return false
	}
	return true
}

// writeError writes Google's error body.
func writeError(w http.ResponseWriter, status int, code, msg string, details []any) {
	e := map[string]any{"code": status, "message": msg, "status": code}
	if details != nil {
		e["details"] = details
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// wait sleeps d unless the client goes away or the server closes first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		return false
	}
}

// Vector is the fake's embedding of text at dims values, as Google's
// Matryoshka embeddings behave: the full 3072-value vector, a hashed bag of
// words (each word adds +-1 at three hashed positions, so texts sharing
// words are similar), is unit length; a smaller size is its prefix and is
// NOT unit length, which the client must fix.
func Vector(text string, dims int) []float64 {
	const full = 3072
	v := make([]float64, full)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) == 0 {
		words = []string{text}
	}
	for _, w := range words {
		h := fnv.New64a()
		_, _ = h.Write([]byte(w))
		sum := h.Sum64()
		for k := range 3 {
			bits := sum >> (k * 21)
			sign := 1.0
			if bits&1 == 1 {
				sign = -1
			}
			// The first hash lands in the first 128 values, so even the
			// smallest size carries every word.
			idx := (bits >> 1) % full
			if k == 0 {
				idx = (bits >> 1) % 128
			}
			v[idx] += sign
		}
	}
	var sum float64
	for _, x := range v {
		sum += x * x
	}
	if sum == 0 {
		v[0], sum = 1, 1
	}
	inv := 1 / math.Sqrt(sum)
	for i := range v {
		v[i] *= inv
	}
	return v[:min(dims, full)]
}
