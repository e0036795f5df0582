package media

import "context"

// callIDKey is the context key of the IACE call id a piece of work serves.
type callIDKey struct{}

// WithCallID returns ctx carrying IACE's id of the call the work done under
// it serves: a provider request, a Call Control command. Their log lines
// then name the call, whichever package writes them; one key for every
// layer, set once by the session for the call's whole context.
func WithCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// CallID is the call id WithCallID put in ctx, or "".
func CallID(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}
