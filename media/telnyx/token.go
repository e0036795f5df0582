package telnyx

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A stream token admits one media stream: the webhook that answers a call
// mints it into the stream_url, and whichever node Telnyx connects to checks
// it with the shared secret alone, no shared state.
//
// Format (version 1), safe in a URL query without escaping:
//
//	v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, "iace stream token v1|" + claims part))>

// StreamClaims are what a stream token vouches for. The ids are plain strings:
// media imports none of IACE's domain packages.
type StreamClaims struct {
	CallID        string `json:"c"`
	OrgID         string `json:"o"`
	AgentID       string `json:"a"`
	CallControlID string `json:"cc"`
	// Nonce makes the token single use: the first stream that presents it
	// records it on the call, and the call admits no other stream. Mint
	// fills an empty one with 128 random bits.
	Nonce string `json:"n"`
	// TraceParent is the W3C traceparent of the webhook's work that
	// answered the call, optional: the stream's call joins that trace, so
	// one trace runs from the webhook to the call's provider requests
	// (docs/protocols/tracing.md section 2). It rides in the signed token
	// so that no stream can graft itself onto another trace.
	TraceParent string `json:"t,omitempty"`
	// Resume marks the token of a stream that carries on a call another
	// node held (the call moved when that node drained): the call's state
	// is handed over by that node, and the call is not claimed again.
	Resume bool      `json:"m,omitempty"`
	Expiry time.Time `json:"-"`
}

// MinSecretLen is the shortest stream secret accepted: 32 bytes, the size of
// the HMAC-SHA256 output.
const MinSecretLen = 32

// MaxTokenLen caps a token: the claims are a few ids of at most
// maxClaimLen bytes each.
const MaxTokenLen = 2048

const (
	tokenVersion = "v1"
	tokenDomain  = "iace stream token v1|" //nolint:gosec // G101: a domain-separation label for the HMAC, not a credential
	maxClaimLen  = 256
)

// Token errors. ErrTokenExpired wraps ErrBadToken, so errors.Is(err,
// ErrBadToken) holds for every refusal.
var (
	ErrBadToken     = errors.New("telnyx: invalid stream token")
	ErrTokenExpired = fmt.Errorf("%w: expired", ErrBadToken)
	ErrWeakSecret   = fmt.Errorf("telnyx: stream secret shorter than %d bytes", MinSecretLen)
)

type wireClaims struct {
	StreamClaims
	Exp int64 `json:"e"`
}

// Mint returns a token for claims that expires ttl after now. Every id
// must be set and at most 256 bytes; an empty Nonce is made up.
func Mint(secret []byte, claims StreamClaims, now time.Time, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretLen {
		return "", ErrWeakSecret
	}
	if ttl <= 0 {
		return "", errors.New("telnyx: stream token ttl must be positive")
	}
	if claims.Nonce == "" {
		claims.Nonce = rand.Text()
	}
	if err := claims.check(); err != nil {
		return "", err
	}
	body, err := json.Marshal(wireClaims{StreamClaims: claims, Exp: now.Add(ttl).Unix()})
	if err != nil {
		return "", fmt.Errorf("telnyx: stream token: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	tok := tokenVersion + "." + payload + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(secret, payload))
	if len(tok) > MaxTokenLen {
		return "", fmt.Errorf("telnyx: stream token of %d bytes, limit %d", len(tok), MaxTokenLen)
	}
	return tok, nil
}

// Verify checks token's signature with secret and its expiry against now,
// and returns its claims. The signature is compared in constant time before
// anything of the claims is parsed.
func Verify(secret []byte, token string, now time.Time) (StreamClaims, error) {
	if len(secret) < MinSecretLen {
		return StreamClaims{}, ErrWeakSecret
	}
	if token == "" || len(token) > MaxTokenLen {
		return StreamClaims{}, fmt.Errorf("%w: empty or longer than %d bytes", ErrBadToken, MaxTokenLen)
	}
	version, rest, ok := strings.Cut(token, ".")
	if !ok || version != tokenVersion {
		return StreamClaims{}, fmt.Errorf("%w: unknown version", ErrBadToken)
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return StreamClaims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, tokenMAC(secret, payload)) {
		return StreamClaims{}, fmt.Errorf("%w: bad signature", ErrBadToken)
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return StreamClaims{}, fmt.Errorf("%w: malformed claims", ErrBadToken)
	}
	var wc wireClaims
	if err := json.Unmarshal(body, &wc); err != nil {
		return StreamClaims{}, fmt.Errorf("%w: malformed claims", ErrBadToken)
	}
	if err := wc.check(); err != nil {
		return StreamClaims{}, err
	}
	wc.Expiry = time.Unix(wc.Exp, 0).UTC()
	if !now.Before(wc.Expiry) {
		return StreamClaims{}, ErrTokenExpired
	}
	return wc.StreamClaims, nil
}

func tokenMAC(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tokenDomain))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (c StreamClaims) check() error {
	for _, f := range [...]struct{ name, v string }{
		{"call id", c.CallID}, {"org id", c.OrgID}, {"agent id", c.AgentID}, {"call control id", c.CallControlID},
		{"nonce", c.Nonce},
	} {
		if f.v == "" || len(f.v) > maxClaimLen {
			return fmt.Errorf("%w: %s empty or longer than %d bytes", ErrBadToken, f.name, maxClaimLen)
		}
	}
	if len(c.TraceParent) > maxClaimLen {
		return fmt.Errorf("%w: trace parent longer than %d bytes", ErrBadToken, maxClaimLen)
	}
	return nil
}
