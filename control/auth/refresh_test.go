package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
)

func TestRefresh(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		// A second node on the same store, with its own memory.
		other := newNode(t, baseConfig(w.clk), st)
		first := w.login(t)

		w.clk.Advance(time.Minute)
		second, err := w.node.Refresh(ctx, first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("a refresh rotates the refresh token and renews its 7 days", func(t *testing.T) {
			if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
				t.Error("the same tokens again")
			}
			if !second.RefreshExpiresAt.After(first.RefreshExpiresAt) {
				t.Errorf("refresh expiry %v, not after %v", second.RefreshExpiresAt, first.RefreshExpiresAt)
			}
			p1, err1 := w.node.Authenticate(ctx, first.AccessToken)
			p2, err2 := other.Authenticate(ctx, second.AccessToken)
			if err1 != nil || err2 != nil {
				t.Fatalf("access tokens: %v, %v", err1, err2)
			}
			if p1.Family != p2.Family {
				t.Errorf("the refreshed session is another family: %s, %s", p1.Family, p2.Family)
			}
		})

		t.Run("reusing a rotated token revokes the whole session", func(t *testing.T) {
			_, err := w.node.Refresh(ctx, first.RefreshToken)
			if !errors.Is(err, auth.ErrTokenReused) || !errors.Is(err, auth.ErrUnauthorized) {
				t.Fatalf("error %v, want ErrTokenReused (an ErrUnauthorized)", err)
			}
			if _, err := w.node.Refresh(ctx, second.RefreshToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("the sibling refresh token: %v, want ErrUnauthorized", err)
			}
			for i, tok := range []auth.Tokens{first, second} {
				if _, err := w.node.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
					t.Errorf("access token %d on the revoking node: %v, want ErrUnauthorized at once", i+1, err)
				}
			}
		})
		t.Run("other nodes refuse the session's access tokens within the status TTL", func(t *testing.T) {
			w.clk.Advance(auth.DefaultStatusTTL)
			for i, tok := range []auth.Tokens{first, second} {
				if _, err := other.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
					t.Errorf("access token %d on another node: %v, want ErrUnauthorized", i+1, err)
				}
			}
		})
		t.Run("the reuse is counted", func(t *testing.T) {
			if got := value(t, w.node, "iace_auth_refreshes_total"); got != 3 {
				t.Errorf("%v refreshes counted, want 3", got)
			}
		})

		t.Run("other sessions of the user live on", func(t *testing.T) {
			tok := w.login(t)
			if _, err := w.node.Refresh(ctx, tok.RefreshToken); err != nil {
				t.Error(err)
			}
		})
		t.Run("malformed and unknown refresh tokens are refused", func(t *testing.T) {
			for _, bad := range []string{"", "short", first.AccessToken, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
				if _, err := w.node.Refresh(ctx, bad); !errors.Is(err, auth.ErrUnauthorized) || errors.Is(err, auth.ErrTokenReused) {
					t.Errorf("Refresh(%.10q): %v", bad, err)
				}
			}
		})
	})
}

func TestLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		other := newNode(t, baseConfig(w.clk), st)
		tok := w.login(t)
		if _, err := other.Authenticate(ctx, tok.AccessToken); err != nil {
			t.Fatal(err) // the other node now remembers the session as live
		}
		if err := w.node.Logout(ctx, tok.RefreshToken); err != nil {
			t.Fatal(err)
		}
		t.Run("the refresh token is dead", func(t *testing.T) {
			_, err := w.node.Refresh(ctx, tok.RefreshToken)
			if !errors.Is(err, auth.ErrUnauthorized) || errors.Is(err, auth.ErrTokenReused) {
				t.Errorf("error %v, want ErrUnauthorized", err)
			}
		})
		t.Run("the access token is refused at once here and within the status TTL elsewhere", func(t *testing.T) {
			if _, err := w.node.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("here: %v", err)
			}
			w.clk.Advance(auth.DefaultStatusTTL)
			if _, err := other.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("elsewhere: %v", err)
			}
		})
		t.Run("logging out twice is fine", func(t *testing.T) {
			if err := w.node.Logout(ctx, tok.RefreshToken); err != nil {
				t.Error(err)
			}
		})
		t.Run("RevokeSession ends a session by its access token", func(t *testing.T) {
			tok := w.login(t)
			p, err := w.node.Authenticate(ctx, tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.node.RevokeSession(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, err := w.node.Refresh(ctx, tok.RefreshToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("refresh after RevokeSession: %v", err)
			}
		})
	})
}

func TestCutOff(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		other := newNode(t, baseConfig(w.clk), st)
		eve, err := w.node.CreateUser(ctx, w.org.ID, "eve@example.com", password, store.RoleSupervisor)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := w.node.Login(ctx, "eve@example.com", password, client)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := other.Authenticate(ctx, tok.AccessToken); err != nil || p.Role != store.RoleSupervisor {
			t.Fatalf("before: %+v, %v", p, err)
		}

		t.Run("a role change takes effect without a new login", func(t *testing.T) {
			u := eve
			u.Role = store.RoleViewer
			if _, err := st.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			w.clk.Advance(auth.DefaultStatusTTL)
			p, err := other.Authenticate(ctx, tok.AccessToken)
			if err != nil || p.Role != store.RoleViewer || p.Can(auth.ActionControlCalls) {
				t.Errorf("after demotion: %+v, %v", p, err)
			}
		})
		t.Run("a role change made through this node takes effect here at once", func(t *testing.T) {
			if p, err := w.node.Authenticate(ctx, tok.AccessToken); err != nil || p.Role != store.RoleViewer {
				t.Fatalf("before: %+v, %v", p, err)
			}
			u := eve
			u.Role = store.RoleSupervisor
			if _, err := w.node.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if p, err := w.node.Authenticate(ctx, tok.AccessToken); err != nil || p.Role != store.RoleSupervisor {
				t.Errorf("after promotion, no time passed: %+v, %v", p, err)
			}
		})
		if _, err := w.node.DisableUser(ctx, w.org.ID, eve.ID); err != nil {
			t.Fatal(err)
		}
		t.Run("a disabled user is cut off at once here and within the status TTL elsewhere", func(t *testing.T) {
			if _, err := w.node.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("here: %v", err)
			}
			w.clk.Advance(auth.DefaultStatusTTL)
			if _, err := other.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("elsewhere: %v", err)
			}
			if _, err := other.Refresh(ctx, tok.RefreshToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("refresh: %v", err)
			}
		})
		t.Run("RevokeUser ends every session but lets the user log in again", func(t *testing.T) {
			a, b := w.login(t), w.login(t)
			if err := w.node.RevokeUser(ctx, w.org.ID, w.admin.ID); err != nil {
				t.Fatal(err)
			}
			for i, tok := range []auth.Tokens{a, b} {
				if _, err := w.node.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
					t.Errorf("session %d: %v", i+1, err)
				}
			}
			if _, err := w.node.Authenticate(ctx, w.login(t).AccessToken); err != nil {
				t.Errorf("a new login: %v", err)
			}
		})
		t.Run("another organization cannot revoke this one's users", func(t *testing.T) {
			org2, err := st.CreateOrg(ctx, store.Organization{Name: "Other"})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.node.RevokeUser(ctx, org2.ID, w.admin.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("error %v, want store.ErrNotFound", err)
			}
			if _, err := w.node.DisableUser(ctx, org2.ID, w.admin.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("error %v, want store.ErrNotFound", err)
			}
		})
	})
}
