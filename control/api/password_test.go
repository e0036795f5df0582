package api_test

import (
	"net/http"
	"testing"

	"github.com/iace/iace/store"
)

// doAuth sends a request with a raw Authorization header value.
func (e *env) doAuth(method, path, authorization string) resp {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_ = res.Body.Close()
	return resp{status: res.StatusCode, header: res.Header}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		// RFC 9110 section 11.1: the scheme name is case-insensitive.
		for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
			if r := e.doAuth(http.MethodGet, "/api/v1/me", scheme+" "+e.a.viewerTok); r.status != http.StatusOK {
				t.Errorf("scheme %q: %d, want 200", scheme, r.status)
			}
		}
		for _, h := range []string{"Basic " + e.a.viewerTok, "Bearer", "Bearer ", e.a.viewerTok, "Bearer" + e.a.viewerTok} {
			if r := e.doAuth(http.MethodGet, "/api/v1/me", h); r.status != http.StatusUnauthorized {
				t.Errorf("Authorization %.20q...: %d, want 401", h, r.status)
			}
		}
	})
}

func TestDemotionTakesEffectAtOnce(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		second := e.do(http.MethodPost, "/api/v1/users", e.a.adminTok, map[string]any{
			"email": "second-admin@org-a.example", "password": password, "role": "admin",
		})
		if second.status != http.StatusCreated {
			t.Fatalf("create a second admin: %d %s", second.status, second.body)
		}
		var u struct{ ID string }
		second.json(t, &u)
		tok := e.login("second-admin@org-a.example")
		// An admin action: the node now remembers the user as an admin.
		if r := e.do(http.MethodGet, "/api/v1/users", tok, nil); r.status != http.StatusOK {
			t.Fatalf("as an admin: %d %s", r.status, r.body)
		}
		if r := e.do(http.MethodPatch, "/api/v1/users/"+u.ID, e.a.adminTok, map[string]any{"role": "viewer"}); r.status != http.StatusOK {
			t.Fatalf("demote: %d %s", r.status, r.body)
		}
		// No waiting: the node that made the change knows it.
		e.do(http.MethodGet, "/api/v1/users", tok, nil).problem(t, http.StatusForbidden)
		if r := e.do(http.MethodGet, "/api/v1/me", tok, nil); r.status != http.StatusOK {
			t.Errorf("as a viewer, /me: %d %s", r.status, r.body)
		}
		if r := e.do(http.MethodPatch, "/api/v1/users/"+u.ID, e.a.adminTok, map[string]any{"role": "admin"}); r.status != http.StatusOK {
			t.Fatalf("promote: %d %s", r.status, r.body)
		}
		if r := e.do(http.MethodGet, "/api/v1/users", tok, nil); r.status != http.StatusOK {
			t.Errorf("promoted again: %d %s", r.status, r.body)
		}
	})
}

func TestChangePassword(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		const next = "a brand new passphrase"
		this, other := e.loginTokens(e.a.viewer.Email), e.loginTokens(e.a.viewer.Email)
		change := func(token, current, newPassword string) resp {
			t.Helper()
			return e.do(http.MethodPost, "/api/v1/auth/password", token, map[string]string{"current_password": current, "new_password": newPassword})
		}

		e.do(http.MethodPost, "/api/v1/auth/password", "", map[string]string{"current_password": password, "new_password": next}).problem(t, http.StatusUnauthorized)
		change(this.AccessToken, "not my password", next).problem(t, http.StatusForbidden)
		change(this.AccessToken, password, "too short").problem(t, http.StatusUnprocessableEntity)
		// Twelve bytes that are fewer than twelve characters: the service's rule.
		change(this.AccessToken, password, "ééééééé").problem(t, http.StatusUnprocessableEntity)

		r := change(this.AccessToken, password, next)
		if r.status != http.StatusOK {
			t.Fatalf("change: %d %s", r.status, r.body)
		}
		var fresh tokens
		r.json(t, &fresh)
		for name, old := range map[string]tokens{"this": this, "another": other} {
			e.do(http.MethodGet, "/api/v1/me", old.AccessToken, nil).problem(t, http.StatusUnauthorized)
			if r := e.do(http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": old.RefreshToken}); r.status != http.StatusUnauthorized {
				t.Errorf("%s session's refresh token: %d, want 401", name, r.status)
			}
		}
		if r := e.do(http.MethodGet, "/api/v1/me", fresh.AccessToken, nil); r.status != http.StatusOK {
			t.Errorf("the new session: %d %s", r.status, r.body)
		}
		e.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": e.a.viewer.Email, "password": password}).problem(t, http.StatusUnauthorized)
		if r := e.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": e.a.viewer.Email, "password": next}); r.status != http.StatusOK {
			t.Errorf("login with the new password: %d %s", r.status, r.body)
		}

		// Wrong current passwords are throttled like logins.
		sup := e.a.supTok
		for i := range 5 {
			change(sup, "guess number "+string(rune('a'+i)), next).problem(t, http.StatusForbidden)
		}
		r = change(sup, password, next)
		r.problem(t, http.StatusTooManyRequests)
		if r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
}
