package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/iace/iace/control/ratelimit"
)

// Defaults of Config.
const (
	DefaultIssuer     = "iace"
	DefaultAudience   = "iace-api"
	DefaultAccessTTL  = 30 * time.Minute
	DefaultRefreshTTL = 7 * 24 * time.Hour
	DefaultLeeway     = 30 * time.Second
	// DefaultStatusTTL bounds how long a node keeps answering from its
	// memory that a user is enabled and a session not revoked.
	DefaultStatusTTL     = 5 * time.Second
	DefaultHashWait      = 5 * time.Second
	DefaultMaxHashQueue  = 64
	DefaultStatusEntries = 10_000

	// MinKeyBytes is the shortest signing key: HS256 wants 256 bits.
	MinKeyBytes = 32
)

// Default login throttles (see Throttles): 5 failures per email and client
// address in 15 minutes (one more every 3 minutes after that); 20 per
// client address, which many users behind one office NAT may share; and a
// ceiling of 20 failures per email from any addresses, then one a minute
// (at most 1 440 guesses a day however many addresses try).
var (
	DefaultPairFailures  = ratelimit.Rate{N: 5, Per: 15 * time.Minute}
	DefaultIPFailures    = ratelimit.Rate{N: 20, Per: 15 * time.Minute}
	DefaultEmailFailures = ratelimit.Rate{N: 60, Per: time.Hour, Burst: 20}
)

// Config configures a Service. Zero fields take the defaults above. The
// keys come from the environment (read in main) and are never logged:
// LogValue redacts them.
type Config struct {
	// SigningKey signs new access tokens (HS256): at least 32 random bytes.
	SigningKey []byte
	// VerifyKeys are older keys whose tokens are still accepted, for a key
	// rotation: sign with the new key, keep the old one here for one
	// AccessTTL, then drop it. Tokens name their key by kid.
	VerifyKeys [][]byte
	// Issuer and Audience are the iss and aud of the tokens, checked.
	Issuer   string
	Audience string
	// AccessTTL is an access token's life (30 minutes); RefreshTTL a
	// refresh token's (7 days, renewed by each refresh).
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// Leeway is the clock skew tolerated on exp and iat (30 s).
	Leeway time.Duration
	// StatusTTL bounds how long a node remembers that a user is enabled
	// and a session not revoked before asking the store again (5 s). It
	// is the delay, on other nodes, between cutting a user off and their
	// access tokens stopping working.
	StatusTTL time.Duration
	// StatusEntries bounds that memory (10 000 users and sessions).
	StatusEntries int

	// Argon2 are the parameters of new password hashes.
	Argon2 Argon2Params
	// MaxConcurrentHashes bounds the argon2id computations running at once
	// (each takes Argon2.MemoryKiB of memory and a core for tens of
	// milliseconds). Default: half the CPUs, at least 1, so that a login
	// flood cannot starve the calls.
	MaxConcurrentHashes int
	// MaxHashQueue bounds the logins waiting for a hash slot; more are
	// ErrBusy at once (64).
	MaxHashQueue int
	// HashWait bounds a login's wait for a slot; longer is ErrBusy (5 s).
	HashWait time.Duration

	// PairFailures, IPFailures and EmailFailures are the rates of the
	// login throttles the Service makes when it is given none (see
	// Throttles).
	PairFailures  ratelimit.Rate
	IPFailures    ratelimit.Rate
	EmailFailures ratelimit.Rate

	// Hashing, when set, is told when password hashing starts (a hash
	// runs or waits where none did) and when it has stopped.
	Hashing HashActivity

	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.SigningKey) < MinKeyBytes {
		errs = append(errs, fmt.Errorf("auth: the signing key has %d bytes, at least %d are needed (IACE_AUTH_SECRET)", len(c.SigningKey), MinKeyBytes))
	}
	kids := map[string]bool{KeyID(c.SigningKey): true}
	for i, k := range c.VerifyKeys {
		if len(k) < MinKeyBytes {
			errs = append(errs, fmt.Errorf("auth: verification key %d has %d bytes, at least %d are needed", i+1, len(k), MinKeyBytes))
		}
		if kid := KeyID(k); kids[kid] {
			errs = append(errs, fmt.Errorf("auth: verification key %d repeats a key (kid %s)", i+1, kid))
		} else {
			kids[kid] = true
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"access TTL", c.AccessTTL}, {"refresh TTL", c.RefreshTTL}, {"leeway", c.Leeway},
		{"status TTL", c.StatusTTL}, {"hash wait", c.HashWait},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("auth: %s is negative (%v)", d.name, d.v))
		}
	}
	if c.AccessTTL > 0 && c.RefreshTTL > 0 && c.AccessTTL >= c.RefreshTTL {
		errs = append(errs, fmt.Errorf("auth: access TTL %v must be shorter than refresh TTL %v", c.AccessTTL, c.RefreshTTL))
	}
	if c.MaxConcurrentHashes < 0 || c.MaxHashQueue < 0 || c.StatusEntries < 0 {
		errs = append(errs, errors.New("auth: max concurrent hashes, max hash queue and status entries must not be negative"))
	}
	if c.Argon2 != (Argon2Params{}) {
		if err := c.Argon2.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range []ratelimit.Rate{c.PairFailures, c.IPFailures, c.EmailFailures} {
		if r != (ratelimit.Rate{}) {
			if err := r.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, DefaultAccessTTL)
	def(&c.RefreshTTL, DefaultRefreshTTL)
	def(&c.Leeway, DefaultLeeway)
	def(&c.StatusTTL, DefaultStatusTTL)
	def(&c.HashWait, DefaultHashWait)
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.StatusEntries == 0 {
		c.StatusEntries = DefaultStatusEntries
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2
	}
	if c.MaxConcurrentHashes == 0 {
		c.MaxConcurrentHashes = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if c.MaxHashQueue == 0 {
		c.MaxHashQueue = DefaultMaxHashQueue
	}
	if c.PairFailures == (ratelimit.Rate{}) {
		c.PairFailures = DefaultPairFailures
	}
	if c.EmailFailures == (ratelimit.Rate{}) {
		c.EmailFailures = DefaultEmailFailures
	}
	if c.IPFailures == (ratelimit.Rate{}) {
		c.IPFailures = DefaultIPFailures
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// LogValue redacts the keys, naming them by kid.
func (c Config) LogValue() slog.Value {
	kids := make([]string, 0, len(c.VerifyKeys))
	for _, k := range c.VerifyKeys {
		kids = append(kids, KeyID(k))
	}
	return slog.GroupValue(
		slog.String("signing_kid", KeyID(c.SigningKey)),
		slog.Any("verify_kids", kids),
		slog.String("issuer", c.Issuer),
		slog.String("audience", c.Audience),
		slog.Duration("access_ttl", c.AccessTTL),
		slog.Duration("refresh_ttl", c.RefreshTTL),
	)
}

// KeyID names a key in the kid header: the first 8 hex digits of its
// SHA-256, which tells keys apart without revealing them.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// GenerateKey returns a new random 32-byte signing key, for a process
// started without IACE_AUTH_SECRET: its tokens die with it and no other
// node accepts them.
func GenerateKey() []byte {
	k := make([]byte, MinKeyBytes)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
}
