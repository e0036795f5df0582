package webhook

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/store"
)

// UnknownNumber says what happens to a call to a number no agent answers.
type UnknownNumber string

// Policies for unknown numbers.
const (
	// UnknownReject hangs the call up through Call Control (the caller hears
	// the network's tone) and records nothing: there is no organization to
	// record it for.
	UnknownReject UnknownNumber = "reject"
	// UnknownDefault routes the call to Config.DefaultOrg/DefaultAgent.
	UnknownDefault UnknownNumber = "default"
)

// Config configures a Handler.
type Config struct {
	// PublicKey is the Telnyx account's Ed25519 public key (Mission Control,
	// Keys & Credentials); see ParsePublicKey.
	PublicKey ed25519.PublicKey
	// PublicURL is this deployment's public base URL (https://iace.example.com);
	// the stream URL is its ws(s) form plus /media/telnyx?token=...
	PublicURL string
	// StreamSecret signs the stream tokens (at least telnyx.MinSecretLen bytes);
	// the media handler checks them with the same secret.
	StreamSecret telnyx.Secret
	// StreamTokenTTL is how long Telnyx has to open the stream (default 2 min);
	// the stream itself may last longer.
	StreamTokenTTL time.Duration
	// UnknownNumber is the policy for numbers no agent answers (default reject).
	UnknownNumber UnknownNumber
	// DefaultOrg and DefaultAgent answer unknown numbers under UnknownDefault.
	DefaultOrg   store.OrgID
	DefaultAgent store.AgentID
	// Tolerance is the replay window around telnyx-timestamp (default 300 s,
	// the Telnyx SDKs' default).
	Tolerance time.Duration
	// MaxBodyBytes caps a webhook body (default 64 KiB); larger is 413.
	MaxBodyBytes int64
	// Workers is the number of processing lanes (default 4); events of one
	// call always go to the same lane, so they are processed in order.
	Workers int
	// QueueDepth is each lane's queue (default 256); a full lane answers 503
	// so that Telnyx retries later.
	QueueDepth int
	// DedupeTimeout bounds the redelivery check in the request (default 2 s).
	DedupeTimeout time.Duration
	// ProcessTimeout bounds the processing of one event (default 20 s).
	ProcessTimeout time.Duration
	// DrainTimeout bounds how long Run goes on processing queued events
	// after its context ends (default 10 s).
	DrainTimeout time.Duration
}

// DefaultConfig returns the defaults named in each field's comment.
func DefaultConfig() Config {
	return Config{
		StreamTokenTTL: 2 * time.Minute,
		UnknownNumber:  UnknownReject,
		Tolerance:      300 * time.Second,
		MaxBodyBytes:   64 << 10,
		Workers:        4,
		QueueDepth:     256,
		DedupeTimeout:  2 * time.Second,
		ProcessTimeout: 20 * time.Second,
		DrainTimeout:   10 * time.Second,
	}
}

// ParsePublicKey decodes the base64 Ed25519 public key Telnyx shows.
func ParsePublicKey(b64 string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("telnyx public key: not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("telnyx public key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.PublicKey) != ed25519.PublicKeySize {
		errs = append(errs, errors.New("webhook: the Telnyx public key is missing or not 32 bytes"))
	}
	if _, err := streamBase(c.PublicURL); err != nil {
		errs = append(errs, err)
	}
	if len(c.StreamSecret) < telnyx.MinSecretLen {
		errs = append(errs, fmt.Errorf("webhook: stream secret of %d bytes, want at least %d", len(c.StreamSecret), telnyx.MinSecretLen))
	}
	switch c.UnknownNumber {
	case UnknownReject:
	case UnknownDefault:
		if c.DefaultOrg == "" || c.DefaultAgent == "" {
			errs = append(errs, errors.New("webhook: unknown numbers go to the default agent, but no default org/agent is set"))
		}
	default:
		errs = append(errs, fmt.Errorf("webhook: unknown-number policy %q, want reject or default", c.UnknownNumber))
	}
	for name, d := range map[string]time.Duration{
		"stream token ttl": c.StreamTokenTTL, "tolerance": c.Tolerance, "dedupe timeout": c.DedupeTimeout,
		"process timeout": c.ProcessTimeout, "drain timeout": c.DrainTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("webhook: %s %v, want > 0", name, d))
		}
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("webhook: max body %d bytes, want 1 KiB to 1 MiB", c.MaxBodyBytes))
	}
	if c.Workers < 1 || c.Workers > 256 || c.QueueDepth < 1 || c.QueueDepth > 1<<16 {
		errs = append(errs, fmt.Errorf("webhook: %d workers with queues of %d, want 1-256 and 1-65536", c.Workers, c.QueueDepth))
	}
	return errors.Join(errs...)
}

// LogValue prints the configuration without the secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("public_url", c.PublicURL),
		slog.Bool("public_key_set", len(c.PublicKey) != 0),
		slog.Bool("stream_secret_set", len(c.StreamSecret) != 0),
		slog.String("unknown_number", string(c.UnknownNumber)),
		slog.Int("workers", c.Workers),
	)
}

// MediaPath is where the media handler is mounted.
const MediaPath = "/media/telnyx"

// StreamURL is the media stream URL of the deployment whose public base
// URL is public, without a token.
func StreamURL(public string) (*url.URL, error) { return streamBase(public) }

// streamBase turns the public base URL into the media stream URL, without
// its token.
func streamBase(public string) (*url.URL, error) {
	u, err := url.Parse(public)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("webhook: public URL %q is not an absolute URL without query", public)
	}
	switch u.Scheme {
	case "https", "wss":
		u.Scheme = "wss"
	case "http", "ws":
		u.Scheme = "ws"
	default:
		return nil, fmt.Errorf("webhook: public URL %q: want http(s)", public)
	}
	u.Path = strings.TrimRight(u.Path, "/") + MediaPath
	return u, nil
}
