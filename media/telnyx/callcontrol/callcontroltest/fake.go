package callcontroltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Error codes the fake answers with. 90018 is documented (docs/protocols/telnyx.md section
// 3); the others are the fake's choice of Telnyx-style codes.
const (
	CodeCallEnded     = "90018"
	CodeInvalidParam  = "10015"
	CodeAuthFailed    = "10009"
	CodeNotFound      = "10005"
	CodeRateLimited   = "10011"
	CodeInternalError = "10007"
	// CodeStreamActive refuses a second media stream (OneStreamPerCall).
	CodeStreamActive = "90061"
)

// DedupeWindow is how long Telnyx ignores a repeated command_id on the same
// call (docs/protocols/telnyx.md section 3).
const DedupeWindow = 60 * time.Second

const maxBody = 1 << 20

// Command is one request the fake received, whatever its outcome.
type Command struct {
	Action        string
	CallControlID string
	// CommandID is the body's command_id ("" if absent or unparsed).
	CommandID string
	// Body is the decoded JSON body; Raw the bytes as received.
	Body map[string]any
	Raw  []byte
	// Authorization is the header as received.
	Authorization string
	// TraceParent is the W3C traceparent header as received ("" if none).
	TraceParent string
	// Applied is true when the command took effect; Duplicate when it was a
	// repeat command_id inside the dedupe window, accepted and not applied.
	Applied   bool
	Duplicate bool
	// Status is the HTTP status answered (0 if the client went away first).
	Status    int
	RequestID string
}

// Fault scripts the answer to matching requests. A fault matches when Action
// and CallControlID are empty or equal; it is used Times times (0 means
// once), in the order faults were added.
type Fault struct {
	Action        string
	CallControlID string
	Times         int
	// Status is the HTTP status to answer (429, 500, 401...); 0 answers
	// normally after Delay.
	Status int
	// Code, Detail are put in the error envelope; Code defaults by status.
	Code   string
	Detail string
	// RetryAfter is sent as the Retry-After header when set ("1", or a date).
	RetryAfter string
	// Delay holds the answer back (a slow Telnyx); it ends early if the client
	// goes away.
	Delay time.Duration
	// AfterApply applies the command before answering with the fault, as when
	// Telnyx acted but its answer was lost: a retry must then be deduped.
	AfterApply bool
}

// Fake is the Call Control API as an http.Handler, for NewServer or for a
// fakes process that mounts it on its own listener.
type Fake struct {
	apiKey string

	mu       sync.Mutex
	now      func() time.Time
	commands []Command
	seen     map[string]time.Time // call_control_id + "\x00" + command_id -> applied at
	ended    map[string]bool
	// streams counts each call's running media streams (answer with a
	// stream_url, streaming_start, streaming_stop); oneStream refuses a
	// second one.
	streams   map[string]int
	oneStream bool
	faults    []Fault
	changed   chan struct{} // closed and replaced when commands changes
	nextID    int
	closed    chan struct{}
	closeOne  sync.Once
}

// New returns a Fake that accepts the Bearer key apiKey.
func New(apiKey string) *Fake {
	return &Fake{
		apiKey:  apiKey,
		now:     time.Now,
		seen:    map[string]time.Time{},
		ended:   map[string]bool{},
		streams: map[string]int{},
		changed: make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

// Server is a Fake on a loopback httptest server.
type Server struct {
	*Fake
	srv *httptest.Server
}

// NewServer starts a Fake on loopback. Close it when done.
func NewServer(apiKey string) *Server {
	f := New(apiKey)
	return &Server{Fake: f, srv: httptest.NewServer(f)}
}

// BaseURL is the API root to give the client, like https://api.telnyx.com/v2.
func (s *Server) BaseURL() string { return s.srv.URL + "/v2" }

// Close releases slow answers in progress and stops the server.
func (s *Server) Close() {
	s.Release()
	s.srv.Close()
}

// Release ends every Delay in progress or to come, so a server can close.
func (f *Fake) Release() { f.closeOne.Do(func() { close(f.closed) }) }

// SetClock replaces the clock used for the dedupe window.
func (f *Fake) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// Fail queues a fault.
func (f *Fake) Fail(fault Fault) {
	if fault.Times <= 0 {
		fault.Times = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault)
}

// EndCall marks the call as ended: later commands answer 422 with 90018.
func (f *Fake) EndCall(callControlID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended[callControlID] = true
}

// Ended reports whether the call has ended (EndCall or an applied hangup).
func (f *Fake) Ended(callControlID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended[callControlID]
}

// Commands returns a copy of every command received, in arrival order.
func (f *Fake) Commands() []Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Command(nil), f.commands...)
}

// Applied returns the commands with this action on this call that took
// effect; a correct client makes it at most one per command_id.
func (f *Fake) Applied(action, callControlID string) []Command {
	var out []Command
	for _, c := range f.Commands() {
		if c.Applied && c.Action == action && c.CallControlID == callControlID {
			out = append(out, c)
		}
	}
	return out
}

// Wait returns the first recorded command that match accepts, waiting for it
// until ctx ends. It wakes on each new command, never polls.
func (f *Fake) Wait(ctx context.Context, match func(Command) bool) (Command, error) {
	seen := 0
	for {
		f.mu.Lock()
		for ; seen < len(f.commands); seen++ {
			if match(f.commands[seen]) {
				c := f.commands[seen]
				f.mu.Unlock()
				return c, nil
			}
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Command{}, fmt.Errorf("callcontroltest: no matching command: %w", ctx.Err())
		}
	}
}

// WaitApplied waits until a command with this action takes effect on the call.
func (f *Fake) WaitApplied(ctx context.Context, action, callControlID string) (Command, error) {
	return f.Wait(ctx, func(c Command) bool {
		return c.Applied && c.Action == action && c.CallControlID == callControlID
	})
}

// record appends c and wakes the waiters.
func (f *Fake) record(c Command) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, c)
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) requestID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return fmt.Sprintf("fake-req-%06d", f.nextID)
}

// takeFault returns the first matching fault and uses it up.
func (f *Fake) takeFault(action, ccid string) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults {
		ft := &f.faults[i]
		if ft.Times > 0 && (ft.Action == "" || ft.Action == action) && (ft.CallControlID == "" || ft.CallControlID == ccid) {
			ft.Times--
			out := *ft
			if ft.Times == 0 {
				f.faults = append(f.faults[:i], f.faults[i+1:]...)
			}
			return out, true
		}
	}
	return Fault{}, false
}

// OneStreamPerCall makes the fake refuse streaming_start (422, code
// CodeStreamActive) while the call has a running media stream, as Telnyx's
// media streaming guide says it allows one bidirectional stream per call.
// By default streams may overlap.
func (f *Fake) OneStreamPerCall(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oneStream = on
}

// refusal is why apply did not apply a command.
type refusal struct {
	status              int
	code, title, detail string
}

var (
	refusedEnded = &refusal{http.StatusUnprocessableEntity, CodeCallEnded, "Call has already ended",
		"This call is no longer active and can't receive commands."}
	refusedStream = &refusal{http.StatusUnprocessableEntity, CodeStreamActive, "Media stream already active",
		"The call already has a bidirectional media stream; stop it first."}
)

// apply makes the command take effect unless it is a repeat, the call has
// ended, or (OneStreamPerCall) it would start a second stream. It returns
// nil or why the command was refused.
func (f *Fake) apply(c *Command) *refusal {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := c.CallControlID + "\x00" + c.CommandID
	if at, ok := f.seen[key]; ok && c.CommandID != "" && f.now().Sub(at) < DedupeWindow {
		c.Duplicate = true
		return nil
	}
	if f.ended[c.CallControlID] {
		return refusedEnded
	}
	if c.Action == "streaming_start" && f.oneStream && f.streams[c.CallControlID] > 0 {
		return refusedStream
	}
	if c.CommandID != "" {
		f.seen[key] = f.now()
	}
	c.Applied = true
	switch c.Action {
	case "hangup":
		f.ended[c.CallControlID] = true
		delete(f.streams, c.CallControlID)
	case "answer":
		if _, ok := c.Body["stream_url"]; ok {
			f.streams[c.CallControlID] = 1
		}
	case "streaming_start":
		f.streams[c.CallControlID]++
	case "streaming_stop":
		if id, _ := c.Body["stream_id"].(string); id != "" && f.streams[c.CallControlID] > 1 {
			f.streams[c.CallControlID]--
		} else {
			delete(f.streams, c.CallControlID)
		}
	}
	return nil
}

// ServeHTTP answers POST /v2/calls/{call_control_id}/actions/{action}.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := Command{RequestID: f.requestID(), Authorization: r.Header.Get("Authorization"), TraceParent: r.Header.Get("traceparent")}
	w.Header().Set("X-Request-Id", c.RequestID)
	w.Header().Set("Content-Type", "application/json")
	defer func() { f.record(c) }()

	ccid, action, ok := parsePath(r.URL)
	c.CallControlID, c.Action = ccid, action
	if !ok {
		c.Status = writeError(w, http.StatusNotFound, CodeNotFound, "Resource not found", "no such path")
		return
	}
	if c.Authorization != "Bearer "+f.apiKey || f.apiKey == "" {
		c.Status = writeError(w, http.StatusUnauthorized, CodeAuthFailed, "Authentication failed", "missing or wrong Bearer API key")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		c.Status = writeError(w, http.StatusMethodNotAllowed, CodeInvalidParam, "Method not allowed", r.Method)
		return
	}
	if _, ok := schemas[action]; !ok {
		c.Status = writeError(w, http.StatusNotFound, CodeNotFound, "Resource not found", "the fake does not implement action "+action)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		c.Status = writeError(w, http.StatusUnsupportedMediaType, CodeInvalidParam, "Unsupported media type", "Content-Type must be application/json")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	c.Raw = raw
	if err != nil || len(raw) > maxBody {
		c.Status = writeError(w, http.StatusBadRequest, CodeInvalidParam, "Invalid request body", "unreadable or too large")
		return
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c.Body); err != nil || c.Body == nil || json.Unmarshal(raw, &fields) != nil {
		c.Status = writeError(w, http.StatusBadRequest, CodeInvalidParam, "Invalid request body", "body must be a JSON object")
		return
	}
	if id, ok := c.Body["command_id"].(string); ok {
		c.CommandID = id
	}
	if probs := check(action, fields); len(probs) > 0 {
		c.Status = writeProblems(w, probs)
		return
	}

	fault, faulted := f.takeFault(action, ccid)
	if faulted && fault.AfterApply {
		f.apply(&c)
	}
	if faulted && fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up: Status stays 0
		case <-f.closed:
			t.Stop()
		}
	}
	if faulted && fault.Status != 0 {
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		c.Status = writeError(w, fault.Status, orCode(fault), http.StatusText(fault.Status), fault.Detail)
		return
	}
	if !c.Applied {
		if no := f.apply(&c); no != nil {
			c.Status = writeError(w, no.status, no.code, no.title, no.detail)
			return
		}
	}
	c.Status = http.StatusOK
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"data":{"result":"ok"}}`)
}

// parsePath splits /v2/calls/{id}/actions/{action}; the id is unescaped.
func parsePath(u *url.URL) (ccid, action string, ok bool) {
	rest, found := strings.CutPrefix(u.EscapedPath(), "/v2/calls/")
	if !found {
		return "", "", false
	}
	esc, action, found := strings.Cut(rest, "/actions/")
	if !found || esc == "" || action == "" || strings.Contains(esc, "/") || strings.Contains(action, "/") {
		return "", "", false
	}
	id, err := url.PathUnescape(esc)
	if err != nil {
		return "", "", false
	}
	return id, action, true
}

func orCode(f Fault) string {
	switch {
	case f.Code != "":
		return f.Code
	case f.Status == http.StatusTooManyRequests:
		return CodeRateLimited
	case f.Status == http.StatusUnauthorized:
		return CodeAuthFailed
	case f.Status >= 500:
		return CodeInternalError
	}
	return CodeInvalidParam
}

type errorObject struct {
	Code   string            `json:"code"`
	Title  string            `json:"title"`
	Detail string            `json:"detail,omitempty"`
	Source map[string]string `json:"source,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, title, detail string) int {
	return writeEnvelope(w, status, []errorObject{{Code: code, Title: title, Detail: detail}})
}

func writeProblems(w http.ResponseWriter, probs []problem) int {
	objs := make([]errorObject, 0, len(probs))
	for _, p := range probs {
		objs = append(objs, errorObject{
			Code: CodeInvalidParam, Title: "Invalid parameter",
			Detail: p.pointer[1:] + " " + p.detail, Source: map[string]string{"pointer": p.pointer},
		})
	}
	return writeEnvelope(w, http.StatusUnprocessableEntity, objs)
}

func writeEnvelope(w http.ResponseWriter, status int, objs []errorObject) int {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": objs})
	return status
}
