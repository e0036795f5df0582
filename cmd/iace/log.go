package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/media"
)

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// newLogger logs JSON in production and text on a terminal. Every line
// logged under a traced request or call names its trace.
func newLogger(format, level string, w io.Writer) *slog.Logger {
	l, _ := parseLevel(level) // validated with the config
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" || format == "auto" && w == os.Stderr && isTerminal(os.Stderr) {
		return slog.New(traceHandler{Handler: slog.NewTextHandler(w, opts)})
	}
	return slog.New(traceHandler{Handler: slog.NewJSONHandler(w, opts)})
}

// traceHandler adds trace_id, the trace of the span a line's context
// carries, to every line logged with a context (InfoContext, Log), unless
// the logger has it already (media.WithTraceID, for the lines of a call's
// session, logged without one). A line and its trace then find each other.
type traceHandler struct {
	slog.Handler
	has bool // the logger's own attributes name the trace
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.has && ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String(media.TraceID, sc.TraceID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.has || slices.ContainsFunc(attrs, func(a slog.Attr) bool { return a.Key == media.TraceID })
	return traceHandler{Handler: h.Handler.WithAttrs(attrs), has: has}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{Handler: h.Handler.WithGroup(name), has: h.has}
}
