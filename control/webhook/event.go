package webhook

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Event types IACE acts on (docs/protocols/telnyx.md section 4).
const (
	TypeCallInitiated    = "call.initiated"
	TypeCallAnswered     = "call.answered"
	TypeCallHangup       = "call.hangup"
	TypeCallDTMF         = "call.dtmf.received"
	TypeStreamingStarted = "streaming.started"
	TypeStreamingStopped = "streaming.stopped"
	TypeStreamingFailed  = "streaming.failed"
)

var handledTypes = []string{TypeCallInitiated, TypeCallAnswered, TypeCallHangup, TypeCallDTMF,
	TypeStreamingStarted, TypeStreamingStopped, TypeStreamingFailed}

// Signature headers (docs/protocols/telnyx.md section 4); Go matches header names
// case-insensitively.
const (
	HeaderSignature = "Telnyx-Signature-Ed25519"
	HeaderTimestamp = "Telnyx-Timestamp"
)

// Errors of the request checks. Each maps to one HTTP status in ServeHTTP.
var (
	ErrBadSignature = errors.New("webhook: bad or missing signature")
	ErrStale        = errors.New("webhook: timestamp outside the replay window")
	ErrMalformed    = errors.New("webhook: malformed event")
)

// Event is one Telnyx webhook event, reduced to what IACE uses.
type Event struct {
	ID         string
	Type       string
	OccurredAt time.Time
	Payload    Payload
}

// Payload holds the call fields of an event's payload. From and To are
// phone numbers: never log them at info level.
type Payload struct {
	CallControlID string `json:"call_control_id"`
	CallSessionID string `json:"call_session_id"`
	ClientState   string `json:"client_state"`
	From          string `json:"from"`
	To            string `json:"to"`
	Direction     string `json:"direction"`
	Digit         string `json:"digit"`
	HangupCause   string `json:"hangup_cause"`
	FailureReason string `json:"failure_reason"`
	// StreamID names the media stream of a streaming event.
	StreamID string `json:"stream_id"`
}

// Field caps: Telnyx ids are ~70 bytes, numbers and SIP URIs short.
const (
	maxIDLen          = 128
	maxCallControlLen = 256
	maxFieldLen       = 512
	maxClientState    = 1024
)

type envelope struct {
	Data struct {
		EventType  string  `json:"event_type"`
		ID         string  `json:"id"`
		OccurredAt string  `json:"occurred_at"`
		Payload    Payload `json:"payload"`
	} `json:"data"`
}

// ParseEvent decodes a webhook body. Unknown fields are ignored: the event
// schema keeps growing.
func ParseEvent(body []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	d := env.Data
	p := d.Payload
	switch {
	case d.ID == "" || len(d.ID) > maxIDLen || strings.ContainsFunc(d.ID, isControlOrSpace):
		return Event{}, fmt.Errorf("%w: data.id missing, too long or not printable", ErrMalformed)
	case d.EventType == "" || len(d.EventType) > 64:
		return Event{}, fmt.Errorf("%w: data.event_type missing or too long", ErrMalformed)
	case len(p.CallControlID) > maxCallControlLen || strings.ContainsFunc(p.CallControlID, isControlOrSpace):
		return Event{}, fmt.Errorf("%w: call_control_id too long or not printable", ErrMalformed)
	case len(p.ClientState) > maxClientState:
		return Event{}, fmt.Errorf("%w: client_state too long", ErrMalformed)
	}
	for _, f := range []string{p.CallSessionID, p.From, p.To, p.Direction, p.Digit, p.HangupCause, p.FailureReason, p.StreamID} {
		if len(f) > maxFieldLen {
			return Event{}, fmt.Errorf("%w: a payload field is longer than %d bytes", ErrMalformed, maxFieldLen)
		}
	}
	ev := Event{ID: d.ID, Type: d.EventType, Payload: p}
	if d.OccurredAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, d.OccurredAt); err == nil {
			ev.OccurredAt = t.UTC()
		}
	}
	return ev, nil
}

// VerifySignature checks Telnyx's Ed25519 signature over "timestamp|body"
// and that the timestamp is within tolerance of now, either way.
func VerifySignature(pub ed25519.PublicKey, sigB64, timestamp string, body []byte, now time.Time, tolerance time.Duration) error {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return ErrBadSignature
	}
	if timestamp == "" || len(timestamp) > 20 {
		return ErrBadSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	msg := make([]byte, 0, len(timestamp)+1+len(body))
	msg = append(append(append(msg, timestamp...), '|'), body...)
	if !ed25519.Verify(pub, msg, sig) {
		return ErrBadSignature
	}
	// Checked after the signature, so the timestamp is Telnyx's own.
	if skew := now.Unix() - ts; math.Abs(float64(skew)) > tolerance.Seconds() {
		return fmt.Errorf("%w: %d s off", ErrStale, skew)
	}
	return nil
}

func isControlOrSpace(r rune) bool { return r <= 0x20 || r == 0x7f }
