package upstream

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// tracerName is the instrumentation scope of the spans started here.
const tracerName = "github.com/iace/iace/media/upstream"

// propagator writes the W3C Trace Context headers, traceparent and
// tracestate: the format every tracing backend reads, and the one IACE
// promises (docs/protocols/tracing.md section 1).
var propagator = propagation.TraceContext{}

// Transport makes each request sent through base a client span of tp
// named by name, and sends that span's trace context to the provider in
// the W3C headers, so the provider's side of a request can join the call's
// trace. With tp nil it returns base itself: no span, no header. The
// transport's CloseIdleConnections closes base's.
func Transport(base *http.Transport, tp trace.TracerProvider, name func(*http.Request) string) http.RoundTripper {
	if tp == nil {
		return base
	}
	return &tracedTransport{
		Transport: otelhttp.NewTransport(base,
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(propagator),
			// The providers' latencies are IACE's own Prometheus series.
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return name(r) })),
		base: base,
	}
}

// tracedTransport is otelhttp's transport, which does not forward
// CloseIdleConnections, over the client's own.
type tracedTransport struct {
	*otelhttp.Transport
	base *http.Transport
}

func (t *tracedTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// StartSpan starts the client span of a request sent outside an
// http.RoundTripper (a WebSocket upgrade through its own dialer) and
// writes its trace context into h, the request's headers. With tp nil the
// span is a no-op and h is left alone. End it with EndSpan.
func StartSpan(ctx context.Context, tp trace.TracerProvider, name string, h http.Header) (context.Context, trace.Span) {
	if tp == nil {
		return ctx, tracenoop.Span{}
	}
	ctx, span := tp.Tracer(tracerName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
	return ctx, span
}

// EndSpan records the answer's status (0: none came) and the error of a
// request StartSpan began, and ends its span.
func EndSpan(span trace.Span, status int, err error) {
	if status > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
