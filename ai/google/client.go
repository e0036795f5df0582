package google

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/upstream"
)

// Client talks to the Gemini API. It is safe for concurrent use; Close
// releases its idle connections.
type Client struct {
	cfg      Config
	http     *http.Client
	ownsHTTP bool
	m        *metrics
	policies []failsafe.Policy[[]byte]
	maxBody  int64
}

// New checks cfg, applies its defaults and builds a client. It sends
// nothing. Without an API key it fails with ErrNoAPIKey (which matches
// ai.ErrUnavailable).
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("google: metrics: %w", err)
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient, m: m,
		// A value is at most about 24 bytes of JSON text.
		maxBody: int64(cfg.BatchSize)*int64(cfg.Dimensions)*24 + 64<<10}
	if c.http == nil {
		dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
		tr := &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: cfg.ConnectTimeout,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}
		// "google embed": the one operation; the path names the model.
		c.http = &http.Client{Transport: upstream.Transport(tr, cfg.TracerProvider, func(*http.Request) string { return "google " + opEmbed })}
		c.ownsHTTP = true
	}
	c.buildPolicies()
	return c, nil
}

// Close releases the idle connections of the client's own transport.
func (c *Client) Close() error {
	if c.ownsHTTP {
		c.http.CloseIdleConnections()
	}
	return nil
}

func (c *Client) buildPolicies() {
	log := c.cfg.Logger.With(slog.String("provider", "google"), slog.String("operation", opEmbed))
	breaker := upstream.NewBreaker[[]byte](upstream.Breaker{
		Failures: c.cfg.Breaker.Failures, Successes: c.cfg.Breaker.Successes, Delay: c.cfg.Breaker.Delay,
		Counts: countsAgainstBreaker, State: c.m.breaker, Log: log, Message: "provider circuit breaker",
	})
	rc := c.cfg.Retry
	retry := upstream.NewRetry[[]byte](upstream.Retry{
		Attempts: rc.MaxAttempts, Backoff: rc.BackoffBase, MaxBackoff: rc.BackoffMax, Jitter: 0.25,
		Retryable: retryable,
		Retries:   c.m.retries, Log: log, Message: "provider retry", Level: slog.LevelInfo,
	}.HonourRetryAfter(askedWait, rc.MaxRetryAfter))
	bulk := upstream.NewBulkhead[[]byte](uint(c.cfg.MaxConcurrent), c.cfg.BulkheadWait, nil)
	// Outermost first: one slot for the whole request, retries around the
	// breaker, the timeout around each attempt.
	c.policies = []failsafe.Policy[[]byte]{bulk, retry, breaker, timeout.New[[]byte](c.cfg.Timeout)}
}

// retryable reports whether a failed attempt may be sent again: the
// provider was busy, failing, slow or unreachable (a daily quota is not
// retried).
func retryable(err error) bool {
	if errors.Is(err, timeout.ErrExceeded) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	return errors.Is(err, ai.ErrUnavailable)
}

// countsAgainstBreaker reports whether a failure says the provider is down.
func countsAgainstBreaker(err error) bool {
	return errors.Is(err, timeout.ErrExceeded) || errors.Is(err, ai.ErrUnavailable)
}

// post sends a JSON body to path and returns the 2xx answer.
func (c *Client) post(ctx context.Context, path string, body []byte) ([]byte, error) {
	start := time.Now()
	data, err := failsafe.With(c.policies...).WithContext(ctx).
		GetWithExecution(func(exec failsafe.Execution[[]byte]) ([]byte, error) { //nolint:contextcheck // exec.Context() is ctx with the attempt's timeout
			return c.attempt(exec.Context(), path, body)
		})
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("google embed: %w", context.Cause(ctx))
		case errors.Is(err, circuitbreaker.ErrOpen):
			err = fmt.Errorf("google embed: %w: %w", ai.ErrUnavailable, ErrCircuitOpen)
		case errors.Is(err, bulkhead.ErrFull):
			err = fmt.Errorf("google embed: %w: %w", ai.ErrUnavailable, ErrBusy)
		case errors.Is(err, timeout.ErrExceeded):
			err = fmt.Errorf("google embed: %w: %w", ai.ErrUnavailable, ErrTimeout)
		}
	}
	c.done(ctx, start, err)
	return data, err
}

func (c *Client) done(ctx context.Context, start time.Time, err error) {
	o := outcomeClientError
	switch {
	case err == nil:
		o = outcomeOK
	case errors.Is(err, ErrCircuitOpen), errors.Is(err, ErrBusy):
		o = outcomeRejected
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		o = outcomeCanceled
	case errors.Is(err, ai.ErrUnavailable):
		o = outcomeUnavailable
	}
	c.m.outcomes[o].Inc()
	media.ObserveTraced(ctx, c.m.duration, float64(time.Since(start).Microseconds())/1000)
}

// attempt sends one request and reads the whole answer.
func (c *Client) attempt(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("google embed: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-api-key", c.cfg.APIKey)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("google embed: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("google embed: %w: %w", ai.ErrUnavailable, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end or failed already
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("google embed: %w", readAPIError(resp, time.Now()))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("google embed: %w", context.Cause(ctx))
	case err != nil:
		return nil, fmt.Errorf("google embed: %w: %w", ai.ErrUnavailable, err)
	case int64(len(data)) > c.maxBody:
		return nil, fmt.Errorf("google embed: %w: more than %d bytes", ErrTooLarge, c.maxBody)
	}
	return data, nil
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
