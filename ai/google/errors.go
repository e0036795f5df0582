package google

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

// Errors of the client. Those that mean "the provider cannot serve now" come
// wrapped together with ai.ErrUnavailable.
var (
	// ErrNoAPIKey is returned by New without an API key; it wraps
	// ai.ErrUnavailable so the wiring can fall back to offline embeddings.
	ErrNoAPIKey = fmt.Errorf("google: no API key: %w", ai.ErrUnavailable)
	// ErrCircuitOpen is returned at once, without a request, while the
	// circuit breaker is open.
	ErrCircuitOpen = errors.New("google: circuit breaker open")
	// ErrBusy is returned when MaxConcurrent requests are in flight and none
	// finished within the bulkhead wait.
	ErrBusy = errors.New("google: too many concurrent requests")
	// ErrTimeout is returned when attempts took longer than the timeout.
	ErrTimeout = errors.New("google: request timed out")
	// ErrMalformed is returned for an answer that does not parse or does not
	// match the request (count, dimensions, values).
	ErrMalformed = errors.New("google: malformed answer")
	// ErrTooLarge is returned for an answer over its size cap.
	ErrTooLarge = errors.New("google: answer too large")
	// ErrEmptyText is returned for a text with nothing but white space,
	// which the API rejects.
	ErrEmptyText = errors.New("google: empty text")
)

// maxErrorBody caps how much of an error answer is read.
const maxErrorBody = 64 << 10

// APIError is a non-2xx answer of the Gemini API with its error body
// {"error":{"code","message","status","details"}}. 429 (unless a daily
// quota), 500, 503 and 504 are temporary and unwrap to ai.ErrUnavailable.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is the canonical status ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"...).
	Code string
	// Message is Google's explanation.
	Message string
	// Reason is the ErrorInfo reason, such as API_KEY_INVALID, if given.
	Reason string
	// RetryAfter is the wait asked for by RetryInfo.retryDelay or a
	// Retry-After header, 0 if none.
	RetryAfter time.Duration
	// Daily is true for a 429 of a per-day quota: retrying before the
	// reset is pointless.
	Daily bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("google: status ")
	b.WriteString(strconv.Itoa(e.Status))
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

// Temporary reports whether the same request may succeed soon.
func (e *APIError) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests:
		return !e.Daily
	case http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Unwrap returns ai.ErrUnavailable for errors that mean the provider cannot
// serve now: the temporary ones and a spent daily quota.
func (e *APIError) Unwrap() error {
	if e.Temporary() || e.Status == http.StatusTooManyRequests {
		return ai.ErrUnavailable
	}
	return nil
}

type errorBody struct {
	Error struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

type errorDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
	Violations []struct {
		QuotaID string `json:"quotaId"`
	} `json:"violations"`
}

// readAPIError builds the error of a non-2xx answer; the caller closes the
// body.
func readAPIError(resp *http.Response, now time.Time) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: retryAfterHeader(resp.Header.Get("Retry-After"), now)}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)) // a cut body still has a status
	var b errorBody
	if err := json.Unmarshal(data, &b); err != nil {
		e.Message = strings.TrimSpace(string(data))
	} else {
		e.Code, e.Message = b.Error.Status, b.Error.Message
		for _, raw := range b.Error.Details {
			var d errorDetail
			if json.Unmarshal(raw, &d) != nil {
				continue
			}
			switch {
			case strings.HasSuffix(d.Type, "google.rpc.RetryInfo"):
				if v, err := time.ParseDuration(d.RetryDelay); err == nil && v > 0 {
					e.RetryAfter = v
				}
			case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo"):
				e.Reason = d.Reason
			case strings.HasSuffix(d.Type, "google.rpc.QuotaFailure"):
				for _, v := range d.Violations {
					if strings.Contains(v.QuotaID, "PerDay") {
						e.Daily = true
					}
				}
			}
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// retryAfterHeader reads Retry-After in seconds or as an HTTP date.
func retryAfterHeader(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
