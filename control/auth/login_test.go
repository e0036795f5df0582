package auth_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
)

func TestLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()

		t.Run("the right password logs in, whatever the email's case", func(t *testing.T) {
			before := w.clk.Now()
			tok, err := w.node.Login(ctx, "ADA@example.com", password, client)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" {
				t.Fatalf("tokens missing: %+v", tok)
			}
			if got := tok.AccessExpiresAt.Sub(before); got != 30*time.Minute {
				t.Errorf("access token lives %v, want 30m", got)
			}
			if got := tok.RefreshExpiresAt.Sub(before); got < 7*24*time.Hour-time.Second || got > 7*24*time.Hour+time.Second {
				t.Errorf("refresh token lives %v, want 7 days", got)
			}
			p, err := w.node.Authenticate(ctx, "Bearer "+tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if p.OrgID != w.org.ID || p.UserID != w.admin.ID || p.Role != store.RoleAdmin || p.Family == "" || p.TokenID == "" {
				t.Errorf("principal %+v", p)
			}
		})

		off, err := w.node.CreateUser(ctx, w.org.ID, "off@example.com", password, store.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.node.DisableUser(ctx, w.org.ID, off.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateUser(ctx, store.User{OrgID: w.org.ID, Email: "nopass@example.com", Role: store.RoleViewer}); err != nil {
			t.Fatal(err)
		}

		var messages []string
		for _, tc := range []struct {
			name, email, password string
		}{
			{"a wrong password is refused", "ada@example.com", "wrong horse battery staple"},
			{"an unknown email is refused", "nobody@example.com", password},
			{"a disabled user is refused, even with the right password", "off@example.com", password},
			{"an empty password is refused", "ada@example.com", ""},
			{"a user without a stored password is refused", "nopass@example.com", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hashes := value(t, w.node, "iace_auth_password_hashes_total")
				// Another address each time, so the address throttle stays out of it.
				_, err := w.node.Login(ctx, tc.email, tc.password, netip.AddrFrom4([4]byte{192, 0, 2, byte(len(messages))}))
				if !errors.Is(err, auth.ErrUnauthorized) {
					t.Fatalf("error %v, want ErrUnauthorized", err)
				}
				messages = append(messages, err.Error())
				// The same work whatever the reason: one argon2id each.
				if got := value(t, w.node, "iace_auth_password_hashes_total") - hashes; got != 1 {
					t.Errorf("%v password hashes, want 1", got)
				}
			})
		}
		t.Run("every refusal reads the same", func(t *testing.T) {
			for _, m := range messages {
				if m != messages[0] {
					t.Errorf("refusals differ: %q and %q", m, messages[0])
				}
			}
		})
		t.Run("an oversized password is refused before hashing", func(t *testing.T) {
			hashes := value(t, w.node, "iace_auth_password_hashes_total")
			_, err := w.node.Login(ctx, "ada@example.com", strings.Repeat("x", auth.MaxPasswordBytes+1), client)
			if !errors.Is(err, auth.ErrUnauthorized) {
				t.Fatalf("error %v", err)
			}
			if value(t, w.node, "iace_auth_password_hashes_total") != hashes {
				t.Error("an oversized password was hashed")
			}
		})
	})
}

func TestLoginThrottling(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		if _, err := w.node.CreateUser(ctx, w.org.ID, "bob@example.com", password, store.RoleViewer); err != nil {
			t.Fatal(err)
		}
		addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}) }

		t.Run("five failures lock the email from that address, even with the right password", func(t *testing.T) {
			for i := range 5 {
				if _, err := w.node.Login(ctx, "ada@example.com", "wrong", addr(1)); !errors.Is(err, auth.ErrUnauthorized) {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			_, err := w.node.Login(ctx, "ada@example.com", password, addr(1))
			var te *auth.ThrottledError
			if !errors.As(err, &te) || !errors.Is(err, auth.ErrThrottled) {
				t.Fatalf("sixth attempt: %v, want a ThrottledError", err)
			}
			if te.RetryAfter() <= 0 || te.RetryAfter() > 3*time.Minute {
				t.Errorf("retry after %v, want up to 3m (15m / 5)", te.RetryAfter())
			}
		})
		t.Run("an attacker failing from one address does not lock the user out of theirs", func(t *testing.T) {
			for range 50 {
				_, _ = w.node.Login(ctx, "ada@example.com", "wrong", addr(1))
			}
			if _, err := w.node.Login(ctx, "ada@example.com", password, addr(2)); err != nil {
				t.Errorf("the right password from the user's own address: %v", err)
			}
		})
		t.Run("other emails are not locked", func(t *testing.T) {
			if _, err := w.node.Login(ctx, "bob@example.com", password, addr(1)); err != nil {
				t.Error(err)
			}
		})
		t.Run("after the wait the right password works again", func(t *testing.T) {
			w.clk.Advance(3 * time.Minute)
			if _, err := w.node.Login(ctx, "ada@example.com", password, addr(1)); err != nil {
				t.Error(err)
			}
		})
		t.Run("twenty failures from one address lock it for every email", func(t *testing.T) {
			for i := range 20 {
				_, err := w.node.Login(ctx, "guess"+string(rune('a'+i))+"@example.com", "wrong", addr(200))
				if !errors.Is(err, auth.ErrUnauthorized) {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			if _, err := w.node.Login(ctx, "bob@example.com", password, addr(200)); !errors.Is(err, auth.ErrThrottled) {
				t.Errorf("from the locked address: %v, want ErrThrottled", err)
			}
			if _, err := w.node.Login(ctx, "bob@example.com", password, addr(201)); err != nil {
				t.Errorf("from another address: %v", err)
			}
		})
		t.Run("throttled attempts hash nothing", func(t *testing.T) {
			hashes := value(t, w.node, "iace_auth_password_hashes_total")
			for range 10 {
				_, _ = w.node.Login(ctx, "bob@example.com", password, addr(200))
			}
			if value(t, w.node, "iace_auth_password_hashes_total") != hashes {
				t.Error("a throttled login hashed a password")
			}
		})
		t.Run("successful logins do not use up the allowance", func(t *testing.T) {
			for i := range 3 * auth.DefaultPairFailures.N {
				if _, err := w.node.Login(ctx, "bob@example.com", password, addr(3)); err != nil {
					t.Fatalf("login %d: %v", i+1, err)
				}
			}
		})
	})
}

func TestLoginEmailCeiling(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		ceiling := auth.DefaultEmailFailures
		burst := ceiling.Burst
		if burst == 0 {
			burst = ceiling.N
		}
		interval := ceiling.Per / time.Duration(ceiling.N)
		// Two guesses from each address of a botnet stay under the
		// address and pair limits: only the ceiling can stop them.
		next := 0
		guess := func() error {
			next++
			_, err := w.node.Login(ctx, "ada@example.com", "wrong", netip.AddrFrom4([4]byte{10, 1, byte(next / 2 / 256), byte(next / 2 % 256)}))
			return err
		}
		fresh := func() netip.Addr {
			next += 2
			return netip.AddrFrom4([4]byte{10, 2, byte(next / 256), byte(next % 256)})
		}

		t.Run("guesses from many addresses are bounded by the email's ceiling", func(t *testing.T) {
			hashes := value(t, w.node, "iace_auth_password_hashes_total")
			for i := range burst {
				if err := guess(); !errors.Is(err, auth.ErrUnauthorized) {
					t.Fatalf("guess %d: %v, want ErrUnauthorized", i+1, err)
				}
			}
			for i := range 20 {
				var te *auth.ThrottledError
				if err := guess(); !errors.As(err, &te) {
					t.Fatalf("guess %d past the ceiling: %v, want a ThrottledError", burst+i+1, err)
				}
			}
			if got := value(t, w.node, "iace_auth_password_hashes_total") - hashes; got != float64(burst) {
				t.Errorf("%v passwords verified, want the ceiling's burst of %d", got, burst)
			}
		})
		t.Run("past the ceiling logins are spaced, not locked", func(t *testing.T) {
			_, err := w.node.Login(ctx, "ada@example.com", password, fresh())
			var te *auth.ThrottledError
			if !errors.As(err, &te) {
				t.Fatalf("during the attack: %v, want a ThrottledError", err)
			}
			if te.RetryAfter() <= 0 || te.RetryAfter() > interval {
				t.Errorf("retry after %v, want at most one interval of the ceiling (%v)", te.RetryAfter(), interval)
			}
			w.clk.Advance(te.RetryAfter())
			if err := guess(); !errors.Is(err, auth.ErrUnauthorized) {
				t.Fatalf("one interval later a guess: %v, want it verified (and refused)", err)
			}
			if err := guess(); !errors.Is(err, auth.ErrThrottled) {
				t.Fatalf("and the next: %v, want ErrThrottled", err)
			}
			w.clk.Advance(interval)
			if _, err := w.node.Login(ctx, "ada@example.com", password, fresh()); err != nil {
				t.Errorf("the user one interval later: %v", err)
			}
		})
	})
}

func TestCreateUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := t.Context()
		for _, tc := range []struct {
			name, email, password string
			role                  store.Role
			want                  error
		}{
			{"a short password", "c@example.com", "short", store.RoleViewer, store.ErrInvalid},
			{"an 11-character password", "c@example.com", "hello world", store.RoleViewer, store.ErrInvalid},
			{"an oversized password", "c@example.com", strings.Repeat("p", auth.MaxPasswordBytes+1), store.RoleViewer, store.ErrInvalid},
			{"a password that is not UTF-8", "c@example.com", "abcdefghijk\xff", store.RoleViewer, store.ErrInvalid},
			{"an email without @", "c.example.com", password, store.RoleViewer, store.ErrInvalid},
			{"an email with a space", "c d@example.com", password, store.RoleViewer, store.ErrInvalid},
			{"an unknown role", "c@example.com", password, "root", store.ErrInvalid},
			{"a taken email", "ADA@example.com", password, store.RoleViewer, store.ErrConflict},
		} {
			t.Run(tc.name+" is refused", func(t *testing.T) {
				if _, err := w.node.CreateUser(ctx, w.org.ID, tc.email, tc.password, tc.role); !errors.Is(err, tc.want) {
					t.Errorf("error %v, want %v", err, tc.want)
				}
			})
		}
		t.Run("twelve characters of any script are enough, and the hash is argon2id", func(t *testing.T) {
			u, err := w.node.CreateUser(ctx, w.org.ID, "z@example.com", "ünïcödé pâss", store.RoleSupervisor)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Errorf("hash %q", u.PasswordHash)
			}
			if _, err := w.node.Login(ctx, "z@example.com", "ünïcödé pâss", client); err != nil {
				t.Error(err)
			}
		})
		t.Run("SetPassword changes the password and ends the sessions", func(t *testing.T) {
			tok := w.login(t)
			if err := w.node.SetPassword(ctx, w.org.ID, w.admin.ID, "a brand new passphrase"); err != nil {
				t.Fatal(err)
			}
			if _, err := w.node.Authenticate(ctx, tok.AccessToken); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("old session's access token: %v", err)
			}
			if _, err := w.node.Login(ctx, "ada@example.com", password, client); !errors.Is(err, auth.ErrUnauthorized) {
				t.Errorf("old password: %v", err)
			}
			if _, err := w.node.Login(ctx, "ada@example.com", "a brand new passphrase", client); err != nil {
				t.Errorf("new password: %v", err)
			}
		})
	})
}
