package rtc

import (
	"errors"
	"fmt"
)

// Errors of Server.Listen and Server.Delete; the HTTP layer maps them to
// status codes (WHEP: 400, 404, 503).
var (
	// ErrBadOffer: the offer is not SDP, or offers nothing this server can
	// answer (no audio section that receives PCMU). An *OfferError says why.
	ErrBadOffer = errors.New("rtc: unusable offer")
	// ErrCapacity: the node, or the call, has as many listeners as it may.
	// A *CapacityError says which limit.
	ErrCapacity = errors.New("rtc: too many listeners")
	// ErrCallEnded: the call ended before or while the listener was set up.
	ErrCallEnded = errors.New("rtc: the call has ended")
	// ErrSessionNotFound: no listening session with that id for that owner.
	ErrSessionNotFound = errors.New("rtc: no such listening session")
	// ErrClosed: the server is shutting down.
	ErrClosed = errors.New("rtc: server closed")
)

// OfferError is ErrBadOffer with the reason, safe to show the client.
type OfferError struct {
	Reason string
	Err    error // the parser's error, if any; not shown to clients
}

func (e *OfferError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%v: %s: %v", ErrBadOffer, e.Reason, e.Err)
	}
	return fmt.Sprintf("%v: %s", ErrBadOffer, e.Reason)
}

// Unwrap makes errors.Is(err, ErrBadOffer) true.
func (e *OfferError) Unwrap() error { return ErrBadOffer }

// CapacityError is ErrCapacity with the limit that was reached.
type CapacityError struct {
	// PerCall: the call's limit (Config.MaxListenersPerCall), else the
	// node's (Config.MaxListeners).
	PerCall bool
	Limit   int
}

func (e *CapacityError) Error() string {
	if e.PerCall {
		return fmt.Sprintf("%v: the call has %d listeners already", ErrCapacity, e.Limit)
	}
	return fmt.Sprintf("%v: this node has %d listeners already", ErrCapacity, e.Limit)
}

// Unwrap makes errors.Is(err, ErrCapacity) true.
func (e *CapacityError) Unwrap() error { return ErrCapacity }
