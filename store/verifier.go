package store

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/crypto/argon2"
)

// A customer verifier is what a caller must answer, a PIN, a date of birth
// or a one-time code, to be taken for the customer their number belongs to.
// It is kept as an argon2id hash in the PHC string format, the way
// passwords are, with a random salt: a database dump does not give the
// answers away, short as they are.

// Limits of verifiers.
const (
	// MaxVerifierNameLen bounds a verifier's name (Customer.Verifiers key).
	MaxVerifierNameLen = 32
	// MaxVerifierAnswerLen bounds an answer, in bytes, before normalising.
	MaxVerifierAnswerLen = 100
	// MaxVerifiers bounds the verifiers of one customer.
	MaxVerifiers = 10
)

// verifierArgon2 is the cost of a new verifier hash: OWASP's argon2id
// setting for a small server (19 MiB, two passes, one lane), the one
// passwords use.
var verifierArgon2 = struct {
	memoryKiB, time uint32
	threads         uint8
}{19 * 1024, 2, 1}

// Bounds on the parameters of a stored hash, so that a hash from the
// database cannot make a check take the server's memory or minutes.
const (
	verifierSaltBytes = 16
	verifierKeyBytes  = 32
	maxVerifierMemKiB = 256 * 1024
	maxVerifierTime   = 16
)

// ValidVerifierName reports whether name may name a verifier: 1 to
// MaxVerifierNameLen lower-case letters, digits and underscores, starting
// with a letter ("pin", "date_of_birth").
func ValidVerifierName(name string) bool {
	if name == "" || len(name) > MaxVerifierNameLen || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, c := range []byte(name) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// NormalizeAnswer is the part of an answer that counts: its letters and
// digits, lower-cased. "1980-03-07" and "19800307" are the same answer, as
// are "AB 12" and "ab12"; the separators a caller says or a model writes
// are not.
func NormalizeAnswer(answer string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, answer)
}

// HashVerifier returns the hash to keep in Customer.Verifiers for answer,
// normalised (NormalizeAnswer) first. An answer with no letter or digit, or
// longer than MaxVerifierAnswerLen bytes, is ErrInvalid.
func HashVerifier(answer string) (string, error) {
	norm := NormalizeAnswer(answer)
	switch {
	case len(answer) > MaxVerifierAnswerLen:
		return "", invalidf("a verifier answer is longer than %d bytes", MaxVerifierAnswerLen)
	case norm == "":
		return "", invalidf("a verifier answer has no letter or digit")
	}
	p := verifierArgon2
	salt := make([]byte, verifierSaltBytes)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := argon2.IDKey([]byte(norm), salt, p.time, p.memoryKiB, p.threads, verifierKeyBytes)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memoryKiB, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// MatchVerifier reports whether answer, normalised, is the one hash was
// made from. The keys are compared in constant time; a hash that is not a
// verifier hash within bounds matches nothing.
func MatchVerifier(hash, answer string) bool {
	h, ok := parseVerifier(hash)
	norm := NormalizeAnswer(answer)
	if !ok || norm == "" || len(answer) > MaxVerifierAnswerLen {
		return false
	}
	//nolint:gosec // G115: the key is 16 to 64 bytes, checked when the hash was parsed
	key := argon2.IDKey([]byte(norm), h.salt, h.time, h.memoryKiB, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// verifierHash is a parsed verifier hash.
type verifierHash struct {
	memoryKiB, time uint32
	threads         uint8
	salt, key       []byte
}

// parseVerifier parses $argon2id$v=19$m=M,t=T,p=P$salt$key within bounds.
func parseVerifier(s string) (verifierHash, bool) {
	var h verifierHash
	parts := strings.Split(s, "$")
	if len(s) > 256 || len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" ||
		parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, false
	}
	var m, t, p uint64
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, false
	}
	for i, dst := range []*uint64{&m, &t, &p} {
		k, v, ok := strings.Cut(params[i], "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || k != "mtp"[i:i+1] {
			return h, false
		}
		*dst = n
	}
	if t == 0 || t > maxVerifierTime || p == 0 || p > 255 || m < 8*p || m > maxVerifierMemKiB {
		return h, false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return h, false
	}
	return verifierHash{memoryKiB: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, true
}
