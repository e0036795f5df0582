package api_test

import (
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/iace/iace/control/api"
	"github.com/iace/iace/store"
)

// TestRequestsAreTracedWithTheirRequestID: the request id a client sees is
// on the request's span, so a support ticket leads to the trace.
func TestRequestsAreTracedWithTheirRequestID(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		e := newEnv(t, st, func(_ *api.Config, d *api.Deps) { d.Tracer = tp })
		r := e.do(http.MethodGet, "/api/v1/agents/"+string(e.a.agent.ID), e.a.viewerTok, nil)
		id := r.header.Get("X-Request-Id")
		for _, s := range rec.Ended() {
			if s.Name() != "api GET /api/v1/agents/{id}" {
				continue
			}
			for _, kv := range s.Attributes() {
				if kv.Key == "iace.request_id" && kv.Value.AsString() == id {
					return
				}
			}
		}
		t.Fatalf("no span for the request %s among %d", id, len(rec.Ended()))
	})
}

// TestAClientsTraceparentIsHonoured: a request that brings a W3C
// traceparent is traced as a child of the client's span, in its trace.
func TestAClientsTraceparentIsHonoured(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		e := newEnv(t, st, func(_ *api.Config, d *api.Deps) { d.Tracer = tp })
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/api/v1/agents/"+string(e.a.agent.ID), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.a.viewerTok)
		req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		for _, s := range rec.Ended() {
			if s.Name() != "api GET /api/v1/agents/{id}" {
				continue
			}
			if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
				t.Errorf("span in trace %s under %s: want the client's", s.SpanContext().TraceID(), s.Parent().SpanID())
			}
			return
		}
		t.Fatalf("no span for the request among %d", len(rec.Ended()))
	})
}
