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
