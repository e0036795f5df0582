package auth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
)

// gatedStore knows one user and holds every UserByEmail at its gate, so a
// test can see how many logins got past the throttles before any of them
// verified a password.
type gatedStore struct {
	auth.Store // nil: a login reads nothing else
	user       store.User
	gate       chan struct{}
	arrived    atomic.Int64
}

func (g *gatedStore) UserByEmail(ctx context.Context, email string) (store.User, error) {
	g.arrived.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return store.User{}, ctx.Err()
	}
	if email != g.user.Email {
		return store.User{}, store.ErrNotFound
	}
	return g.user, nil
}

func TestConcurrentWrongLoginsAreThrottledBeforeVerification(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hash, err := auth.HashPassword(password, fastArgon2)
		if err != nil {
			t.Fatal(err)
		}
		st := &gatedStore{
			user: store.User{ID: "u1", OrgID: "o1", Email: "ada@example.com", PasswordHash: hash, Role: store.RoleAdmin},
			gate: make(chan struct{}),
		}
		reg := prometheus.NewRegistry()
		svc, err := auth.NewService(auth.Config{SigningKey: testKey, Argon2: fastArgon2}, st, auth.Throttles{}, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		n := node{svc, reg}
		const attempts = 40
		var (
			wg   sync.WaitGroup
			errs [attempts]error
		)
		for i := range attempts {
			wg.Go(func() {
				_, errs[i] = n.Login(t.Context(), "ada@example.com", "wrong horse battery staple", client)
			})
		}
		// Every login is now either refused or waiting at the store.
		synctest.Wait()
		arrived := st.arrived.Load()
		close(st.gate)
		wg.Wait()

		burst := auth.DefaultPairFailures.N
		if arrived > int64(burst) {
			t.Errorf("%d of %d concurrent wrong logins got past the throttle, want at most %d", arrived, attempts, burst)
		}
		if got := value(t, n, "iace_auth_password_hashes_total"); got > float64(burst) {
			t.Errorf("%v passwords verified, want at most %d", got, burst)
		}
		refused, throttled := 0, 0
		for i, err := range errs {
			var te *auth.ThrottledError
			switch {
			case errors.As(err, &te):
				throttled++
			case errors.Is(err, auth.ErrUnauthorized):
				refused++
			default:
				t.Errorf("login %d: %v", i, err)
			}
		}
		if refused > burst || refused+throttled != attempts {
			t.Errorf("%d refused after verification and %d throttled, want at most %d and the rest throttled", refused, throttled, burst)
		}
	})
}
