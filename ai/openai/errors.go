package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iace/iace/ai"
)

// Errors of the client. The ones that mean "the provider cannot serve now" are
// returned wrapped together with ai.ErrUnavailable, so the session can fall
// back with one errors.Is.
var (
	// ErrCircuitOpen is returned at once, without a request, while the
	// operation's circuit breaker is open.
	ErrCircuitOpen = errors.New("openai: circuit breaker open")
	// ErrBusy is returned when the client already runs its maximum of
	// concurrent requests and none finished within the bulkhead wait.
	ErrBusy = errors.New("openai: too many concurrent requests")
	// ErrFirstByteTimeout is returned when no byte of the answer arrived within
	// the first-byte timeout (after connecting and sending the request).
	ErrFirstByteTimeout = errors.New("openai: no first byte in time")
	// ErrStalled is returned when a streamed answer stops arriving for longer
	// than the idle timeout.
	ErrStalled = errors.New("openai: stream stalled")
	// ErrTruncated is returned when a stream ends before its terminator
	// ([DONE] for chat, the announced data size for WAV).
	ErrTruncated = errors.New("openai: stream truncated")
	// ErrMalformed is returned for an answer that does not parse: a chunk that
	// is not JSON, a tool call without a name or with arguments that are not
	// JSON, an audio header that is not a WAV header.
	ErrMalformed = errors.New("openai: malformed answer")
	// ErrTooLarge is returned when a line or a whole answer exceeds its cap.
	ErrTooLarge = errors.New("openai: answer too large")
	// ErrClosed is returned by a stream used after Close.
	ErrClosed = errors.New("openai: stream closed")
)

// maxErrorBody caps how much of an error response is read.
const maxErrorBody = 64 << 10

// APIError is an error answer of the API: a non-2xx status with the OpenAI
// error envelope {"error":{"message","type","code"}}, or an error event inside
// a stream (Status 0). Rate limits (429), Groq's capacity error (498) and
// server errors (5xx), as well as errors inside a stream, unwrap to
// ai.ErrUnavailable; the other 4xx are the request's own fault.
type APIError struct {
	// Status is the HTTP status, 0 for an error event inside a stream.
	Status int
	// Code is the envelope's code ("rate_limit_exceeded", "invalid_api_key",
	// "tool_use_failed"...), may be empty.
	Code string
	// Type is the envelope's type ("invalid_request_error", "tokens"...).
	Type string
	// Message is the provider's explanation.
	Message string
	// RetryAfter is the wait the server asked for (retry-after-ms or
	// retry-after headers), 0 if none.
	RetryAfter time.Duration
	// RequestID is the provider's request id (x-request-id header), if sent.
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Status != 0 {
		b.WriteString("status ")
		b.WriteString(strconv.Itoa(e.Status))
	} else {
		b.WriteString("error event")
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns ai.ErrUnavailable for errors that mean the provider cannot
// serve now (see APIError), nil otherwise.
func (e *APIError) Unwrap() error {
	if e.Temporary() {
		return ai.ErrUnavailable
	}
	return nil
}

// Temporary reports whether the same request may succeed later: 429, 498
// (Groq flex capacity), 5xx, and errors inside a stream.
func (e *APIError) Temporary() bool {
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status == 498 || e.Status >= 500
}

// envelope is the OpenAI error body. Code may be a string, a number or null;
// some proxies send "error" as a bare string.
type envelope struct {
	Error json.RawMessage `json:"error"`
}

type errorObject struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

// parseEnvelope fills e from an error body, leniently: whatever does not parse
// becomes the message.
func (e *APIError) parseEnvelope(body []byte) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || len(env.Error) == 0 {
		e.Message = strings.TrimSpace(string(body))
		return
	}
	var s string
	if json.Unmarshal(env.Error, &s) == nil {
		e.Message = s
		return
	}
	var obj errorObject
	if err := json.Unmarshal(env.Error, &obj); err != nil {
		e.Message = string(env.Error)
		return
	}
	e.Message, e.Type = obj.Message, obj.Type
	if len(obj.Code) > 0 && string(obj.Code) != "null" {
		var code string
		if json.Unmarshal(obj.Code, &code) != nil {
			code = string(obj.Code)
		}
		e.Code = code
	}
}

// readAPIError builds the error of a non-2xx response. It reads at most
// maxErrorBody bytes; the caller closes the body.
func readAPIError(resp *http.Response, now time.Time) *APIError {
	e := &APIError{
		Status:     resp.StatusCode,
		RetryAfter: retryAfter(resp.Header, now),
		RequestID:  resp.Header.Get("x-request-id"),
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)) // a cut body still has a status
	e.parseEnvelope(body)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// retryAfter reads OpenAI's retry-after-ms, then the standard retry-after in
// seconds or as an HTTP date (RFC 9110 section 10.2.3). Groq sends integer
// seconds, on 429 only.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("retry-after")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// unavailable wraps err as ai.ErrUnavailable in the context of op.
func unavailable(op string, err error) error {
	return fmt.Errorf("openai %s: %w: %w", op, ai.ErrUnavailable, err)
}
