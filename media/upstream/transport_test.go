package upstream_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/media/upstream"
)

// TestEachRequestIsAClientSpanWhoseContextTheProviderReceives: the
// provider gets a W3C traceparent naming the request's span, a child of
// the caller's.
func TestEachRequestIsAClientSpanWhoseContextTheProviderReceives(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
	}))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(t.Context()) }()

	base := &http.Transport{}
	c := &http.Client{Transport: upstream.Transport(base, tp, func(r *http.Request) string { return "fake " + r.Method + " " + r.URL.Path })}
	defer c.CloseIdleConnections()
	ctx, parent := tp.Tracer("test").Start(t.Context(), "turn")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/chat/completions", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	parent.End()

	var span sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "fake POST /chat/completions" {
			span = s
		}
	}
	if span == nil {
		t.Fatalf("no client span among %d", len(rec.Ended()))
	}
	if span.SpanKind() != trace.SpanKindClient || span.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span kind %v, parent %v: want a client span under the turn", span.SpanKind(), span.Parent().SpanID())
	}
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if tp := <-got; tp != want {
		t.Errorf("the provider received traceparent %q, want %q", tp, want)
	}
}

func TestWithoutATracerTheTransportIsUntouched(t *testing.T) {
	base := &http.Transport{}
	if rt := upstream.Transport(base, nil, nil); rt != base {
		t.Errorf("transport %T, want the base itself", rt)
	}
	h := http.Header{}
	_, span := upstream.StartSpan(t.Context(), nil, "x", h)
	upstream.EndSpan(span, 101, nil)
	if len(h) != 0 {
		t.Errorf("headers %v written without a tracer", h)
	}
}

func TestAWebSocketUpgradeIsAClientSpanToo(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(t.Context()) }()
	h := http.Header{}
	_, span := upstream.StartSpan(t.Context(), tp, "fake listen", h)
	upstream.EndSpan(span, http.StatusTooManyRequests, errors.New("rate limited"))
	ended := rec.Ended()
	if len(ended) != 1 || ended[0].Name() != "fake listen" || ended[0].SpanKind() != trace.SpanKindClient {
		t.Fatalf("spans %v", ended)
	}
	if tp := h.Get("traceparent"); !strings.Contains(tp, ended[0].SpanContext().SpanID().String()) {
		t.Errorf("traceparent %q does not name the span", tp)
	}
	if ended[0].Status().Description != "rate limited" {
		t.Errorf("status %+v", ended[0].Status())
	}
}
