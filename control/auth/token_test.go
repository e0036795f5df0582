package auth_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
)

// claimsOf reads a token's claims without checking it.
func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// forge signs claims as an attacker or a misconfigured peer would.
func forge(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for key, val := range c {
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestAccessTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		tok := w.login(t)
		good := claimsOf(t, tok.AccessToken)
		kid := auth.KeyID(testKey)

		t.Run("a token says who, where, which session and which key", func(t *testing.T) {
			if good["sub"] != string(w.admin.ID) || good["org"] != string(w.org.ID) || good["role"] != "admin" ||
				good["iss"] != "iace" || good["sid"] == "" || good["jti"] == "" {
				t.Errorf("claims %v", good)
			}
			parsed, _, _ := jwt.NewParser().ParseUnverified(tok.AccessToken, jwt.MapClaims{})
			if parsed.Header["kid"] != kid || parsed.Header["alg"] != "HS256" {
				t.Errorf("header %v", parsed.Header)
			}
		})

		otherKey := []byte("another key that is 32 bytes lng")
		header, payload, _ := strings.Cut(tok.AccessToken, ".")
		payload, sig, _ := strings.Cut(payload, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(payload)
		tampered := header + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"role":"admin"`, `"role":"viewer"`, 1))) + "." + sig

		for _, tc := range []struct {
			name  string
			token string
		}{
			{"alg none", forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, good)},
			{"a wrong key under the right kid", forge(t, jwt.SigningMethodHS256, otherKey, kid, good)},
			{"an unknown kid", forge(t, jwt.SigningMethodHS256, otherKey, auth.KeyID(otherKey), good)},
			{"a missing kid", forge(t, jwt.SigningMethodHS256, testKey, "", good)},
			{"HS384, not allowed", forge(t, jwt.SigningMethodHS384, testKey, kid, good)},
			{"another audience", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "aud", []string{"billing"}))},
			{"another issuer", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "iss", "evil"))},
			{"no expiry", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "exp", nil))},
			{"expired", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "exp", w.clk.Now().Add(-time.Minute).Unix()))},
			{"issued in the future", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "iat", w.clk.Now().Add(time.Hour).Unix()))},
			{"no session", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "sid", nil))},
			{"an unknown role", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "role", "root"))},
			{"another organization", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "org", "other-org"))},
			{"a session that does not exist", forge(t, jwt.SigningMethodHS256, testKey, kid, with(good, "rth", base64.RawURLEncoding.EncodeToString(make([]byte, 32))))},
			{"a tampered payload", tampered},
			{"garbage", "not.a.token"},
			{"nothing", ""},
			{"an oversized token", strings.Repeat("a", auth.MaxTokenBytes+1)},
		} {
			t.Run(tc.name+" is refused", func(t *testing.T) {
				if _, err := w.node.Authenticate(ctx, tc.token); !errors.Is(err, auth.ErrUnauthorized) {
					t.Errorf("error %v, want ErrUnauthorized", err)
				}
			})
		}

		t.Run("the clock may be 30 s off, not more", func(t *testing.T) {
			w.clk.Advance(30*time.Minute + 20*time.Second)
			if _, err := w.node.Authenticate(ctx, tok.AccessToken); err != nil {
				t.Errorf("20 s past expiry: %v", err)
			}
			w.clk.Advance(20 * time.Second)
			if _, err := w.node.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("40 s past expiry: %v", err)
			}
		})
	})
}

func TestKeyRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		old := w.login(t)

		newKey := []byte("the next key, also 32 bytes long")
		cfg := baseConfig(w.clk)
		cfg.SigningKey, cfg.VerifyKeys = newKey, [][]byte{testKey}
		rotated := newNode(t, cfg, st)
		t.Run("tokens of the old key still work during the rotation", func(t *testing.T) {
			if _, err := rotated.Authenticate(ctx, old.AccessToken); err != nil {
				t.Error(err)
			}
		})
		fresh, err := rotated.Login(ctx, "ada@example.com", password, client)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("new tokens are signed with the new key", func(t *testing.T) {
			parsed, _, _ := jwt.NewParser().ParseUnverified(fresh.AccessToken, jwt.MapClaims{})
			if parsed.Header["kid"] != auth.KeyID(newKey) {
				t.Errorf("kid %v, want %s", parsed.Header["kid"], auth.KeyID(newKey))
			}
		})
		cfg.VerifyKeys = nil
		done := newNode(t, cfg, st)
		t.Run("once the old key is dropped its tokens are refused", func(t *testing.T) {
			if _, err := done.Authenticate(ctx, old.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("error %v", err)
			}
			if _, err := done.Authenticate(ctx, fresh.AccessToken); err != nil {
				t.Errorf("a new-key token: %v", err)
			}
		})
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  auth.Config
	}{
		{"no signing key", auth.Config{}},
		{"a short signing key", auth.Config{SigningKey: []byte("short")}},
		{"a short verification key", auth.Config{SigningKey: testKey, VerifyKeys: [][]byte{[]byte("short")}}},
		{"the signing key again as a verification key", auth.Config{SigningKey: testKey, VerifyKeys: [][]byte{testKey}}},
		{"access outliving refresh", auth.Config{SigningKey: testKey, AccessTTL: time.Hour, RefreshTTL: time.Minute}},
		{"a negative leeway", auth.Config{SigningKey: testKey, Leeway: -time.Second}},
		{"argon2 without passes", auth.Config{SigningKey: testKey, Argon2: auth.Argon2Params{MemoryKiB: 64, Threads: 1}}},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if tc.cfg.Validate() == nil {
				t.Error("valid, want an error")
			}
		})
	}
	if err := (auth.Config{SigningKey: auth.GenerateKey()}).Validate(); err != nil {
		t.Errorf("a generated key: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{"Bearer abc": "abc", "bearer abc": "abc", "Basic abc": "", "Bearer ": "", "abc": ""} {
		got, ok := auth.BearerToken(header)
		if got != want || ok != (want != "") {
			t.Errorf("BearerToken(%q) = %q, %v", header, got, ok)
		}
	}
}
