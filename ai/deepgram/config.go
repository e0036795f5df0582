package deepgram

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Client. Start from DefaultConfig; New fills zero
// durations and sizes with the defaults too.
type Config struct {
	// BaseURL is the API host: wss://api.deepgram.com by default. Any of
	// ws, wss, http and https is accepted; listen uses the WebSocket scheme,
	// speak the HTTP one (docs/protocols/deepgram.md §0: ws:// switches TLS off).
	BaseURL string
	// APIKey is sent as "Authorization: Token <key>". It is never logged.
	APIKey string

	// Model is the live STT model, e.g. nova-3.
	Model string
	// Language is the BCP-47 tag used when the call's config has none.
	Language string
	// Endpointing is the silence in ms that ends a segment with
	// speech_final; 0 means the default 300, a negative value sends false.
	Endpointing int
	// UtteranceEndMs asks for UtteranceEnd events (1000-5000, needs
	// InterimResults); 0 leaves them off.
	UtteranceEndMs int
	// InterimResults asks for is_final:false guesses as well.
	InterimResults bool
	// SmartFormat turns on smart_format and punctuate.
	SmartFormat bool
	// KeepAlive is how long the socket may stay without a message before a
	// KeepAlive is sent (Deepgram closes after 10 s, docs/protocols/deepgram.md §1.5).
	KeepAlive time.Duration
	// Batch is how much audio is gathered into one binary message
	// (docs/protocols/deepgram.md §1.2 advises 20-250 ms, about 100 ms).
	Batch time.Duration
	// QueueFrames bounds the audio queued for the socket, in 20 ms frames;
	// beyond it the oldest audio is dropped and counted.
	QueueFrames int
	// DialTimeout bounds one WebSocket handshake.
	DialTimeout time.Duration
	// WriteTimeout bounds one socket write; a socket that takes longer is
	// treated as dropped.
	WriteTimeout time.Duration
	// CloseTimeout is how long Close waits for the last results after
	// CloseStream before it cuts the socket.
	CloseTimeout time.Duration

	// SpeakModel is the Aura voice used when a request names none, e.g.
	// aura-2-thalia-en.
	SpeakModel string

	Resilience Resilience

	// HTTPClient carries Aura requests; nil means a client of its own
	// (closed by Client.Close).
	HTTPClient *http.Client
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives the client's log lines; nil means slog.Default().
	Logger *slog.Logger
	// TracerProvider, when set, makes each Aura request and each listen
	// upgrade a client span carrying the W3C trace context to Deepgram;
	// nil: no spans. It is not applied to an HTTPClient given.
	TracerProvider trace.TracerProvider
}

// Resilience configures the failsafe-go policies.
type Resilience struct {
	// Redials is how many times a dropped listen socket is redialled
	// before the stream gives up and closes Results.
	Redials int
	// Backoff and MaxBackoff bound the exponential delay between redials
	// and between Aura retries (with 20% jitter).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// FirstByteTimeout bounds the wait for Aura's first audio byte.
	FirstByteTimeout time.Duration
	// SpeakRetries is how many times an Aura request is retried; retries
	// happen only before the first byte.
	SpeakRetries int
	// BreakerFailures consecutive Aura failures open the breaker for
	// BreakerDelay; then one probe is let through (half-open). The delay is
	// how long calls go on getting the holding phrase after Aura is back
	// (the chaos run measured 20 s of it with 30 s), so it is short: a
	// probe every few seconds costs one request.
	BreakerFailures uint
	BreakerDelay    time.Duration
}

// Defaults.
const (
	DefaultBaseURL    = "wss://api.deepgram.com"
	DefaultModel      = "nova-3"
	DefaultSpeakModel = "aura-2-thalia-en"
)

// DefaultConfig returns the configuration for a phone agent, without a key.
func DefaultConfig() Config {
	return Config{
		BaseURL:        DefaultBaseURL,
		Model:          DefaultModel,
		Language:       "en-US",
		Endpointing:    300,
		UtteranceEndMs: 1000,
		InterimResults: true,
		SmartFormat:    true,
		KeepAlive:      4 * time.Second,
		Batch:          80 * time.Millisecond,
		QueueFrames:    50,
		DialTimeout:    5 * time.Second,
		WriteTimeout:   5 * time.Second,
		CloseTimeout:   2 * time.Second,
		SpeakModel:     DefaultSpeakModel,
		Resilience: Resilience{
			Redials:          3,
			Backoff:          100 * time.Millisecond,
			MaxBackoff:       2 * time.Second,
			FirstByteTimeout: 2 * time.Second,
			SpeakRetries:     2,
			BreakerFailures:  5,
			BreakerDelay:     5 * time.Second,
		},
	}
}

// LogValue prints the configuration with the key redacted.
func (c Config) LogValue() slog.Value {
	key := "unset"
	if c.APIKey != "" {
		key = "set"
	}
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("api_key", key),
		slog.String("model", c.Model),
		slog.String("speak_model", c.SpeakModel),
	)
}

// String prints the configuration with the key redacted, so %v cannot leak it.
func (c Config) String() string { return c.LogValue().String() }

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setStr := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	setDur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	setStr(&c.BaseURL, d.BaseURL)
	setStr(&c.Model, d.Model)
	setStr(&c.Language, d.Language)
	setStr(&c.SpeakModel, d.SpeakModel)
	if c.Endpointing == 0 {
		c.Endpointing = d.Endpointing
	}
	if c.QueueFrames <= 0 {
		c.QueueFrames = d.QueueFrames
	}
	setDur(&c.KeepAlive, d.KeepAlive)
	setDur(&c.Batch, d.Batch)
	setDur(&c.DialTimeout, d.DialTimeout)
	setDur(&c.WriteTimeout, d.WriteTimeout)
	setDur(&c.CloseTimeout, d.CloseTimeout)
	r, dr := &c.Resilience, d.Resilience
	if r.Redials <= 0 {
		r.Redials = dr.Redials
	}
	setDur(&r.Backoff, dr.Backoff)
	setDur(&r.MaxBackoff, dr.MaxBackoff)
	setDur(&r.FirstByteTimeout, dr.FirstByteTimeout)
	if r.SpeakRetries < 0 {
		r.SpeakRetries = 0
	}
	if r.BreakerFailures == 0 {
		r.BreakerFailures = dr.BreakerFailures
	}
	setDur(&r.BreakerDelay, dr.BreakerDelay)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.APIKey == "" {
		errs = append(errs, ErrNoAPIKey)
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("deepgram base URL: %w", err))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("deepgram base URL %q: no host", c.BaseURL))
	default:
		switch u.Scheme {
		case "ws", "wss", "http", "https":
		default:
			errs = append(errs, fmt.Errorf("deepgram base URL %q: scheme must be ws, wss, http or https", c.BaseURL))
		}
	}
	if c.UtteranceEndMs != 0 && (c.UtteranceEndMs < 1000 || c.UtteranceEndMs > 5000 || !c.InterimResults) {
		errs = append(errs, fmt.Errorf("deepgram utterance_end_ms %d: want 1000-5000 with interim results", c.UtteranceEndMs))
	}
	if c.Batch > 250*time.Millisecond {
		errs = append(errs, fmt.Errorf("deepgram batch %s: Deepgram advises at most 250ms a message", c.Batch))
	}
	return errors.Join(errs...)
}
