package callcontrol

import "context"

// callIDKey is the context key of the IACE call id a command acts for.
type callIDKey struct{}

// WithCallID returns ctx carrying IACE's id of the call a command acts for,
// so every attempt's log line can be tied to the call's other lines
// (call_control_id is Telnyx's id of the leg, not ours).
func WithCallID(ctx context.Context, callID string) context.Context {
	return context.WithValue(ctx, callIDKey{}, callID)
}

// callIDFrom returns the id set by WithCallID, or "".
func callIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}
