package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/iace/iace/store"
)

// userStatus is what Authenticate remembers of a user.
type userStatus struct {
	disabled bool
	role     store.Role
}

func userKey(org store.OrgID, user store.UserID) string { return string(org) + "\x00" + string(user) }
func familyKey(org store.OrgID, family string) string   { return string(org) + "\x00" + family }

// Authenticate checks an access token (or a whole "Bearer <token>" header
// value) and returns who it speaks for. Beyond the signature (HS256 only,
// a known kid), issuer, audience and expiry (with Config.Leeway), it
// checks on every request that the user still exists and is not disabled
// and that the token's session was not revoked, so that a user can be cut
// off at once. Those two facts are read from the store and remembered for
// Config.StatusTTL (5 s) per user and per session: on the node that
// revokes a session or changes a user (disables them, changes their role:
// UpdateUser) the effect is immediate (only requests that joined a status
// read already in flight may get the old answer), on other nodes it takes
// at most StatusTTL, and a steady stream of requests costs
// at most two store reads per user and session every StatusTTL.
//
// Any failure is ErrUnauthorized, except a store failure (wrapping
// store.ErrUnavailable, a 503).
func (s *Service) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	if tok, ok := BearerToken(bearer); ok {
		bearer = tok
	}
	c, err := s.keys.parse(bearer)
	if err != nil {
		s.m.rejected.Inc()
		return Principal{}, err
	}
	org, user := store.OrgID(c.Org), store.UserID(c.Subject)
	if _, revoked := s.revoked.get(familyKey(org, c.SID), s.cfg.Now()); revoked {
		s.m.rejected.Inc()
		return Principal{}, fmt.Errorf("%w: session revoked", ErrUnauthorized)
	}
	us, err := s.userStatus(ctx, org, user)
	if err == nil && us.disabled {
		err = fmt.Errorf("%w: user disabled or gone", ErrUnauthorized)
	}
	if err == nil {
		err = s.sessionLive(ctx, org, user, c.SID, c.RTH)
	}
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			s.m.rejected.Inc()
		}
		return Principal{}, err
	}
	return Principal{
		OrgID: org, UserID: user, Role: us.role, Family: c.SID,
		TokenID: c.ID, ExpiresAt: c.ExpiresAt.Time,
	}, nil
}

// userStatus reads a user's status, from memory when fresh. A user that is
// gone reads as disabled.
func (s *Service) userStatus(ctx context.Context, org store.OrgID, user store.UserID) (userStatus, error) {
	key := userKey(org, user)
	if st, ok := s.users.get(key, s.cfg.Now()); ok {
		return st, nil
	}
	v, err := s.shared(ctx, "u\x00"+key, func(ctx context.Context) (any, error) {
		version := s.users.version()
		u, err := s.st.GetUser(ctx, org, user)
		var st userStatus
		switch {
		case errors.Is(err, store.ErrNotFound):
			st.disabled = true
		case err != nil:
			return nil, fmt.Errorf("auth: user status: %w", err)
		default:
			st = userStatus{disabled: u.DisabledAt != nil, role: u.Role}
		}
		s.users.fill(key, st, s.cfg.Now().Add(s.cfg.StatusTTL), s.cfg.Now(), version)
		return st, nil
	})
	if err != nil {
		return userStatus{}, err
	}
	return v.(userStatus), nil
}

// sessionLive checks that the session of a token is not revoked, by the
// refresh token it was issued with (revocation is always of a whole
// family, so any of its tokens tells), from memory when fresh.
func (s *Service) sessionLive(ctx context.Context, org store.OrgID, user store.UserID, family, rth string) error {
	key := familyKey(org, family)
	live, ok := s.sessions.get(key, s.cfg.Now())
	if !ok {
		v, err := s.shared(ctx, "s\x00"+key, func(ctx context.Context) (any, error) {
			hash, _ := base64.RawURLEncoding.DecodeString(rth) // checked by parse
			version := s.sessions.version()
			rt, err := s.st.RefreshTokenByHash(ctx, hash)
			var live bool
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return nil, fmt.Errorf("auth: session status: %w", err)
			default:
				live = rt.RevokedAt == nil && rt.OrgID == org && rt.UserID == user && rt.Family == family
			}
			s.sessions.fill(key, live, s.cfg.Now().Add(s.cfg.StatusTTL), s.cfg.Now(), version)
			return live, nil
		})
		if err != nil {
			return err
		}
		live = v.(bool)
	}
	if !live {
		return fmt.Errorf("%w: session revoked", ErrUnauthorized)
	}
	return nil
}

// statusReadTimeout bounds a store read shared by concurrent requests.
const statusReadTimeout = 2 * time.Second

// shared runs one read for all the requests that need the same status at
// once (a burst after the memory expired). The read outlives a caller that
// gives up, since others may wait for it, but not statusReadTimeout.
func (s *Service) shared(ctx context.Context, key string, read func(ctx context.Context) (any, error)) (any, error) {
	ch := s.flight.DoChan(key, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusReadTimeout)
		defer cancel()
		return read(rctx)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: %w", context.Cause(ctx))
	}
}
