package openai

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

// Defaults. Groq is the default vendor: its base URL, its current small model
// (the Llama models were shut down in 2026) and its TTS model, which speaks
// only WAV.
const (
	DefaultBaseURL     = "https://api.groq.com/openai/v1"
	DefaultModel       = "openai/gpt-oss-20b"
	DefaultSpeechModel = "canopylabs/orpheus-v1-english"
	DefaultSpeechVoice = "autumn"

	defaultConnectTimeout   = 3 * time.Second
	defaultFirstByteTimeout = 5 * time.Second
	defaultIdleTimeout      = 10 * time.Second
	defaultMaxLineBytes     = 1 << 20
	defaultMaxAnswerBytes   = 8 << 20
	defaultMaxSpeechBytes   = 32 << 20
	defaultMaxAttempts      = 3
	defaultBackoffBase      = 100 * time.Millisecond
	defaultBackoffMax       = time.Second
	defaultMaxRetryAfter    = 3 * time.Second
	defaultBreakerFailures  = 5
	defaultBreakerDelay     = 10 * time.Second
	defaultBreakerSuccesses = 1
	defaultMaxConcurrent    = 256
	defaultBulkheadWait     = 250 * time.Millisecond
	defaultPCMRate          = 24000
)

// Speech response formats (docs/protocols/llm.md section 3).
const (
	// SpeechWAV is a RIFF/WAVE body; Groq's Orpheus speaks only this.
	SpeechWAV = "wav"
	// SpeechPCM is OpenAI's raw 16-bit little-endian mono PCM at 24 kHz.
	SpeechPCM = "pcm"
)

// Config configures a Client. Zero fields take defaults. The APIKey comes
// from the caller (the environment, read in main) and is never logged:
// Config's LogValue redacts it.
type Config struct {
	// Name is the provider label of the metrics and logs ("groq", "openai",
	// "vllm"...). Default: "groq" for a groq.com base URL, "openai" for
	// api.openai.com, else "openai-compatible".
	Name string
	// BaseURL is the API root, the part before /chat/completions.
	// Default https://api.groq.com/openai/v1.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer"; empty sends no header
	// (Ollama, llama.cpp).
	APIKey string

	// Model is the chat model when the request names none. Default
	// openai/gpt-oss-20b.
	Model string
	// Temperature is used when the request's is 0; 0 here too sends none
	// (the server's default).
	Temperature float64
	// MaxTokens caps the answer when the request sets no cap; 0 sends none.
	MaxTokens int
	// LegacyMaxTokens sends the cap as max_tokens instead of
	// max_completion_tokens, for servers that only know the old name.
	LegacyMaxTokens bool
	// ReasoningEffort is sent as reasoning_effort ("low", "medium", "high").
	// Default "low" for the gpt-oss models (reasoning tokens delay the first
	// word, docs/protocols/llm.md section 1.8), none otherwise.
	ReasoningEffort string

	// SpeechModel, SpeechVoice: the /audio/speech model and the voice used
	// when the request names none. Defaults: Groq's Orpheus and "autumn".
	SpeechModel string
	SpeechVoice string
	// SpeechFormat is the response_format asked for: "wav" (default; the only
	// one Groq accepts) or "pcm" (OpenAI: raw PCM16 at SpeechPCMRate).
	SpeechFormat string
	// SpeechPCMRate is the sample rate of "pcm" answers. Default 24000.
	SpeechPCMRate int

	// HTTPClient, if set, is used as is and the timeouts below except
	// FirstByteTimeout and IdleTimeout are not applied to it.
	HTTPClient *http.Client
	// ConnectTimeout bounds the TCP connect and the TLS handshake. Default 3s.
	ConnectTimeout time.Duration
	// FirstByteTimeout bounds the time from sending a request to the first
	// byte of the answer's body. Default 5s.
	FirstByteTimeout time.Duration
	// IdleTimeout bounds the silence between two reads of a streamed answer.
	// Default 10s.
	IdleTimeout time.Duration
	// MaxLineBytes caps one SSE line. Default 1 MiB.
	MaxLineBytes int
	// MaxAnswerBytes caps a whole chat answer on the wire. Default 8 MiB.
	MaxAnswerBytes int64
	// MaxSpeechBytes caps a speech answer on the wire. Default 32 MiB.
	MaxSpeechBytes int64

	// Retry configures retries, which only happen before the first byte of an
	// answer: a half-streamed answer is never sent again.
	Retry RetryConfig
	// Breaker configures the circuit breaker of each operation.
	Breaker BreakerConfig
	// MaxConcurrent caps the client's requests in flight (streams count until
	// closed). Default 256.
	MaxConcurrent int
	// BulkheadWait is how long a request waits for a free slot before it
	// fails with ErrBusy. Default 250ms; negative: no wait.
	BulkheadWait time.Duration

	// Registerer receives the client's metrics; nil: not registered. Several
	// clients may share one: the series are told apart by the provider label.
	Registerer prometheus.Registerer
	// Logger logs retries and breaker changes; nil: slog.Default().
	Logger *slog.Logger
	// TracerProvider, when set, makes each request a client span carrying
	// the W3C trace context to the provider; nil: no spans. It is not
	// applied to an HTTPClient given.
	TracerProvider trace.TracerProvider
}

// RetryConfig configures retries with exponential backoff and jitter.
type RetryConfig struct {
	// MaxAttempts counts the first try; 1 disables retries. Default 3.
	MaxAttempts int
	// BackoffBase and BackoffMax: the first delay and the cap of the doubling
	// delays. Defaults 100ms and 1s; a delay varies by +-25% (jitter).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a longer
	// one fails at once (a caller on the phone will not wait). Default 3s.
	MaxRetryAfter time.Duration
}

// BreakerConfig configures a circuit breaker.
type BreakerConfig struct {
	// Failures is how many consecutive failures open the breaker. Default 5.
	Failures uint
	// Delay is how long it stays open before letting probes through. Default 10s.
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
	return slog.GroupValue(
		slog.String("name", c.Name), slog.String("base_url", c.BaseURL), slog.String("api_key", key),
		slog.String("model", c.Model), slog.String("speech_model", c.SpeechModel),
	)
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Name == "" {
		c.Name = "openai-compatible"
		if u, err := url.Parse(c.BaseURL); err == nil {
			switch {
			case strings.HasSuffix(u.Hostname(), "groq.com"):
				c.Name = "groq"
			case u.Hostname() == "api.openai.com":
				c.Name = "openai"
			}
		}
	}
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.ReasoningEffort == "" && strings.HasPrefix(c.Model, "openai/gpt-oss") {
		c.ReasoningEffort = "low"
	}
	if c.SpeechModel == "" {
		c.SpeechModel = DefaultSpeechModel
	}
	if c.SpeechVoice == "" {
		c.SpeechVoice = DefaultSpeechVoice
	}
	if c.SpeechFormat == "" {
		c.SpeechFormat = SpeechWAV
	}
	if c.SpeechPCMRate == 0 {
		c.SpeechPCMRate = defaultPCMRate
	}
	setDur(&c.ConnectTimeout, defaultConnectTimeout)
	setDur(&c.FirstByteTimeout, defaultFirstByteTimeout)
	setDur(&c.IdleTimeout, defaultIdleTimeout)
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = defaultMaxLineBytes
	}
	if c.MaxAnswerBytes == 0 {
		c.MaxAnswerBytes = defaultMaxAnswerBytes
	}
	if c.MaxSpeechBytes == 0 {
		c.MaxSpeechBytes = defaultMaxSpeechBytes
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = defaultMaxAttempts
	}
	setDur(&c.Retry.BackoffBase, defaultBackoffBase)
	setDur(&c.Retry.BackoffMax, defaultBackoffMax)
	setDur(&c.Retry.MaxRetryAfter, defaultMaxRetryAfter)
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = defaultBreakerFailures
	}
	setDur(&c.Breaker.Delay, defaultBreakerDelay)
	if c.Breaker.Successes == 0 {
		c.Breaker.Successes = defaultBreakerSuccesses
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = defaultMaxConcurrent
	}
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

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Validate reports every problem of a configuration with its defaults
// applied.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("openai: base URL %q is not an http(s) URL", c.BaseURL))
	}
	if c.Temperature < 0 || c.Temperature > 2 {
		errs = append(errs, fmt.Errorf("openai: temperature %v out of range 0-2", c.Temperature))
	}
	if c.MaxTokens < 0 {
		errs = append(errs, fmt.Errorf("openai: max tokens %d is negative", c.MaxTokens))
	}
	if c.SpeechFormat != SpeechWAV && c.SpeechFormat != SpeechPCM {
		errs = append(errs, fmt.Errorf("openai: speech format %q (want wav or pcm)", c.SpeechFormat))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"connect timeout", c.ConnectTimeout}, {"first byte timeout", c.FirstByteTimeout}, {"idle timeout", c.IdleTimeout},
		{"backoff base", c.Retry.BackoffBase}, {"backoff max", c.Retry.BackoffMax}, {"breaker delay", c.Breaker.Delay},
	} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("openai: %s %v is negative", d.name, d.d))
		}
	}
	if c.Retry.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("openai: retry max attempts %d (want at least 1)", c.Retry.MaxAttempts))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("openai: max concurrent %d (want at least 1)", c.MaxConcurrent))
	}
	if c.MaxLineBytes < 64 || c.MaxAnswerBytes < 64 || c.MaxSpeechBytes < 64 {
		errs = append(errs, errors.New("openai: size caps must be at least 64 bytes"))
	}
	return errors.Join(errs...)
}
