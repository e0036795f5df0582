package deepgram

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/iace/iace/ai"
)

// Errors of the Deepgram client.
var (
	// ErrNoAPIKey is returned by New without an API key; it wraps
	// ai.ErrUnavailable so the wiring falls back to an offline stand-in.
	ErrNoAPIKey = fmt.Errorf("deepgram: no API key: %w", ai.ErrUnavailable)
	// ErrClosed is returned by a stream used after its Close.
	ErrClosed = errors.New("deepgram: stream closed")
	// ErrEmptyText is returned for a speech request with nothing to say
	// (Deepgram answers 400 "Input text contains no characters").
	ErrEmptyText = errors.New("deepgram: empty text")
	// ErrTextTooLong is returned for a speech request over Aura's 2000
	// characters (Deepgram answers 413).
	ErrTextTooLong = errors.New("deepgram: text longer than 2000 characters")
	// ErrFirstByteTimeout is returned when Aura sends no audio within the
	// configured time to first byte. It wraps ai.ErrUnavailable.
	ErrFirstByteTimeout = fmt.Errorf("deepgram: no first byte in time: %w", ai.ErrUnavailable)
)

// APIError is a non-success HTTP answer from Deepgram: a failed WebSocket
// upgrade or a failed REST request. The body is the JSON of docs/protocols/deepgram.md §0.
type APIError struct {
	Op         string // "listen" or "speak"
	Status     int
	Code       string // err_code (or error_code, category)
	Message    string // err_msg (or message, dg-error)
	RequestID  string // dg-request-id or request_id
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("deepgram %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Unwrap makes the answers worth a fallback (429, 5xx) match ai.ErrUnavailable.
func (e *APIError) Unwrap() error {
	if e.Temporary() {
		return ai.ErrUnavailable
	}
	return nil
}

// Temporary reports whether the same request may succeed later: 429 and 5xx
// (docs/protocols/deepgram.md §0: "retry with backoff").
func (e *APIError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// errorBody is Deepgram's error JSON and the variants the reference says to
// tolerate.
type errorBody struct {
	ErrCode   string `json:"err_code"`
	ErrorCode string `json:"error_code"`
	Category  string `json:"category"`
	ErrMsg    string `json:"err_msg"`
	Message   string `json:"message"`
	Desc      string `json:"description"`
	RequestID string `json:"request_id"`
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 4 << 10

// newAPIError reads an error answer. body may be nil.
func newAPIError(op string, resp *http.Response) *APIError {
	e := &APIError{Op: op, Status: resp.StatusCode, RequestID: resp.Header.Get("dg-request-id"), Message: resp.Header.Get("dg-error")}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	if resp.Body == nil {
		return e
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)) // best effort: the status is what matters
	var b errorBody
	if json.Unmarshal(data, &b) != nil {
		return e
	}
	e.Code = firstNonEmpty(b.ErrCode, b.ErrorCode, b.Category)
	e.Message = firstNonEmpty(b.ErrMsg, b.Message, b.Desc, e.Message)
	e.RequestID = firstNonEmpty(e.RequestID, b.RequestID)
	return e
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// unavailable wraps a transport failure (refused, reset, timeout) so it
// matches ai.ErrUnavailable.
func unavailable(op string, err error) error {
	if errors.Is(err, ai.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("deepgram %s: %w: %w", op, ai.ErrUnavailable, err)
}
