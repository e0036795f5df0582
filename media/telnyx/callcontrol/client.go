package callcontrol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/upstream"
)

// Log attribute keys.
const (
	logAction     = "action"
	logCallID     = "call_id"
	logCCID       = "call_control_id"
	logCommandID  = "command_id"
	logAttempt    = "attempt"
	logStatus     = "status"
	logRequestID  = "request_id"
	logDurationMS = "duration_ms"
	logErr        = "err"
)

// RequestIDHeader is the response header carrying Telnyx's request id.
const RequestIDHeader = "X-Request-Id"

// Response body caps: a success is {"data":{"result":"ok"}} and an error
// envelope a few hundred bytes.
const (
	maxResponseBody = 64 << 10
	maxDrain        = 64 << 10
)

// Client sends Call Control commands. It is safe for concurrent use; one
// Client (and so one circuit breaker) serves the whole process.
type Client struct {
	base      string
	key       string
	http      *http.Client
	transport *http.Transport
	exec      failsafe.Executor[struct{}]
	breaker   circuitbreaker.CircuitBreaker[struct{}]
	cfg       Config
	m         *metrics
	log       *slog.Logger
}

// New builds a Client from cfg; zero fields take DefaultConfig's values.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = cfg.TLSHandshakeTimeout
	tr.MaxIdleConnsPerHost = 32
	c := &Client{
		base: strings.TrimRight(cfg.BaseURL, "/"),
		key:  cfg.APIKey,
		// Spans are named by the action, the last element of the path:
		// "telnyx answer" (the call_control_id is no span name).
		http:      &http.Client{Transport: upstream.Transport(tr, cfg.TracerProvider, func(r *http.Request) string { return provider + " " + path.Base(r.URL.Path) })},
		transport: tr,
		cfg:       cfg,
		m:         m,
		log:       log,
	}
	c.breaker = upstream.NewBreaker[struct{}](upstream.Breaker{
		Failures: cfg.BreakerFailures, Successes: cfg.BreakerProbes, Delay: cfg.BreakerDelay, Counts: providerFailure,
		State: m.breaker.WithLabelValues(provider),
		Log:   log, Message: "telnyx call control circuit breaker",
	})
	// Attempts are counted in command, by action; they are not logged here:
	// each has its own line.
	retry := upstream.NewRetry[struct{}](upstream.Retry{
		Attempts: cfg.MaxRetries + 1, Retryable: retryable, Abort: c.retryAfterTooLong, Delay: c.delay,
	})
	bulk := upstream.NewBulkhead[struct{}](cfg.MaxConcurrent, max(cfg.BulkheadWait, 0), m.rejected.WithLabelValues(provider))
	// Retry(Bulkhead(Breaker(Timeout(attempt)))): each attempt holds a slot
	// only while it is in flight, not during the backoff; it has its own
	// deadline and is counted by the breaker; an open breaker or a full
	// bulkhead ends the retries. The breaker never sees a full bulkhead: a
	// busy IACE says nothing about Telnyx's health.
	c.exec = failsafe.With[struct{}](retry, bulk, c.breaker, timeout.New[struct{}](cfg.AttemptTimeout))
	return c, nil
}

// Close releases idle connections. Commands in flight finish normally.
func (c *Client) Close() {
	c.transport.CloseIdleConnections()
}

// Answer answers an incoming call, starting the media stream when
// p.StreamURL is set (docs/protocols/telnyx.md sections 0 and 2).
func (c *Client) Answer(ctx context.Context, callControlID string, p AnswerParams) error {
	b, err := p.body(callControlID)
	return c.command(ctx, ActionAnswer, callControlID, b.CommandID, b, err)
}

// StreamingStart starts a media stream on an answered call.
func (c *Client) StreamingStart(ctx context.Context, callControlID string, p StreamingStartParams) error {
	b, err := p.body(callControlID)
	return c.command(ctx, ActionStreamingStart, callControlID, b.CommandID, b, err)
}

// StreamingStop stops one stream of the call, or all with p.StreamID empty.
func (c *Client) StreamingStop(ctx context.Context, callControlID string, p StreamingStopParams) error {
	b, err := p.body(callControlID)
	return c.command(ctx, ActionStreamingStop, callControlID, b.CommandID, b, err)
}

// Transfer transfers the call to p.To (an E.164 number or a SIP URI).
func (c *Client) Transfer(ctx context.Context, callControlID string, p TransferParams) error {
	b, err := p.body(callControlID)
	return c.command(ctx, ActionTransfer, callControlID, b.CommandID, b, err)
}

// Hangup hangs up the call. A call that has already ended (422 with code
// 90018) counts as hung up, so Hangup is safe to repeat.
func (c *Client) Hangup(ctx context.Context, callControlID string, p HangupParams) error {
	b, err := p.body(callControlID)
	err = c.command(ctx, ActionHangup, callControlID, b.CommandID, b, err)
	if IsCallEnded(err) {
		return nil
	}
	return err
}

// command sends one action through the policies and records its outcome.
func (c *Client) command(ctx context.Context, action, ccid, cmdID string, body any, invalid error) error {
	if invalid != nil {
		c.m.requests.WithLabelValues(provider, action, outcomeInvalid).Inc()
		return fmt.Errorf("telnyx %s: %w", action, invalid)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("telnyx %s: encode: %w", action, err)
	}
	endpoint := c.base + "/calls/" + url.PathEscape(ccid) + "/actions/" + action
	// exec.Context() is derived from ctx by WithContext, plus the attempt timeout.
	err = c.exec.WithContext(ctx).RunWithExecution(func(exec failsafe.Execution[struct{}]) error { //nolint:contextcheck // see above
		if exec.IsRetry() {
			c.m.retries.WithLabelValues(provider, action).Inc()
		}
		return c.attempt(exec.Context(), action, ccid, cmdID, endpoint, payload, exec.Attempts())
	})
	c.m.requests.WithLabelValues(provider, action, outcome(ctx, err)).Inc()
	if errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrBusy) {
		// Refused before an attempt was sent: no attempt line says so.
		c.log.LogAttrs(ctx, slog.LevelWarn, "telnyx call control command not sent",
			slog.String(logAction, action), slog.String(logCallID, media.CallID(ctx)), slog.String(logCCID, ccid),
			slog.String(logCommandID, cmdID), slog.String(logErr, err.Error()))
	}
	if err != nil {
		return fmt.Errorf("telnyx %s: %w", action, err)
	}
	return nil
}

// attempt is one HTTP exchange. It returns nil on 2xx, an *APIError on any
// other status, or the transport's error.
func (c *Client) attempt(ctx context.Context, action, ccid, cmdID, endpoint string, payload []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe(ctx, action, ccid, cmdID, n, 0, "", start, err)
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	// Drain a little more so the connection can be reused, then close.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	reqID := clip(resp.Header.Get(RequestIDHeader), 128)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// The body is {"data":{"result":"ok"}}; a 2xx means Telnyx accepted
		// the command whatever the body says, so it is not parsed further.
		c.observe(ctx, action, ccid, cmdID, n, resp.StatusCode, reqID, start, nil)
		return nil
	}
	ae := ParseError(resp.StatusCode, body)
	ae.RequestID = reqID
	ae.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	c.observe(ctx, action, ccid, cmdID, n, resp.StatusCode, reqID, start, ae)
	return ae
}

// observe records one attempt's latency and logs it: info when Telnyx
// accepted it, warn otherwise. A call sends a handful of commands, so a line
// per attempt is cheap and ties each to Telnyx's request id for support
// tickets. The request headers (and so the API key) are never logged.
func (c *Client) observe(ctx context.Context, action, ccid, cmdID string, n, status int, reqID string, start time.Time, err error) {
	d := time.Since(start)
	media.ObserveTraced(ctx, c.m.latency.WithLabelValues(provider, action), float64(d)/float64(time.Millisecond))
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	if !c.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String(logAction, action),
		slog.String(logCallID, media.CallID(ctx)),
		slog.String(logCCID, ccid),
		slog.String(logCommandID, cmdID),
		slog.Int(logAttempt, n),
		slog.Int(logStatus, status),
		slog.String(logRequestID, reqID),
		slog.Float64(logDurationMS, float64(d)/float64(time.Millisecond)),
	}
	if err != nil {
		attrs = append(attrs, slog.String(logErr, err.Error()))
	}
	c.log.LogAttrs(ctx, level, "telnyx call control attempt", attrs...)
}

// retryable says whether a failed attempt may be repeated: 429, 5xx,
// timeouts and network errors. The command_id makes a repeat idempotent:
// Telnyx drops a command_id it has seen on the call in the last 60 s.
func retryable(err error) bool {
	var ae *APIError
	switch {
	case err == nil:
		return false
	case errors.As(err, &ae):
		return ae.Retryable()
	case errors.Is(err, ErrCircuitOpen), errors.Is(err, ErrBusy), errors.Is(err, context.Canceled):
		return false
	}
	return true
}

// providerFailure says whether an attempt counts against Telnyx's health in
// the breaker: 5xx, timeouts, network errors. A 4xx (429 included) means
// Telnyx is up and answering.
func providerFailure(err error) bool {
	var ae *APIError
	switch {
	case err == nil:
		return false
	case errors.As(err, &ae):
		return ae.Status >= 500
	case errors.Is(err, context.Canceled):
		return false // the caller gave up
	}
	return true
}

func (c *Client) retryAfterTooLong(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.RetryAfter > c.cfg.MaxRetryAfter
}

// delay is the wait before the next attempt: at least the Retry-After Telnyx
// asked for, else exponential backoff from RetryBaseDelay to RetryMaxDelay.
// Jitter spreads the retries of many calls hit by the same outage.
func (c *Client) delay(last error, attempts int) time.Duration {
	var ae *APIError
	if errors.As(last, &ae) && ae.RetryAfter > 0 {
		// Jitter only upwards: waiting less than Retry-After earns another 429.
		return ae.RetryAfter + time.Duration(rand.Float64()*c.cfg.RetryJitter*float64(ae.RetryAfter)) //nolint:gosec // G404: backoff jitter spreads retries; nothing depends on it being unpredictable
	}
	d := c.cfg.RetryBaseDelay
	for i := 1; i < attempts && d < c.cfg.RetryMaxDelay; i++ {
		d *= 2
	}
	d = min(d, c.cfg.RetryMaxDelay)
	j := (rand.Float64()*2 - 1) * c.cfg.RetryJitter * float64(d) //nolint:gosec // G404: backoff jitter, not a secret
	return max(0, d+time.Duration(j))
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 section
// 10.2.3); anything else is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		return time.Duration(min(secs, 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// outcome is the bounded label for a command's final result.
func outcome(ctx context.Context, err error) string {
	var ae *APIError
	switch {
	case err == nil:
		return outcomeOK
	case errors.As(err, &ae):
		switch {
		case ae.CallEnded():
			return outcomeCallEnded
		case ae.Status == http.StatusTooManyRequests:
			return outcomeRateLimited
		case ae.Status >= 500:
			return outcomeServerError
		}
		return outcomeClientError
	case errors.Is(err, ErrCircuitOpen):
		return outcomeCircuitOpen
	case errors.Is(err, ErrBusy):
		return outcomeBusy
	case ctx.Err() != nil:
		return outcomeCanceled
	case errors.Is(err, timeout.ErrExceeded):
		return outcomeTimeout
	}
	return outcomeNetwork
}
