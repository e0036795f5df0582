package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/iace/iace/store"
)

// Password rules for new passwords (NIST SP 800-63B: length, not
// composition). Login rejects passwords over MaxPasswordBytes before
// hashing anything.
const (
	MinPasswordChars = 12
	MaxPasswordBytes = 1024
)

// Argon2Params are argon2id's cost parameters (RFC 9106).
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is OWASP's argon2id setting for a small server: 19 MiB,
// two passes, one lane (tens of milliseconds on one core).
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// Bounds on the parameters of a stored hash, so that a hash from the
// database cannot make verification take the server's memory or minutes.
const (
	maxMemoryKiB = 256 * 1024
	maxTime      = 16
	saltBytes    = 16
	keyBytes     = 32
	minSaltBytes = 8
	maxSaltBytes = 64
	minKeyBytes  = 16
	maxKeyBytes  = 64
)

func (p Argon2Params) validate() error {
	switch {
	case p.Threads == 0 || p.Time == 0:
		return fmt.Errorf("auth: argon2 time (%d) and threads (%d) must be positive", p.Time, p.Threads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("auth: argon2 memory %d KiB is out of [8*threads, %d]", p.MemoryKiB, maxMemoryKiB)
	case p.Time > maxTime:
		return fmt.Errorf("auth: argon2 time %d is over %d", p.Time, maxTime)
	}
	return nil
}

// ValidatePassword checks a new password: valid UTF-8, at least
// MinPasswordChars characters, at most MaxPasswordBytes bytes. The error
// wraps store.ErrInvalid and may be shown to the user.
func ValidatePassword(password string) error {
	switch {
	case !utf8.ValidString(password):
		return fmt.Errorf("auth: %w: the password is not valid UTF-8", store.ErrInvalid)
	case utf8.RuneCountInString(password) < MinPasswordChars:
		return fmt.Errorf("auth: %w: the password needs at least %d characters", store.ErrInvalid, MinPasswordChars)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("auth: %w: the password is longer than %d bytes", store.ErrInvalid, MaxPasswordBytes)
	}
	return nil
}

// HashPassword hashes password with argon2id and a random salt, in the PHC
// string format: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, salt and
// hash in unpadded standard base64. It does not check the password rules
// (ValidatePassword) and takes no hash slot: the Service does both.
func HashPassword(password string, p Argon2Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, saltBytes)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyBytes)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash: a stored hash that is not an argon2id PHC string within
// bounds. Login treats it as a wrong password.
var errBadHash = errors.New("auth: not an argon2id PHC hash")

// phc is a parsed argon2id PHC string.
type phc struct {
	params    Argon2Params
	salt, key []byte
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$hash, within bounds.
func parsePHC(s string) (phc, error) {
	if len(s) > 512 {
		return phc{}, errBadHash
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, errBadHash
	}
	var (
		h    phc
		seen = map[string]bool{}
	)
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || seen[k] {
			return phc{}, errBadHash
		}
		seen[k] = true
		switch k {
		case "m":
			h.params.MemoryKiB = uint32(n)
		case "t":
			h.params.Time = uint32(n)
		case "p":
			if n > 255 {
				return phc{}, errBadHash
			}
			h.params.Threads = uint8(n)
		default:
			return phc{}, errBadHash
		}
	}
	if len(seen) != 3 || h.params.validate() != nil {
		return phc{}, errBadHash
	}
	var err1, err2 error
	h.salt, err1 = base64.RawStdEncoding.Strict().DecodeString(parts[4])
	h.key, err2 = base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(h.salt) < minSaltBytes || len(h.salt) > maxSaltBytes ||
		len(h.key) < minKeyBytes || len(h.key) > maxKeyBytes {
		return phc{}, errBadHash
	}
	return h, nil
}

// VerifyPassword reports whether password matches the PHC hash, comparing
// in constant time. A hash that does not parse is an error.
func VerifyPassword(password, hash string) (bool, error) {
	h, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	//nolint:gosec // G115: the key's length was checked against maxKeyBytes when the hash was parsed
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}
