package telnyx

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
	testClaims  = StreamClaims{CallID: "call-1", OrgID: "org-1", AgentID: "agent-1", CallControlID: "v3:exampleCCID_abc123"}
	testNow     = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
)

func mint(t *testing.T, secret []byte, c StreamClaims, now time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := Mint(secret, c, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenRoundTrip(t *testing.T) {
	tok := mint(t, testSecret, testClaims, testNow, 2*time.Minute)
	if url.QueryEscape(tok) != tok {
		t.Errorf("token %q needs escaping in a URL query", tok)
	}
	got, err := Verify(testSecret, tok, testNow.Add(119*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := testClaims
	want.Expiry = testNow.Add(2 * time.Minute)
	want.Nonce = got.Nonce
	if got != want {
		t.Errorf("claims %+v, want %+v", got, want)
	}
	if len(got.Nonce) < 26 {
		t.Errorf("nonce %q: want 128 random bits", got.Nonce)
	}
	again, err := Verify(testSecret, mint(t, testSecret, testClaims, testNow, 2*time.Minute), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if again.Nonce == got.Nonce {
		t.Error("two tokens minted for the same call share a nonce: a leaked one could stand in for the next")
	}
}

func TestTokenRefusals(t *testing.T) {
	tok := mint(t, testSecret, testClaims, testNow, 2*time.Minute)
	version, rest, _ := strings.Cut(tok, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	forged := testClaims
	forged.OrgID = "org-2"
	forgedTok := mint(t, testSecret, forged, testNow, 2*time.Minute)
	_, forgedRest, _ := strings.Cut(forgedTok, ".")
	forgedPayload, _, _ := strings.Cut(forgedRest, ".")
	flipped := []byte(sig)
	flipped[3] ^= 1
	tests := []struct {
		name   string
		secret []byte
		token  string
		now    time.Time
		want   error
	}{
		{"an expired token is refused", testSecret, tok, testNow.Add(2 * time.Minute), ErrTokenExpired},
		{"a token checked with another secret is refused", otherSecret, tok, testNow, ErrBadToken},
		{"claims swapped under a valid signature are refused", testSecret, version + "." + forgedPayload + "." + sig, testNow, ErrBadToken},
		{"a flipped signature bit is refused", testSecret, version + "." + payload + "." + string(flipped), testNow, ErrBadToken},
		{"a token without a signature is refused", testSecret, version + "." + payload, testNow, ErrBadToken},
		{"an unknown version is refused", testSecret, "v2." + rest, testNow, ErrBadToken},
		{"an empty token is refused", testSecret, "", testNow, ErrBadToken},
		{"an oversize token is refused", testSecret, tok + strings.Repeat("A", MaxTokenLen), testNow, ErrBadToken},
		{"a weak secret is refused", []byte("short"), tok, testNow, ErrWeakSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.secret, tt.token, tt.now)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTokenSignedClaimsWithMissingFieldsAreRefused(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"c":"call-1","o":"","a":"a","cc":"x","e":9999999999}`))
	tok := "v1." + payload + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(testSecret, payload))
	if _, err := Verify(testSecret, tok, testNow); !errors.Is(err, ErrBadToken) {
		t.Errorf("Verify: %v, want ErrBadToken", err)
	}
}

func TestMintRefusesBadInput(t *testing.T) {
	long := testClaims
	long.CallControlID = strings.Repeat("x", 300)
	for name, c := range map[string]StreamClaims{"empty claims": {}, "an oversize id": long} {
		if _, err := Mint(testSecret, c, testNow, time.Minute); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
	if _, err := Mint(testSecret[:16], testClaims, testNow, time.Minute); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("weak secret: %v", err)
	}
	if _, err := Mint(testSecret, testClaims, testNow, 0); err == nil {
		t.Error("zero ttl: minted")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(mintSeed(f))
	f.Add("v1..")
	f.Add("v1.e30.AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Verify(testSecret, tok, testNow)
		if err == nil && (c.CallID == "" || c.CallControlID == "") {
			t.Fatalf("accepted %q with empty claims", tok)
		}
	})
}

func mintSeed(f *testing.F) string {
	tok, err := Mint(testSecret, testClaims, testNow, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	return tok
}

func TestATraceParentRidesInTheTokenAndIsBounded(t *testing.T) {
	c := testClaims
	c.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	got, err := Verify(testSecret, mint(t, testSecret, c, testNow, time.Minute), testNow)
	if err != nil || got.TraceParent != c.TraceParent {
		t.Fatalf("trace parent %q (%v), want %q", got.TraceParent, err, c.TraceParent)
	}
	c.TraceParent = strings.Repeat("0", maxClaimLen+1)
	if _, err := Mint(testSecret, c, testNow, time.Minute); !errors.Is(err, ErrBadToken) {
		t.Errorf("a trace parent of %d bytes minted: %v", len(c.TraceParent), err)
	}
}
