package google

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Defaults (docs/protocols/llm.md section 5).
const (
	DefaultBaseURL    = "https://generativelanguage.googleapis.com/v1beta"
	DefaultModel      = "gemini-embedding-001"
	DefaultDimensions = 768
	// DefaultTaskType suits comparing texts with each other, as the pattern
	// store does; retrieval setups index with RETRIEVAL_DOCUMENT and query
	// with RETRIEVAL_QUERY (see EmbedTask).
	DefaultTaskType = "SEMANTIC_SIMILARITY"

	// MaxBatch is the most requests batchEmbedContents takes.
	MaxBatch = 100

	defaultMaxTextBytes     = 8000
	defaultTimeout          = 10 * time.Second
	defaultConnectTimeout   = 3 * time.Second
	defaultMaxAttempts      = 3
	defaultBackoffBase      = 200 * time.Millisecond
	defaultBackoffMax       = 2 * time.Second
	defaultMaxRetryAfter    = 5 * time.Second
	defaultBreakerFailures  = 5
	defaultBreakerDelay     = 10 * time.Second
	defaultBreakerSuccesses = 1
	defaultMaxConcurrent    = 32
	defaultBulkheadWait     = time.Second
)

// Config configures a Client. Zero fields take defaults. APIKey comes from
// the caller (the environment, read in main) and is never logged.
type Config struct {
	// BaseURL is the API root. Default https://generativelanguage.googleapis.com/v1beta.
	BaseURL string
	// APIKey is sent as the x-goog-api-key header. Required.
	APIKey string
	// Model is the embedding model. Default gemini-embedding-001.
	Model string
	// Dimensions is outputDimensionality, 128-3072. Default 768, the size
	// the pattern store keeps.
	Dimensions int
	// TaskType is sent with every text of Embed. Default SEMANTIC_SIMILARITY.
	TaskType string
	// BatchSize is the most texts in one request, at most 100. Default 100.
	BatchSize int
	// MaxTextBytes cuts longer texts (the model reads 2048 tokens). Default 8000.
	MaxTextBytes int
	// Timeout bounds one attempt. Default 10s.
	Timeout time.Duration

	// HTTPClient, if set, is used as is.
	HTTPClient *http.Client
	// ConnectTimeout bounds the TCP connect and the TLS handshake of the
	// client's own transport. Default 3s.
	ConnectTimeout time.Duration

	// Retry configures retries of 429, 500, 503, 504, timeouts and network
	// failures: embedding the same texts again is safe.
	Retry RetryConfig
	// Breaker configures the circuit breaker.
	Breaker BreakerConfig
	// MaxConcurrent caps the requests in flight. Default 32.
	MaxConcurrent int
	// BulkheadWait is how long a request waits for a free slot before it
	// fails with ErrBusy. Default 1s; negative: no wait.
	BulkheadWait time.Duration

	// Registerer receives the client's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Logger logs retries and breaker changes; nil: slog.Default().
	Logger *slog.Logger
	// TracerProvider, when set, makes each request a client span carrying
	// the W3C trace context to Google; nil: no spans. It is not applied to
	// an HTTPClient given.
	TracerProvider trace.TracerProvider
}

// RetryConfig configures retries with exponential backoff and jitter.
type RetryConfig struct {
	// MaxAttempts counts the first try; 1 disables retries. Default 3.
	MaxAttempts int
	// BackoffBase and BackoffMax: the first delay and the cap of the
	// doubling delays. Defaults 200ms and 2s, +-25% jitter.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRetryAfter is the longest wait the client accepts from the server
	// (RetryInfo.retryDelay or Retry-After); a longer one fails at once.
	// Default 5s.
	MaxRetryAfter time.Duration
}

// BreakerConfig configures the circuit breaker.
type BreakerConfig struct {
	// Failures is how many consecutive failures open it. Default 5.
	Failures uint
	// Delay is how long it stays open before letting a probe through. Default 10s.
	Delay time.Duration
	// Successes is how many successful probes close it again. Default 1.
	Successes uint
}

// LogValue prints the configuration with the key redacted.
func (c Config) LogValue() slog.Value {
	key := ""
	if c.APIKey != "" {
		key = "[redacted]"
	}
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("api_key", key),
		slog.String("model", c.Model), slog.Int("dimensions", c.Dimensions))
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func setInt[T int | uint](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Model == "" {
		c.Model = DefaultModel
	}
	c.Model = strings.TrimPrefix(c.Model, "models/")
	if c.TaskType == "" {
		c.TaskType = DefaultTaskType
	}
	setInt(&c.Dimensions, DefaultDimensions)
	setInt(&c.BatchSize, MaxBatch)
	setInt(&c.MaxTextBytes, defaultMaxTextBytes)
	setDur(&c.Timeout, defaultTimeout)
	setDur(&c.ConnectTimeout, defaultConnectTimeout)
	setInt(&c.Retry.MaxAttempts, defaultMaxAttempts)
	setDur(&c.Retry.BackoffBase, defaultBackoffBase)
	setDur(&c.Retry.BackoffMax, defaultBackoffMax)
	setDur(&c.Retry.MaxRetryAfter, defaultMaxRetryAfter)
	setInt(&c.Breaker.Failures, defaultBreakerFailures)
	setDur(&c.Breaker.Delay, defaultBreakerDelay)
	setInt(&c.Breaker.Successes, defaultBreakerSuccesses)
	setInt(&c.MaxConcurrent, defaultMaxConcurrent)
	switch {
	case c.BulkheadWait == 0:
		c.BulkheadWait = defaultBulkheadWait
	case c.BulkheadWait < 0:
		c.BulkheadWait = 0
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports every problem of a configuration with its defaults
// applied.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("google: base URL %q is not an http(s) URL", c.BaseURL))
	}
	if c.APIKey == "" {
		errs = append(errs, ErrNoAPIKey)
	}
	if strings.ContainsAny(c.Model, "/:?#") || c.Model == "" {
		errs = append(errs, fmt.Errorf("google: model %q is not a model id", c.Model))
	}
	if c.Dimensions < 128 || c.Dimensions > 3072 {
		errs = append(errs, fmt.Errorf("google: dimensions %d out of range 128-3072", c.Dimensions))
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatch {
		errs = append(errs, fmt.Errorf("google: batch size %d out of range 1-%d", c.BatchSize, MaxBatch))
	}
	if c.MaxTextBytes < 16 {
		errs = append(errs, fmt.Errorf("google: max text bytes %d (want at least 16)", c.MaxTextBytes))
	}
	if c.Timeout < 0 || c.ConnectTimeout < 0 || c.Retry.BackoffBase < 0 || c.Retry.BackoffMax < 0 || c.Breaker.Delay < 0 {
		errs = append(errs, errors.New("google: durations must not be negative"))
	}
	if c.Retry.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("google: retry max attempts %d (want at least 1)", c.Retry.MaxAttempts))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("google: max concurrent %d (want at least 1)", c.MaxConcurrent))
	}
	return errors.Join(errs...)
}
