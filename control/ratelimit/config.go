package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxKeys      = 100_000
	DefaultKeyPrefix    = "iace:rl:"
	DefaultRedisTimeout = 50 * time.Millisecond
	DefaultRedisBackoff = time.Second

	// maxKeyBytes: longer keys are replaced by their SHA-256, so neither
	// Redis nor the in-process map holds attacker-sized keys.
	maxKeyBytes = 128
)

// Config configures a limiter. Zero fields take the defaults above.
type Config struct {
	// Name labels the limiter's metrics and starts its Redis keys
	// ("api_ip", "api_user", "login_email"): a short constant, never a
	// value from a request.
	Name string
	// Rate is what each key may do.
	Rate Rate
	// MaxKeys bounds the keys the in-process limiter remembers; past it,
	// the keys closest to being forgotten anyway are evicted.
	MaxKeys int
	// KeyPrefix starts every Redis key, followed by Name and ":".
	KeyPrefix string
	// RedisTimeout bounds each Redis round trip.
	RedisTimeout time.Duration
	// RedisBackoff: after a Redis error the limiter decides in process for
	// this long, so a dead Redis costs one timeout per RedisBackoff.
	RedisBackoff time.Duration
	// Now is the in-process limiter's clock (tests); nil is time.Now. The
	// Redis limiter uses the Redis server's clock, shared by every node.
	Now func() time.Time
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" || strings.ContainsAny(c.Name, ": \t\n") {
		errs = append(errs, fmt.Errorf("ratelimit: name %q must be non-empty, without spaces or colons", c.Name))
	}
	if err := c.Rate.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: max keys is negative (%d)", c.MaxKeys))
	}
	if c.RedisTimeout < 0 || c.RedisBackoff < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: redis timeout (%v) and backoff (%v) must not be negative", c.RedisTimeout, c.RedisBackoff))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.RedisTimeout == 0 {
		c.RedisTimeout = DefaultRedisTimeout
	}
	if c.RedisBackoff == 0 {
		c.RedisBackoff = DefaultRedisBackoff
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// boundKey replaces a key longer than maxKeyBytes by its SHA-256.
func boundKey(key string) string {
	if len(key) <= maxKeyBytes {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}
