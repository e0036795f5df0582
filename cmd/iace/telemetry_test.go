package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
)

func TestTracingIsOffUnlessAnEndpointIsSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		on   bool
	}{
		{name: "nothing set leaves it off"},
		{name: "the flag turns it on", args: []string{"--otlp-endpoint", "http://127.0.0.1:4318"}, on: true},
		{name: "IACE_OTLP_ENDPOINT turns it on", env: map[string]string{"IACE_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "the standard OTEL variable turns it on", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "OTEL_SDK_DISABLED wins", env: map[string]string{"OTEL_SDK_DISABLED": "true", "IACE_OTLP_ENDPOINT": "http://127.0.0.1:4318"}},
		{name: "OTEL_TRACES_EXPORTER=none wins", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tp, shutdown, err := newTracing(t.Context(), cfg.Telemetry, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = shutdown(t.Context()) }()
			if _, off := tp.(noop.TracerProvider); off == tc.on {
				t.Errorf("tracer provider %T: want on=%v", tp, tc.on)
			}
		})
	}
}

func TestABadOTLPEndpointIsRefused(t *testing.T) {
	for _, v := range []string{"jaeger:4318", "ftp://x", "http://"} {
		if _, err := loadConfig([]string{"--otlp-endpoint", v}, env(nil), io.Discard); err == nil {
			t.Errorf("endpoint %q accepted", v)
		}
	}
}

// TestSpansReachTheCollector: with an endpoint, spans are exported over
// OTLP/HTTP to <endpoint>/v1/traces, at the latest when tracing shuts down.
func TestSpansReachTheCollector(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	tp, shutdown, err := newTracing(t.Context(), telemetryConfig{Endpoint: collector.URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(t.Context(), "call")
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 {
		t.Fatal("the collector received nothing")
	}
	if r := got[0]; r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("export %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
}
