package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// telemetryConfig says where traces go. Tracing is off unless an endpoint is
// set, by --otlp-endpoint or by the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none switch it off whatever else is set.
type telemetryConfig struct {
	// Endpoint is the base URL of an OTLP/HTTP collector; /v1/traces is
	// appended unless the path already ends with it.
	Endpoint string
	// envEndpoint: an OTEL_EXPORTER_OTLP_*ENDPOINT variable is set; the
	// exporter reads it itself.
	envEndpoint bool
	// disabled: OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
	disabled bool
}

// fromOTELEnv reads the standard variables that decide whether to trace.
func (c *telemetryConfig) fromOTELEnv(getenv func(string) string) {
	c.envEndpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	c.disabled = strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none")
}

func (c telemetryConfig) enabled() bool { return !c.disabled && (c.Endpoint != "" || c.envEndpoint) }

func (c telemetryConfig) validate() error {
	if c.Endpoint == "" {
		return nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("otlp endpoint %q: want an http(s) URL such as http://jaeger:4318", c.Endpoint)
	}
	return nil
}

// tracesURL is the collector's traces endpoint for the configured base URL.
func (c telemetryConfig) tracesURL() string {
	u := strings.TrimRight(c.Endpoint, "/")
	if strings.HasSuffix(u, "/v1/traces") {
		return u
	}
	return u + "/v1/traces"
}

// exportTimeout bounds one export and the flush at shutdown.
const exportTimeout = 5 * time.Second

// newTracing returns the tracer provider for the engine and a function that
// flushes and stops it. Off, it is the no-op provider: spans cost nothing and
// nothing is exported.
func newTracing(ctx context.Context, cfg telemetryConfig, log *slog.Logger) (trace.TracerProvider, func(context.Context) error, error) {
	if !cfg.enabled() {
		log.Info("tracing off: set --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT to export traces")
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(exportTimeout)}
	where := "the collector of OTEL_EXPORTER_OTLP_ENDPOINT"
	if cfg.Endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(cfg.tracesURL()))
		where = cfg.tracesURL()
		if u, err := url.Parse(where); err == nil {
			where = u.Redacted() // a password in the URL stays out of the log
		}
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("otlp exporter: %w", err)
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the defaults.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "iace"), attribute.String("service.version", version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx) // nothing was exported yet
		return nil, nil, fmt.Errorf("trace resource: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER(_ARG), parent-based
	// always-on by default.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithExportTimeout(exportTimeout)), sdktrace.WithResource(res))
	log.Info("tracing on: OTLP/HTTP", "endpoint", where)
	shutdown := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, exportTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("tracing shutdown: %w", err)
		}
		return nil
	}
	return tp, shutdown, nil
}

// exporting is tp when it exports spans and nil when tracing is off, so
// that the clients that would wrap their transports or queries for it
// wrap nothing.
func exporting(tp trace.TracerProvider) trace.TracerProvider {
	if _, off := tp.(noop.TracerProvider); off {
		return nil
	}
	return tp
}

// childSpans gives tracers that start a span only under a span being
// recorded, and otherwise hand back the context's own (non-recording)
// span. Redis commands outside any request or call (the cache's pub/sub,
// the pool's dials) then make no trace of their own; those of a call are
// in its trace. (otelpgx does the same for queries by itself.)
type childSpans struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (p childSpans) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childTracer{t: p.tp.Tracer(name, opts...)}
}

type childTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (t childTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if parent := trace.SpanFromContext(ctx); !parent.IsRecording() {
		return ctx, parent
	}
	return t.t.Start(ctx, name, opts...)
}
