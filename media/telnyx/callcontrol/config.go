package callcontrol

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// DefaultBaseURL is Telnyx's API root (docs/protocols/telnyx.md section 3).
const DefaultBaseURL = "https://api.telnyx.com/v2"

// Config configures a Client. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// BaseURL is the API root, DefaultBaseURL by default; tests point it at
	// callcontroltest.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>". It is a secret: it is
	// never logged, and Config's LogValue leaves it out.
	APIKey string

	// DialTimeout bounds the TCP connect and TLSHandshakeTimeout the TLS
	// handshake of one attempt.
	DialTimeout         time.Duration
	TLSHandshakeTimeout time.Duration
	// AttemptTimeout bounds one HTTP attempt, from send to the end of the body.
	AttemptTimeout time.Duration

	// MaxRetries is how many times a failed attempt is repeated; negative
	// disables retries. Only 429, 5xx, timeouts and network errors are retried:
	// the command_id makes the repeat idempotent.
	MaxRetries int
	// RetryBaseDelay and RetryMaxDelay bound the exponential backoff; each
	// delay is jittered by up to RetryJitter of itself.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	RetryJitter    float64
	// MaxRetryAfter caps how long a 429's Retry-After is honoured; a longer
	// Retry-After ends the retries at once.
	MaxRetryAfter time.Duration

	// BreakerFailures consecutive failures (5xx, timeouts, network errors)
	// open the circuit; after BreakerDelay it lets BreakerProbes trial commands
	// through, which must all succeed to close it again.
	BreakerFailures uint
	BreakerDelay    time.Duration
	BreakerProbes   uint

	// MaxConcurrent caps the attempts in flight to Telnyx at once (a
	// bulkhead): an outage that slows every answer cannot pile up unbounded
	// requests and sockets. An attempt that finds no free slot waits up to
	// BulkheadWait, then fails with ErrBusy and is not retried.
	MaxConcurrent uint
	// BulkheadWait is how long an attempt waits for a free slot; negative:
	// no wait.
	BulkheadWait time.Duration

	// Registerer receives the client's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives one debug line per attempt; nil discards.
	Logger *slog.Logger
	// TracerProvider, when set, makes each attempt a client span carrying
	// the W3C trace context to Telnyx; nil: no spans.
	TracerProvider trace.TracerProvider
}

// DefaultConfig returns the defaults. The timeouts are short because an
// answer that comes late leaves a caller listening to ringing.
func DefaultConfig() Config {
	return Config{
		BaseURL:             DefaultBaseURL,
		DialTimeout:         3 * time.Second,
		TLSHandshakeTimeout: 3 * time.Second,
		AttemptTimeout:      5 * time.Second,
		MaxRetries:          3,
		RetryBaseDelay:      200 * time.Millisecond,
		RetryMaxDelay:       2 * time.Second,
		RetryJitter:         0.25,
		MaxRetryAfter:       10 * time.Second,
		BreakerFailures:     5,
		BreakerDelay:        10 * time.Second,
		BreakerProbes:       2,
		MaxConcurrent:       64,
		BulkheadWait:        time.Second,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = d.BaseURL
	}
	set(&c.DialTimeout, d.DialTimeout)
	set(&c.TLSHandshakeTimeout, d.TLSHandshakeTimeout)
	set(&c.AttemptTimeout, d.AttemptTimeout)
	set(&c.RetryBaseDelay, d.RetryBaseDelay)
	set(&c.RetryMaxDelay, d.RetryMaxDelay)
	set(&c.MaxRetryAfter, d.MaxRetryAfter)
	set(&c.BreakerDelay, d.BreakerDelay)
	if c.MaxRetries == 0 {
		c.MaxRetries = d.MaxRetries
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryJitter == 0 {
		c.RetryJitter = d.RetryJitter
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = d.BreakerFailures
	}
	if c.BreakerProbes == 0 {
		c.BreakerProbes = d.BreakerProbes
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = d.MaxConcurrent
	}
	set(&c.BulkheadWait, d.BulkheadWait)
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.APIKey == "" {
		errs = append(errs, errors.New("callcontrol: APIKey is empty"))
	}
	if u, err := url.Parse(c.BaseURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, fmt.Errorf("callcontrol: BaseURL %q is not an absolute http(s) URL", c.BaseURL))
	}
	for name, d := range map[string]time.Duration{
		"DialTimeout": c.DialTimeout, "TLSHandshakeTimeout": c.TLSHandshakeTimeout,
		"AttemptTimeout": c.AttemptTimeout, "RetryBaseDelay": c.RetryBaseDelay,
		"RetryMaxDelay": c.RetryMaxDelay, "MaxRetryAfter": c.MaxRetryAfter, "BreakerDelay": c.BreakerDelay,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("callcontrol: %s is negative", name))
		}
	}
	if c.RetryMaxDelay < c.RetryBaseDelay {
		errs = append(errs, errors.New("callcontrol: RetryMaxDelay is below RetryBaseDelay"))
	}
	if c.RetryJitter < 0 || c.RetryJitter > 1 {
		errs = append(errs, errors.New("callcontrol: RetryJitter is outside 0-1"))
	}
	return errors.Join(errs...)
}

// LogValue prints the configuration without the API key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.Bool("api_key_set", c.APIKey != ""),
		slog.Duration("attempt_timeout", c.AttemptTimeout),
		slog.Int("max_retries", c.MaxRetries),
		slog.Uint64("breaker_failures", uint64(c.BreakerFailures)),
		slog.Uint64("max_concurrent", uint64(c.MaxConcurrent)),
	)
}
