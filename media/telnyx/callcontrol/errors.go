package callcontrol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/timeout"
)

// Telnyx error codes the client gives meaning to (docs/protocols/telnyx.md section 3). Codes
// are strings on the wire.
const (
	// CodeCallEnded is "call has already ended": 422 on any command to a call
	// that hung up. Hangup treats it as success.
	CodeCallEnded = "90018"
	// CodeInvalidCallControlID is "invalid call_control_id".
	CodeInvalidCallControlID = "90015"
	// CodeTooManyRequests is Telnyx's rate-limit code.
	CodeTooManyRequests = "10011"
)

var (
	// ErrInvalidParams marks a command refused before it was sent: a missing or
	// malformed argument. It is never retried.
	ErrInvalidParams = errors.New("invalid call control parameters")
	// ErrCircuitOpen is returned while the breaker is open: Telnyx failed too
	// often recently and the command was not sent.
	ErrCircuitOpen = circuitbreaker.ErrOpen
	// ErrBusy is returned when Config.MaxConcurrent attempts were already in
	// flight for longer than Config.BulkheadWait: the command was not sent.
	ErrBusy = bulkhead.ErrFull
	// ErrTimeout is an attempt that outlived Config.AttemptTimeout.
	ErrTimeout = timeout.ErrExceeded
)

// maxErrorText caps the title and detail kept from an error body so a hostile
// or broken peer cannot make us hold or log a large string.
const maxErrorText = 512

// ErrorObject is one entry of the Telnyx error envelope
// {"errors":[{"code":"90018","title":"...","detail":"...","source":{"pointer":"/to"}}]}.
type ErrorObject struct {
	Code    string `json:"code"`
	Title   string `json:"title"`
	Detail  string `json:"detail"`
	Pointer string `json:"-"`
}

// APIError is a non-2xx answer from Telnyx. Status, Code, Title and Detail come
// from the first entry of the error envelope; Errors holds every entry.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the first error's Telnyx code ("90018"), empty if the body had none.
	Code string
	// Title and Detail are the first error's human-readable text, capped.
	Title  string
	Detail string
	// Errors is the whole envelope (capped at a few entries).
	Errors []ErrorObject
	// RequestID is Telnyx's x-request-id response header, if any.
	RequestID string
	// RetryAfter is the parsed Retry-After header of a 429 or 503, zero if none.
	RetryAfter time.Duration
}

// Error describes the failure without echoing the request.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "telnyx status %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " code %s", e.Code)
	}
	if e.Title != "" {
		fmt.Fprintf(&b, ": %s", e.Title)
	}
	if e.Detail != "" && e.Detail != e.Title {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	return b.String()
}

// HasCode reports whether any entry of the envelope carries code.
func (e *APIError) HasCode(code string) bool {
	if e.Code == code {
		return true
	}
	for _, o := range e.Errors {
		if o.Code == code {
			return true
		}
	}
	return false
}

// CallEnded reports whether Telnyx refused the command because the call has
// already ended (422 with code 90018).
func (e *APIError) CallEnded() bool {
	return e.Status == 422 && e.HasCode(CodeCallEnded)
}

// Retryable reports whether repeating the same command may succeed: rate
// limiting and server errors. Other 4xx answers mean the request or the call's
// state is wrong and a repeat would fail the same way.
func (e *APIError) Retryable() bool {
	return e.Status == 429 || e.Status >= 500
}

// IsCallEnded reports whether err is Telnyx saying the call has already ended.
func IsCallEnded(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.CallEnded()
}

// envelope is the standard Telnyx error body.
type envelope struct {
	Errors []struct {
		Code   json.RawMessage `json:"code"`
		Title  string          `json:"title"`
		Detail string          `json:"detail"`
		Source struct {
			Pointer string `json:"pointer"`
		} `json:"source"`
	} `json:"errors"`
}

// maxErrorObjects caps how many envelope entries are kept.
const maxErrorObjects = 8

// ParseError builds the APIError for an HTTP status and its body. It never
// fails: a body that is not the Telnyx envelope gives an APIError with the
// status only. code is a string on the wire, but a number is tolerated.
func ParseError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return e
	}
	for i, o := range env.Errors {
		if i == maxErrorObjects {
			break
		}
		e.Errors = append(e.Errors, ErrorObject{
			Code:    clip(parseCode(o.Code), 32),
			Title:   clip(o.Title, maxErrorText),
			Detail:  clip(o.Detail, maxErrorText),
			Pointer: clip(o.Source.Pointer, 128),
		})
	}
	if len(e.Errors) > 0 {
		e.Code, e.Title, e.Detail = e.Errors[0].Code, e.Errors[0].Title, e.Errors[0].Detail
	}
	return e
}

// parseCode reads "90018" or 90018 as "90018"; anything else as "".
func parseCode(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// clip caps s at n bytes without splitting a UTF-8 sequence, and drops
// control characters so the text is safe in a log line.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	s = strings.ToValidUTF8(s, "")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}
