package deepgram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/gorilla/websocket"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/upstream"
)

// Client talks to Deepgram: Open starts a live transcription stream, and
// Synthesize speaks a sentence with Aura. It is safe for concurrent use.
type Client struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	dialer  *websocket.Dialer
	http    *http.Client
	ownHTTP bool
	wsBase  url.URL // ws or wss
	apiBase url.URL // http or https

	redial  retrypolicy.RetryPolicy[*websocket.Conn]
	retry   retrypolicy.RetryPolicy[*speechReader]
	breaker circuitbreaker.CircuitBreaker[*speechReader]
	ttfb    timeout.Timeout[*speechReader]
}

// New returns a client. Without an API key it returns an error that matches
// ErrNoAPIKey and ai.ErrUnavailable.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL) // checked by Validate
	base.Path = strings.TrimSuffix(base.Path, "/")
	ws, api := *base, *base
	switch base.Scheme {
	case "http", "ws":
		ws.Scheme, api.Scheme = "ws", "http"
	default:
		ws.Scheme, api.Scheme = "wss", "https"
	}
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger.With("provider", provider),
		m:       m,
		dialer:  &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: cfg.DialTimeout},
		http:    cfg.HTTPClient,
		wsBase:  ws,
		apiBase: api,
	}
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		c.http = &http.Client{Transport: upstream.Transport(tr, cfg.TracerProvider, func(*http.Request) string { return provider + " " + opSpeak })}
		c.ownHTTP = true
	}
	c.buildPolicies()
	return c, nil
}

// Close releases the idle connections of the client's own HTTP client. Open
// streams are closed by their own Close.
func (c *Client) Close() error {
	if c.ownHTTP {
		c.http.CloseIdleConnections()
	}
	return nil
}

func (c *Client) buildPolicies() {
	r := c.cfg.Resilience
	c.redial = upstream.NewRetry[*websocket.Conn](upstream.Retry{
		Attempts: r.Redials, Backoff: r.Backoff, MaxBackoff: r.MaxBackoff, Jitter: 0.2, Retryable: retryable,
		Log: c.log, Message: "deepgram redial failed; retrying", Level: slog.LevelWarn,
	})
	c.ttfb = timeout.New[*speechReader](r.FirstByteTimeout)
	c.retry = upstream.NewRetry[*speechReader](upstream.Retry{
		Attempts: r.SpeakRetries + 1, Backoff: r.Backoff, MaxBackoff: r.MaxBackoff, Jitter: 0.2, Retryable: retryable,
		Delay:   retryAfter,
		Retries: c.m.retries, Log: c.log, Message: "deepgram speak failed; retrying", Level: slog.LevelWarn,
	})
	c.breaker = upstream.NewBreaker[*speechReader](upstream.Breaker{
		Failures: r.BreakerFailures, Delay: r.BreakerDelay, Counts: retryable,
		State: c.m.breaker.WithLabelValues(provider, opSpeak), Log: c.log, Message: "deepgram speak circuit breaker",
	})
}

// retryAfter honours a 429's Retry-After (capped at 5 s); otherwise the
// policy's backoff applies.
func retryAfter(last error, _ int) time.Duration {
	var ae *APIError
	if errors.As(last, &ae) && ae.RetryAfter > 0 {
		return min(ae.RetryAfter, 5*time.Second)
	}
	return -1
}

// retryable reports whether err is worth another attempt: the provider is
// busy, failing or unreachable, not our request being wrong or cancelled.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) || errors.Is(err, circuitbreaker.ErrOpen) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	return true // network failures, timeouts
}

// listenURL builds /v1/listen with the parameters for raw mono audio
// (docs/protocols/deepgram.md §1.1: raw audio needs both encoding and sample_rate).
func (c *Client) listenURL(encoding string, rate int, language string) string {
	q := url.Values{}
	q.Set("model", c.cfg.Model)
	q.Set("encoding", encoding)
	q.Set("sample_rate", strconv.Itoa(rate))
	q.Set("channels", "1")
	if language != "" {
		q.Set("language", language)
	}
	q.Set("interim_results", strconv.FormatBool(c.cfg.InterimResults))
	if c.cfg.Endpointing < 0 {
		q.Set("endpointing", "false")
	} else {
		q.Set("endpointing", strconv.Itoa(c.cfg.Endpointing))
	}
	if c.cfg.UtteranceEndMs > 0 {
		q.Set("utterance_end_ms", strconv.Itoa(c.cfg.UtteranceEndMs))
	}
	if c.cfg.SmartFormat {
		q.Set("smart_format", "true")
		q.Set("punctuate", "true")
	}
	u := c.wsBase
	u.Path += "/v1/listen"
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) authHeader() http.Header {
	h := http.Header{}
	h.Set("Authorization", "Token "+c.cfg.APIKey)
	return h
}

// dial opens one /v1/listen socket, bounded by DialTimeout.
func (c *Client) dial(ctx context.Context, u string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	// The upgrade is the listen request's client span; the stream that
	// follows is the call's, not the span's.
	h := c.authHeader()
	ctx, span := upstream.StartSpan(ctx, c.cfg.TracerProvider, provider+" "+opListen, h)
	conn, resp, err := c.dialer.DialContext(ctx, u, h)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	upstream.EndSpan(span, status, err)
	if resp != nil && resp.Body != nil {
		defer func() { _ = resp.Body.Close() }() // gorilla hands back a partial body on a failed upgrade
	}
	c.logAttempt(ctx, opListen, resp, err)
	if err == nil {
		c.m.connects.WithLabelValues(provider, opListen, outcomeOK).Inc()
		return conn, nil
	}
	switch {
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		ae := newAPIError(opListen, resp)
		outcome := outcomeRejected
		if ae.Temporary() {
			outcome = outcomeUnavailable
		}
		c.m.connects.WithLabelValues(provider, opListen, outcome).Inc()
		return nil, ae
	case errors.Is(err, context.Canceled):
		c.m.connects.WithLabelValues(provider, opListen, outcomeCanceled).Inc()
		return nil, fmt.Errorf("deepgram listen: %w", err)
	}
	c.m.connects.WithLabelValues(provider, opListen, outcomeUnavailable).Inc()
	return nil, unavailable(opListen, err)
}

// logAttempt logs one attempt (a listen upgrade or a speak request) with
// the call it serves and Deepgram's request id: a failure at warn, a
// success at debug.
func (c *Client) logAttempt(ctx context.Context, op string, resp *http.Response, err error) {
	level := slog.LevelDebug
	if err != nil || resp != nil && resp.StatusCode >= 300 && resp.StatusCode != http.StatusSwitchingProtocols {
		level = slog.LevelWarn
	}
	if !c.log.Enabled(ctx, level) {
		return
	}
	status, rid := 0, ""
	if resp != nil {
		status, rid = resp.StatusCode, resp.Header.Get("dg-request-id")
	}
	c.log.Log(ctx, level, "provider attempt", slog.String("operation", op), slog.String("call_id", media.CallID(ctx)),
		slog.String("request_id", rid), slog.Int("status", status), slog.Any("err", err))
}
