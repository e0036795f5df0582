package auth_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
)

func TestChangePassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		const next = "a brand new passphrase"
		current, other := w.login(t), w.login(t)
		p, err := w.node.Authenticate(ctx, current.AccessToken)
		if err != nil {
			t.Fatal(err)
		}

		t.Run("a new password that breaks the rules is refused before anything", func(t *testing.T) {
			hashes := value(t, w.node, "iace_auth_password_hashes_total")
			if _, err := w.node.ChangePassword(ctx, p, password, "short", client); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("error %v, want store.ErrInvalid", err)
			}
			if value(t, w.node, "iace_auth_password_hashes_total") != hashes {
				t.Error("a refused new password cost a hash")
			}
		})
		t.Run("a wrong current password is refused", func(t *testing.T) {
			_, err := w.node.ChangePassword(ctx, p, "not my password", next, client)
			if !errors.Is(err, auth.ErrWrongPassword) || !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("error %v, want ErrWrongPassword", err)
			}
		})
		t.Run("the right one changes it and ends every other session", func(t *testing.T) {
			tok, err := w.node.ChangePassword(ctx, p, password, next, client)
			if err != nil {
				t.Fatal(err)
			}
			for name, old := range map[string]auth.Tokens{"this": current, "another": other} {
				if _, err := w.node.Authenticate(ctx, old.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
					t.Errorf("%s session's old access token: %v", name, err)
				}
				if _, err := w.node.Refresh(ctx, old.RefreshToken); !errors.Is(err, auth.ErrUnauthorized) {
					t.Errorf("%s session's old refresh token: %v", name, err)
				}
			}
			if _, err := w.node.Authenticate(ctx, tok.AccessToken); err != nil {
				t.Errorf("the new session: %v", err)
			}
			if _, err := w.node.Refresh(ctx, tok.RefreshToken); err != nil {
				t.Errorf("the new session's refresh: %v", err)
			}
			if _, err := w.node.Login(ctx, "ada@example.com", password, client); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("the old password: %v", err)
			}
			if _, err := w.node.Login(ctx, "ada@example.com", next, client); err != nil {
				t.Errorf("the new password: %v", err)
			}
		})
		t.Run("wrong current passwords are throttled like logins", func(t *testing.T) {
			from := netip.MustParseAddr("192.0.2.77")
			tok, err := w.node.Login(ctx, "ada@example.com", next, from)
			if err != nil {
				t.Fatal(err)
			}
			p, err := w.node.Authenticate(ctx, tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			for i := range auth.DefaultPairFailures.N {
				if _, err := w.node.ChangePassword(ctx, p, "guess", password, from); !errors.Is(err, auth.ErrWrongPassword) {
					t.Fatalf("guess %d: %v", i+1, err)
				}
			}
			hashes := value(t, w.node, "iace_auth_password_hashes_total")
			var te *auth.ThrottledError
			if _, err := w.node.ChangePassword(ctx, p, next, password, from); !errors.As(err, &te) {
				t.Errorf("past the allowance: %v, want a ThrottledError", err)
			}
			if _, err := w.node.Login(ctx, "ada@example.com", next, from); !errors.As(err, &te) {
				t.Errorf("a login from the same address: %v, want a ThrottledError", err)
			}
			if value(t, w.node, "iace_auth_password_hashes_total") != hashes {
				t.Error("a throttled attempt hashed a password")
			}
		})
		t.Run("a disabled user cannot change their password", func(t *testing.T) {
			if _, err := w.node.DisableUser(ctx, w.org.ID, w.admin.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := w.node.ChangePassword(ctx, p, next, password, netip.Addr{}); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("error %v, want ErrUnauthorized", err)
			}
		})
	})
}
