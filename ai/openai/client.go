package openai

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/upstream"
)

// readBufferSize is the bufio buffer over a response body; SSE lines longer
// than it are assembled up to MaxLineBytes.
const readBufferSize = 16 << 10

// drainTimeout and drainMaxBytes bound the read after a complete answer.
const (
	drainTimeout  = 100 * time.Millisecond
	drainMaxBytes = 4096
)

// Client talks to one OpenAI-compatible API. It is safe for concurrent use;
// Close releases its idle connections.
type Client struct {
	cfg      Config
	http     *http.Client
	ownsHTTP bool
	bulk     bulkhead.Bulkhead[*conn]
	chat     *operation
	speech   *operation
}

// operation is one endpoint's resilience: its own breaker (a failing speech
// endpoint does not stop chat), retry policy and series.
type operation struct {
	name    string
	path    string
	breaker circuitbreaker.CircuitBreaker[*conn]
	retry   retrypolicy.RetryPolicy[*conn]
	m       *opMetrics
}

// New checks cfg, applies its defaults and builds a client. It sends nothing.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("openai: metrics: %w", err)
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient}
	if c.http == nil {
		c.http, c.ownsHTTP = newHTTPClient(cfg), true
	}
	c.bulk = upstream.NewBulkhead[*conn](uint(cfg.MaxConcurrent), 0, nil) // acquired by hand: see acquire
	c.chat = c.newOperation(opChat, "/chat/completions", m)
	c.speech = c.newOperation(opSpeech, "/audio/speech", m)
	return c, nil
}

// Close closes the idle connections of the client's own transport. Streams
// still open keep working until they are closed.
func (c *Client) Close() error {
	if c.ownsHTTP {
		c.http.CloseIdleConnections()
	}
	return nil
}

func (c *Client) newOperation(name, path string, m *metrics) *operation {
	op := &operation{name: name, path: path, m: m.forOp(c.cfg.Name, name)}
	log := c.cfg.Logger.With(slog.String("provider", c.cfg.Name), slog.String("operation", name))
	op.breaker = upstream.NewBreaker[*conn](breakerPolicy(c.cfg, countsAgainstBreaker, op.m.breaker, log))
	op.retry = upstream.NewRetry[*conn](retryPolicy(c.cfg, retryable, op.m.retries, log))
	return op
}

// retryable reports whether an attempt's failure may be retried: the provider
// was unavailable, and nothing of the answer was received (every attempt
// error is from before the first byte). A rejected request is not retried.
func retryable(err error) bool {
	return errors.Is(err, ai.ErrUnavailable) && !errors.Is(err, ErrCircuitOpen) && !errors.Is(err, ErrBusy)
}

// countsAgainstBreaker reports whether a failure says the provider is down.
// A caller's cancellation or a 4xx says nothing about it.
func countsAgainstBreaker(err error) bool {
	return errors.Is(err, ai.ErrUnavailable)
}

// conn is an answer being received: the response whose first body byte has
// arrived, behind a watchdog that bounds the silence between reads.
type conn struct {
	resp   *http.Response
	body   *bufio.Reader
	dog    *watchdog
	cancel context.CancelCauseFunc
	// cause and callerCause are context.Cause of the attempt's and the
	// caller's context: why either was cancelled, nil while it was not.
	cause, callerCause func() error
}

// open sends body to op's path through the bulkhead, the retry policy and the
// breaker, and returns once the first byte of a 2xx answer has arrived. On
// success the returned release must be called when the answer is finished
// (it frees the bulkhead slot and records the outcome).
func (c *Client) open(ctx context.Context, op *operation, body []byte, accept string) (*conn, *request, error) {
	r := &request{c: c, op: op, start: time.Now(), span: trace.SpanContextFromContext(ctx)}
	if err := c.acquire(ctx, op); err != nil {
		r.end(err)
		return nil, nil, err
	}
	r.holding = true
	cn, err := failsafe.With[*conn](op.retry, op.breaker).WithContext(ctx).
		Get(func() (*conn, error) {
			// ctx itself: the executor derives no context (there is no
			// failsafe timeout), and the answer outlives this call.
			return c.attempt(ctx, op, body, accept)
		})
	if err != nil {
		switch {
		case errors.Is(err, circuitbreaker.ErrOpen):
			err = fmt.Errorf("openai %s: %w: %w", op.name, ai.ErrUnavailable, ErrCircuitOpen)
		case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
			err = fmt.Errorf("openai %s: %w", op.name, context.Cause(ctx))
		}
		r.end(err)
		return nil, nil, err
	}
	media.ObserveTraced(ctx, op.m.firstByte, msSince(r.start))
	r.cn = cn
	return cn, r, nil
}

// acquire takes a bulkhead slot, waiting at most BulkheadWait.
func (c *Client) acquire(ctx context.Context, op *operation) error {
	if c.bulk.TryAcquirePermit() {
		return nil
	}
	if c.cfg.BulkheadWait <= 0 {
		return fmt.Errorf("openai %s: %w: %w", op.name, ai.ErrUnavailable, ErrBusy)
	}
	err := c.bulk.AcquirePermitWithMaxWait(ctx, c.cfg.BulkheadWait)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("openai %s: %w", op.name, context.Cause(ctx))
	default:
		return fmt.Errorf("openai %s: %w: %w", op.name, ai.ErrUnavailable, ErrBusy)
	}
}

// attempt sends one request and waits for the first byte of the answer.
func (c *Client) attempt(ctx context.Context, op *operation, body []byte, accept string) (*conn, error) {
	actx, cancel := context.WithCancelCause(ctx)
	cause := func() error { return context.Cause(actx) }
	callerCause := func() error { return context.Cause(ctx) }
	dog := newWatchdog(c.cfg.FirstByteTimeout, c.cfg.IdleTimeout, cancel)
	fail := func(err error) (*conn, error) {
		dog.stop()
		cancel(nil)
		return nil, err
	}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.cfg.BaseURL+op.path, bytes.NewReader(body))
	if err != nil {
		return fail(fmt.Errorf("openai %s: %w", op.name, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	sent := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		err = transportErr(callerCause, cause, op, err)
		c.logAttempt(ctx, op, 0, "", sent, err)
		return fail(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := readAPIError(resp, time.Now())
		_ = resp.Body.Close() // the error is what matters
		if ctx.Err() != nil {
			return fail(fmt.Errorf("openai %s: %w", op.name, context.Cause(ctx)))
		}
		c.logAttempt(ctx, op, resp.StatusCode, ae.RequestID, sent, ae)
		return fail(fmt.Errorf("openai %s: %w", op.name, ae))
	}
	c.logAttempt(ctx, op, resp.StatusCode, resp.Header.Get("x-request-id"), sent, nil)
	dog.r = resp.Body
	br := bufio.NewReaderSize(dog, readBufferSize)
	if _, err := br.Peek(1); err != nil {
		_ = resp.Body.Close() // the read error is what matters
		if errors.Is(err, io.EOF) {
			return fail(unavailable(op.name, fmt.Errorf("%w: empty answer", ErrTruncated)))
		}
		return fail(transportErr(callerCause, cause, op, err))
	}
	if cause() != nil {
		// The first-byte timer fired as the byte came: nothing was
		// handed on yet, so this attempt fails and may be retried.
		_ = resp.Body.Close() // the timeout is what matters
		return fail(transportErr(callerCause, cause, op, context.Canceled))
	}
	return &conn{resp: resp, body: br, dog: dog, cancel: cancel, cause: cause, callerCause: callerCause}, nil
}

// transportErr classifies a failed request or read: the caller's
// cancellation, one of our timeouts, or a network failure.
func transportErr(callerCause, attemptCause func() error, op *operation, err error) error {
	if cerr := callerCause(); cerr != nil {
		return fmt.Errorf("openai %s: %w", op.name, cerr)
	}
	if cause := attemptCause(); cause != nil && (errors.Is(cause, ErrFirstByteTimeout) || errors.Is(cause, ErrStalled)) {
		return unavailable(op.name, cause)
	}
	return unavailable(op.name, err)
}

// readErr classifies an error reading the body of an answer under way.
func (cn *conn) readErr(op *operation, err error) error {
	if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && cn.cause() == nil && cn.callerCause() == nil {
		return unavailable(op.name, ErrTruncated)
	}
	return transportErr(cn.callerCause, cn.cause, op, err)
}

// drain reads what is left of a complete answer (the end of the chunked
// body after [DONE]) for a short while, so the connection can be reused.
func (cn *conn) drain() {
	cn.dog.t.Reset(drainTimeout)
	_, _ = io.Copy(io.Discard, io.LimitReader(cn.body, drainMaxBytes)) // best effort: at worst the connection is not reused
}

// close aborts the answer if it is still arriving and releases the body.
func (cn *conn) close() {
	cn.dog.stop()
	cn.cancel(nil)
	_ = cn.resp.Body.Close() // after cancel: nothing to report
}

// request is one operation call from start to the end of its answer.
type request struct {
	c       *Client
	op      *operation
	start   time.Time
	holding bool // a bulkhead slot is held
	cn      *conn
	span    trace.SpanContext // the caller's, for the duration's exemplar
	once    sync.Once
}

// end records the outcome of the request and releases what it holds; the
// first call wins. A failure of an answer under way (cut, stalled) also
// counts against the breaker, which saw the attempt succeed.
func (r *request) end(err error) {
	r.once.Do(func() {
		if r.cn != nil {
			if err == nil {
				r.cn.drain()
			}
			r.cn.close()
			if err != nil && countsAgainstBreaker(err) {
				r.op.breaker.RecordFailure()
			}
		}
		if r.holding {
			r.c.bulk.ReleasePermit()
		}
		r.op.m.outcomes[outcome(err)].Inc()
		media.ObserveSpan(r.span, r.op.m.duration, msSince(r.start))
	})
}

func outcome(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrCircuitOpen), errors.Is(err, ErrBusy):
		return outcomeRejected
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrClosed):
		return outcomeCanceled
	case errors.Is(err, ai.ErrUnavailable):
		return outcomeUnavailable
	}
	return outcomeClientError
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// watchdog reads a response body and cancels the attempt when no byte came
// for too long: FirstByteTimeout until the first byte, IdleTimeout between
// later reads. It also counts the bytes read.
type watchdog struct {
	r     io.Reader
	t     *time.Timer
	idle  time.Duration
	first atomic.Bool
	n     int64
}

func newWatchdog(firstByte, idle time.Duration, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{idle: idle}
	w.t = time.AfterFunc(firstByte, func() {
		if w.first.Load() {
			cancel(ErrStalled)
		} else {
			cancel(ErrFirstByteTimeout)
		}
	})
	return w
}

func (w *watchdog) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.n += int64(n)
		w.first.Store(true)
		w.t.Reset(w.idle)
	}
	return n, err
}

func (w *watchdog) stop() { w.t.Stop() }

// logAttempt logs one attempt with the call it serves and the provider's
// request id: a failure at warn, a success at debug.
func (c *Client) logAttempt(ctx context.Context, op *operation, status int, requestID string, sent time.Time, err error) {
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
	}
	if !c.cfg.Logger.Enabled(ctx, level) {
		return
	}
	c.cfg.Logger.Log(ctx, level, "provider attempt", slog.String("provider", c.cfg.Name), slog.String("operation", op.name),
		slog.String("call_id", media.CallID(ctx)), slog.String("request_id", requestID), slog.Int("status", status),
		slog.Duration("headers_after", time.Since(sent)), slog.Any("err", err))
}
