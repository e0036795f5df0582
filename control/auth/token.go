package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/iace/iace/store"
)

const (
	// MaxTokenBytes caps an access token before it is parsed; ours are
	// about 500 bytes.
	MaxTokenBytes = 4096
	// refreshBytes is the entropy of a refresh token.
	refreshBytes = 32
)

// claims are an access token's payload. Besides the registered claims: org,
// role, sid (the refresh token family: the login session) and rth, the
// SHA-256 of the refresh token it was issued with, by which a node finds
// the session in the store to check it was not revoked. rth is no secret:
// a refresh token cannot be rebuilt from it.
type claims struct {
	jwt.RegisteredClaims
	Org  string `json:"org"`
	Role string `json:"role"`
	SID  string `json:"sid"`
	RTH  string `json:"rth"`
}

// keyring signs with one key and verifies with any key it knows by kid.
type keyring struct {
	signKID string
	sign    []byte
	verify  map[string][]byte
	parser  *jwt.Parser
	cfg     Config
}

func newKeyring(cfg Config) *keyring {
	k := &keyring{signKID: KeyID(cfg.SigningKey), sign: cfg.SigningKey, verify: map[string][]byte{}, cfg: cfg}
	k.verify[k.signKID] = cfg.SigningKey
	for _, v := range cfg.VerifyKeys {
		k.verify[KeyID(v)] = v
	}
	// Only HS256, whatever the header says (no "none", no RSA-as-HMAC
	// confusion); iss, aud, exp required and checked with Leeway.
	k.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)
	return k
}

// issue signs an access token for u in session family, issued with the
// refresh token of hash rth.
func (k *keyring) issue(u store.User, family string, rth []byte) (string, time.Time, error) {
	now := k.cfg.Now()
	exp := now.Add(k.cfg.AccessTTL)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    k.cfg.Issuer,
			Subject:   string(u.ID),
			Audience:  jwt.ClaimStrings{k.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Org:  string(u.OrgID),
		Role: string(u.Role),
		SID:  family,
		RTH:  base64.RawURLEncoding.EncodeToString(rth),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = k.signKID
	s, err := t.SignedString(k.sign)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign access token: %w", err)
	}
	return s, exp, nil
}

// errNoKID: a token naming no key or an unknown one.
var errNoKID = errors.New("unknown or missing kid")

// parse verifies an access token and returns its claims. Any failure is
// ErrUnauthorized; the cause is in the chain for debugging, never for the
// client.
func (k *keyring) parse(token string) (*claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: token too long", ErrUnauthorized)
	}
	var c claims
	_, err := k.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := k.verify[kid]
		if !ok {
			return nil, errNoKID
		}
		return key, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if c.Subject == "" || c.Org == "" || c.SID == "" || c.ID == "" || !store.Role(c.Role).Valid() {
		return nil, fmt.Errorf("%w: incomplete claims", ErrUnauthorized)
	}
	rth, err := base64.RawURLEncoding.Strict().DecodeString(c.RTH)
	if err != nil || len(rth) != sha256.Size {
		return nil, fmt.Errorf("%w: bad rth claim", ErrUnauthorized)
	}
	return &c, nil
}

// newRefreshToken returns a new opaque refresh token (32 random bytes,
// unpadded base64url) and the SHA-256 the store keeps instead of it.
func newRefreshToken() (token string, hash []byte) {
	b := make([]byte, refreshBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(token))
	return token, h[:]
}

// refreshHash checks a presented refresh token's shape and returns its
// SHA-256.
func refreshHash(token string) ([]byte, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(refreshBytes) {
		return nil, false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err != nil {
		return nil, false
	}
	h := sha256.Sum256([]byte(token))
	return h[:], true
}

// BearerToken returns the token of an Authorization header value
// "Bearer <token>" (the scheme is case-insensitive, RFC 9110 section 11.1).
func BearerToken(authorization string) (string, bool) {
	scheme, token, ok := strings.Cut(authorization, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
