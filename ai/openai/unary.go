package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/upstream"
)

// ErrTimeout is returned when one attempt of a non-streamed request
// (transcription, embeddings, sentiment) took longer than its timeout and no
// retry succeeded. It comes wrapped together with ai.ErrUnavailable.
var ErrTimeout = errors.New("openai: request timed out")

// Operations of the non-streamed endpoints, values of the operation label.
const (
	opTranscribe = "transcribe"
	opEmbed      = "embed"
	opSentiment  = "sentiment"
)

// unary is one non-streamed endpoint: the whole answer is read inside the
// attempt, so a failsafe timeout bounds each attempt and a failure at any
// point before the answer is complete may be retried. These requests are
// safe to send again: transcribing, embedding or scoring twice changes
// nothing but the bill.
type unary struct {
	name     string
	url      string
	key      string
	maxBody  int64
	http     *http.Client
	ownsHTTP bool
	breaker  circuitbreaker.CircuitBreaker[[]byte]
	policies []failsafe.Policy[[]byte]
	m        *opMetrics
}

// newUnary builds the endpoint path of cfg (defaults applied and valid) with
// its own breaker, retry policy, per-attempt timeout and bulkhead.
func newUnary(cfg Config, name, path string, attemptTimeout time.Duration, maxBody int64) (*unary, error) {
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("openai: metrics: %w", err)
	}
	u := &unary{name: name, url: cfg.BaseURL + path, key: cfg.APIKey, maxBody: maxBody,
		http: cfg.HTTPClient, m: m.forOp(cfg.Name, name)}
	if u.http == nil {
		u.http, u.ownsHTTP = newHTTPClient(cfg), true
	}
	log := cfg.Logger.With(slog.String("provider", cfg.Name), slog.String("operation", name))
	u.breaker = upstream.NewBreaker[[]byte](breakerPolicy(cfg, unaryRetryable, u.m.breaker, log))
	retry := upstream.NewRetry[[]byte](retryPolicy(cfg, unaryRetryable, u.m.retries, log))
	bulk := upstream.NewBulkhead[[]byte](uint(cfg.MaxConcurrent), cfg.BulkheadWait, nil)
	// Outermost first: one bulkhead slot for the whole request, retries
	// around the breaker, the timeout around each attempt.
	u.policies = []failsafe.Policy[[]byte]{bulk, retry, u.breaker, timeout.New[[]byte](attemptTimeout)}
	return u, nil
}

// newHTTPClient is the transport of a client that brings none: each
// request a client span when cfg has a tracer provider.
func newHTTPClient(cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: cfg.ConnectTimeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	// Spans are named by the provider and the endpoint under the base URL:
	// "groq POST /chat/completions".
	base := ""
	if u, err := url.Parse(cfg.BaseURL); err == nil {
		base = u.Path
	}
	return &http.Client{Transport: upstream.Transport(tr, cfg.TracerProvider, func(r *http.Request) string {
		return cfg.Name + " " + r.Method + " " + strings.TrimPrefix(r.URL.Path, base)
	})}
}

// breakerPolicy is the circuit breaker cfg configures for one operation,
// reporting on state and log.
func breakerPolicy(cfg Config, counts func(error) bool, state prometheus.Gauge, log *slog.Logger) upstream.Breaker {
	return upstream.Breaker{Failures: cfg.Breaker.Failures, Successes: cfg.Breaker.Successes, Delay: cfg.Breaker.Delay,
		Counts: counts, State: state, Log: log, Message: "provider circuit breaker"}
}

// retryPolicy is the retry policy cfg configures for one operation,
// counting on retries and logging on log. A Retry-After longer than
// MaxRetryAfter ends the retries; a shorter one is a floor: 4/3 of it,
// less at most the 25% jitter, is never shorter than what the server
// asked for.
func retryPolicy(cfg Config, retryable func(error) bool, retries prometheus.Counter, log *slog.Logger) upstream.Retry {
	rc := cfg.Retry
	return upstream.Retry{
		Attempts: rc.MaxAttempts, Backoff: rc.BackoffBase, MaxBackoff: rc.BackoffMax, Jitter: 0.25,
		Retryable: retryable,
		Retries:   retries, Log: log, Message: "provider retry", Level: slog.LevelInfo,
	}.HonourRetryAfter(askedWait, rc.MaxRetryAfter)
}

// unaryRetryable reports whether an attempt's failure may be retried and
// counts against the breaker: the provider was unavailable or too slow.
func unaryRetryable(err error) bool {
	return errors.Is(err, timeout.ErrExceeded) || errors.Is(err, ai.ErrUnavailable)
}

// post sends body with the given content type and returns the body of the
// 2xx answer, at most maxBody bytes.
func (u *unary) post(ctx context.Context, contentType string, body []byte) ([]byte, error) {
	start := time.Now()
	data, err := failsafe.With(u.policies...).WithContext(ctx).
		GetWithExecution(func(exec failsafe.Execution[[]byte]) ([]byte, error) { //nolint:contextcheck // exec.Context() is ctx with the attempt's timeout
			return u.attempt(exec.Context(), contentType, body)
		})
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("openai %s: %w", u.name, context.Cause(ctx))
		case errors.Is(err, circuitbreaker.ErrOpen):
			err = fmt.Errorf("openai %s: %w: %w", u.name, ai.ErrUnavailable, ErrCircuitOpen)
		case errors.Is(err, bulkhead.ErrFull):
			err = fmt.Errorf("openai %s: %w: %w", u.name, ai.ErrUnavailable, ErrBusy)
		case errors.Is(err, timeout.ErrExceeded):
			err = unavailable(u.name, ErrTimeout)
		}
	}
	u.done(ctx, start, err)
	return data, err
}

// done records the outcome of a request.
func (u *unary) done(ctx context.Context, start time.Time, err error) {
	u.m.outcomes[outcome(err)].Inc()
	media.ObserveTraced(ctx, u.m.duration, msSince(start))
}

// attempt sends one request and reads the whole answer.
func (u *unary) attempt(ctx context.Context, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("openai %s: %w", u.name, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if u.key != "" {
		req.Header.Set("Authorization", "Bearer "+u.key)
	}
	resp, err := u.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("openai %s: %w", u.name, context.Cause(ctx))
		}
		return nil, unavailable(u.name, err)
	}
	defer func() { _ = resp.Body.Close() }() // the answer was read or its error is what matters
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("openai %s: %w", u.name, readAPIError(resp, time.Now()))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, u.maxBody+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("openai %s: %w", u.name, context.Cause(ctx))
	case err != nil:
		return nil, unavailable(u.name, fmt.Errorf("%w: %w", ErrTruncated, err))
	case int64(len(data)) > u.maxBody:
		return nil, fmt.Errorf("openai %s: %w: more than %d bytes", u.name, ErrTooLarge, u.maxBody)
	}
	return data, nil
}

// close releases the idle connections of the endpoint's own transport.
func (u *unary) close() {
	if u.ownsHTTP {
		u.http.CloseIdleConnections()
	}
}

// askedWait is the wait the provider asked for with a failure (its
// Retry-After), 0 when it asked for none.
func askedWait(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}
