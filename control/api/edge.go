package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/control/ratelimit"
	"github.com/iace/iace/media"
	"github.com/iace/iace/store"
)

// reqInfo travels with a request: set at the edge, completed by the routes,
// read by the access log.
type reqInfo struct {
	id       string
	clientIP netip.Addr
	org      atomic.Pointer[store.OrgID]
}

type reqInfoKey struct{}

func info(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return ri
}

// requestID is the id of the request ctx belongs to ("" outside a request).
func requestID(ctx context.Context) string {
	if ri := info(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// clientIP is the address the request came from (see TrustedProxies).
func clientIP(ctx context.Context) netip.Addr {
	if ri := info(ctx); ri != nil {
		return ri.clientIP
	}
	return netip.Addr{}
}

func setLogOrg(ctx context.Context, org store.OrgID) {
	if ri := info(ctx); ri != nil {
		ri.org.Store(&org)
	}
}

// maxRequestIDLen caps a request id a client sends us.
const maxRequestIDLen = 64

// newRequestID returns the client's X-Request-Id if it is short and plain,
// else a new random one.
func newRequestID(given string) string {
	if given != "" && len(given) <= maxRequestIDLen && !strings.ContainsFunc(given, func(r rune) bool {
		return r <= ' ' || r > '~' || r == '"' || r == '\\'
	}) {
		return given
	}
	return rand.Text()[:20]
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// edge wraps the routes with what every request gets: a request id, security
// headers, CORS, a body cap, the per-address rate limit, metrics and an
// access log line.
func (a *API) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: newRequestID(r.Header.Get("X-Request-Id")), clientIP: a.clients.Of(r)}
		// A traceparent the client sends (W3C Trace Context) is the parent
		// of the request's span: the client's trace goes on into ours.
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := a.tracer.Start(context.WithValue(ctx, reqInfoKey{}, ri), "api "+r.Method,
			trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("iace.request_id", ri.id)))
		defer span.End()
		r = r.WithContext(ctx)

		h := w.Header()
		h.Set("X-Request-Id", ri.id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		if a.cors(w, r) {
			return // a preflight, answered
		}
		if r.ContentLength > a.cfg.MaxBodyBytes {
			writeProblem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", a.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)

		sw := &statusWriter{ResponseWriter: w}
		if a.deps.IPLimit != nil && ri.clientIP.IsValid() {
			if ok, wait := a.allow(ctx, a.deps.IPLimit, ratelimit.AddrKey(ri.clientIP)); !ok {
				a.metrics.limited.WithLabelValues("ip").Inc()
				h.Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
				writeProblem(sw, r, http.StatusTooManyRequests, "too many requests from this address; slow down")
				a.logRequest(r, ri, sw.status, start)
				return
			}
		}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		a.logRequest(r, ri, sw.status, start)
	})
}

func (a *API) logRequest(r *http.Request, ri *reqInfo, status int, start time.Time) {
	d := time.Since(start)
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	span := trace.SpanFromContext(r.Context())
	span.SetName("api " + route)
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	a.metrics.requests.WithLabelValues(route, statusClass(status)).Inc()
	media.ObserveTraced(r.Context(), a.metrics.latency.WithLabelValues(route), d.Seconds())
	attrs := []any{"request_id", ri.id, "method", r.Method, "route", route, "status", status, "duration_ms", float64(d.Microseconds()) / 1000}
	if org := ri.org.Load(); org != nil {
		attrs = append(attrs, "org_id", string(*org))
	}
	a.log.InfoContext(r.Context(), "api request", attrs...)
}

func statusClass(code int) string {
	return fmt.Sprintf("%dxx", code/100)
}

// cors answers a preflight from an allowed origin and marks allowed
// cross-origin requests. It reports whether the request was a preflight.
func (a *API) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := origin != "" && slices.Contains(a.cfg.CORSOrigins, origin)
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
	}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	if !allowed {
		writeProblem(w, r, http.StatusForbidden, "origin not allowed")
		return true
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, traceparent, tracestate")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// problem is an RFC 9457 problem document, for answers given outside huma.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{
		Type:     "about:blank",
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   detail,
		Instance: r.URL.Path,
	})
}
