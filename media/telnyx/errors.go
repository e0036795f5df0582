package telnyx

import "errors"

// Kinds of protocol error, used as a bounded metric label.
const (
	KindMalformedJSON = "malformed_json"
	KindBadField      = "bad_field"
	KindBadBase64     = "bad_base64"
	KindOversize      = "oversize"
	KindBinaryFrame   = "binary_frame"
	KindUnexpected    = "unexpected_event"
)

// ProtocolError is a frame that broke the protocol. The frame is skipped; the
// stream goes on.
type ProtocolError struct {
	Kind string
	Err  error
}

func (e *ProtocolError) Error() string { return "telnyx: " + e.Kind + ": " + e.Err.Error() }

// Unwrap returns the underlying cause.
func (e *ProtocolError) Unwrap() error { return e.Err }

// ErrNoStart is returned when a stream does not open with connected and start.
var ErrNoStart = errors.New("telnyx: stream did not start")

// ErrStreamForbidden is what an Acceptor wraps to refuse a stream that must
// never run (its token was used already, its call has ended, its start frame
// contradicts its token): the Handler closes it with a policy violation,
// not "try again later".
var ErrStreamForbidden = errors.New("telnyx: stream not allowed")
