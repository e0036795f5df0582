package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/control/api"
	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/control/ratelimit"
	"github.com/iace/iace/store"
)

// signingKey signs the test tokens.
var signingKey = []byte("test-signing-key-0123456789abcdef")

// newAuth is the real authenticator over st, with cheap password hashing.
func newAuth(t *testing.T, st store.Store) *auth.Service {
	t.Helper()
	svc, err := auth.NewService(auth.Config{SigningKey: signingKey, Argon2: auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}},
		st, auth.Throttles{}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

func (e *env) loginTokens(email string) tokens {
	e.t.Helper()
	var tok tokens
	r := e.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if r.status != http.StatusOK {
		e.t.Fatalf("login: %d %s", r.status, r.body)
	}
	r.json(e.t, &tok)
	return tok
}

func TestLoginRefreshRotationAndReuse(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		first := e.loginTokens(e.a.viewer.Email)
		if first.ExpiresIn < 29*60 || first.ExpiresIn > 30*60 {
			t.Fatalf("access token lives %d s, want 30 minutes", first.ExpiresIn)
		}
		var me struct{ Email, Role string }
		e.do(http.MethodGet, "/api/v1/me", first.AccessToken, nil).json(t, &me)
		if me.Email != e.a.viewer.Email || me.Role != "viewer" {
			t.Fatalf("me: %+v", me)
		}

		var second tokens
		r := e.do(http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
		r.json(t, &second)
		if r.status != 200 || second.RefreshToken == first.RefreshToken {
			t.Fatalf("refresh: %d %s", r.status, r.body)
		}
		// The rotated token presented again: the whole login is revoked.
		e.do(http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken}).problem(t, http.StatusUnauthorized)
		e.do(http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken}).problem(t, http.StatusUnauthorized)
		e.do(http.MethodGet, "/api/v1/me", second.AccessToken, nil).problem(t, http.StatusUnauthorized)

		// Logout ends a login; another login of the same user lives on.
		a, b := e.loginTokens(e.a.viewer.Email), e.loginTokens(e.a.viewer.Email)
		if r := e.do(http.MethodPost, "/api/v1/auth/logout", "", map[string]string{"refresh_token": a.RefreshToken}); r.status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		e.do(http.MethodGet, "/api/v1/me", a.AccessToken, nil).problem(t, http.StatusUnauthorized)
		if r := e.do(http.MethodGet, "/api/v1/me", b.AccessToken, nil); r.status != 200 {
			t.Fatalf("the other login died too: %d", r.status)
		}

		// Wrong password and unknown user look the same.
		p1 := e.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": e.a.viewer.Email, "password": "wrong password!"}).problem(t, 401)
		p2 := e.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": "nobody@nowhere.example", "password": "wrong password!"}).problem(t, 401)
		if p1.Detail != p2.Detail {
			t.Fatalf("wrong password %q vs unknown user %q", p1.Detail, p2.Detail)
		}
	})
}

func TestDisablingAUserCutsThemOffAtOnce(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		tok := e.loginTokens(e.a.supervisor.Email)
		if r := e.do(http.MethodGet, "/api/v1/calls", tok.AccessToken, nil); r.status != 200 {
			t.Fatalf("before: %d", r.status)
		}
		r := e.do(http.MethodPatch, "/api/v1/users/"+string(e.a.supervisor.ID), e.a.adminTok, map[string]any{"disabled": true})
		if r.status != 200 || !strings.Contains(string(r.body), "disabled_at") {
			t.Fatalf("disable: %d %s", r.status, r.body)
		}
		e.do(http.MethodGet, "/api/v1/calls", tok.AccessToken, nil).problem(t, http.StatusUnauthorized)
		e.do(http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tok.RefreshToken}).problem(t, http.StatusUnauthorized)
		e.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": e.a.supervisor.Email, "password": password}).problem(t, http.StatusUnauthorized)
		e.do(http.MethodPatch, "/api/v1/users/"+string(e.a.admin.ID), e.a.adminTok, map[string]any{"disabled": true}).problem(t, http.StatusConflict)
	})
}

func TestForgedTokensAreRefused(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		good := e.a.adminTok
		parsed, _, err := jwt.NewParser().ParseUnverified(good, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		claims := parsed.Claims.(jwt.MapClaims)
		sign := func(method jwt.SigningMethod, key any, edit func(jwt.MapClaims)) string {
			c := jwt.MapClaims{}
			for k, v := range claims {
				c[k] = v
			}
			if edit != nil {
				edit(c)
			}
			tk := jwt.NewWithClaims(method, c)
			tk.Header["kid"] = parsed.Header["kid"]
			s, err := tk.SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		for name, tok := range map[string]string{
			"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil),
			"wrong key":      sign(jwt.SigningMethodHS256, []byte("another-key-0123456789abcdef01234"), nil),
			"expired":        sign(jwt.SigningMethodHS256, signingKey, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
			"other audience": sign(jwt.SigningMethodHS256, signingKey, func(c jwt.MapClaims) { c["aud"] = "someone-else" }),
			"other org":      sign(jwt.SigningMethodHS256, []byte("x"+string(signingKey[1:])), func(c jwt.MapClaims) { c["org"] = string(e.b.id) }),
			"garbage":        "not.a.token",
		} {
			r := e.do(http.MethodGet, "/api/v1/agents", tok, nil)
			r.problem(t, http.StatusUnauthorized)
			if !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: no WWW-Authenticate challenge", name)
			}
		}
		if r := e.do(http.MethodGet, "/api/v1/agents", good, nil); r.status != 200 {
			t.Fatalf("the genuine token: %d", r.status)
		}
	})
}

func TestRateLimitsAnswer429WithRetryAfter(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		user, err := ratelimit.NewLocal(ratelimit.Config{Name: "api_user", Rate: ratelimit.Rate{N: 3, Per: time.Minute, Burst: 3}}, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, st, func(_ *api.Config, d *api.Deps) { d.UserLimit = user })
		for i := range 3 {
			if r := e.do(http.MethodGet, "/api/v1/agents", e.a.viewerTok, nil); r.status != 200 {
				t.Fatalf("request %d: %d", i, r.status)
			}
		}
		r := e.do(http.MethodGet, "/api/v1/agents", e.a.viewerTok, nil)
		r.problem(t, http.StatusTooManyRequests)
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		if r := e.do(http.MethodGet, "/api/v1/agents", e.b.viewerTok, nil); r.status != 200 {
			t.Fatalf("another user was limited too: %d", r.status)
		}
	})
}
