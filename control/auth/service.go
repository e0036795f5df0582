package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/iace/iace/store"
)

// Store is what the Service needs of a store.Store.
type Store interface {
	CreateUser(ctx context.Context, u store.User) (store.User, error)
	GetUser(ctx context.Context, org store.OrgID, id store.UserID) (store.User, error)
	UserByEmail(ctx context.Context, email string) (store.User, error)
	UpdateUser(ctx context.Context, u store.User) (store.User, error)
	CreateRefreshToken(ctx context.Context, t store.RefreshToken) (store.RefreshToken, error)
	RefreshTokenByHash(ctx context.Context, hash []byte) (store.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, old store.RefreshTokID, next store.RefreshToken) (store.RefreshToken, error)
	RevokeTokenFamily(ctx context.Context, org store.OrgID, family string) error
	RevokeUserTokens(ctx context.Context, org store.OrgID, user store.UserID) error
}

// maxEmailBytes is RFC 5321's limit on a forward path.
const maxEmailBytes = 254

// Tokens are what a login or a refresh returns to the client.
type Tokens struct {
	// AccessToken is a JWT for "Authorization: Bearer", valid until
	// AccessExpiresAt.
	AccessToken     string
	AccessExpiresAt time.Time
	// RefreshToken is opaque; it buys new Tokens once, until
	// RefreshExpiresAt.
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// Service logs users in and checks their tokens. It is safe for
// concurrent use.
type Service struct {
	cfg      Config
	st       Store
	keys     *keyring
	hasher   *hasher
	throttle Throttles
	m        *metrics
	log      *slog.Logger
	dummy    string // a hash to verify against when the email is unknown

	users    *ttlCache[userStatus] // org/user -> status
	sessions *ttlCache[bool]       // org/family -> live
	revoked  *ttlCache[struct{}]   // org/family revoked by this node
	flight   singleflight.Group
}

// NewService returns a Service on st. Nil throttles are in-process; metrics
// go to reg (nil: none); log (nil: slog.Default()) gets security events
// without personal data.
func NewService(cfg Config, st Store, throttles Throttles, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	if st == nil {
		return nil, errors.New("auth: no store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	th, err := newThrottles(throttles, cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	m := newMetrics(reg)
	// The dummy hash has the parameters of real ones, so that an unknown
	// email costs what a wrong password costs.
	dummy, err := HashPassword(string(GenerateKey()), cfg.Argon2)
	if err != nil {
		return nil, err
	}
	return &Service{
		cfg:      cfg,
		st:       st,
		keys:     newKeyring(cfg),
		hasher:   newHasher(cfg.MaxConcurrentHashes, cfg.MaxHashQueue, cfg.HashWait, m, cfg.Hashing),
		throttle: th,
		m:        m,
		log:      log,
		dummy:    dummy,
		users:    newTTLCache[userStatus](cfg.StatusEntries),
		sessions: newTTLCache[bool](cfg.StatusEntries),
		revoked:  newTTLCache[struct{}](cfg.StatusEntries),
	}, nil
}

// normalizeEmail is how emails are compared: trimmed, lower-case (as the
// store keeps them).
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Login checks an email and password and starts a session. Every failure
// (unknown email, wrong password, disabled user) is ErrUnauthorized and
// costs one argon2id verification, so neither the error nor the time tells
// which. Each attempt takes its place in the throttles (see Throttles)
// before the password is checked, and gives it back when it succeeds, so
// only failures count and concurrent guesses cannot overtake the count;
// past the allowance Login returns a *ThrottledError without looking at
// the password. from is the client's address (the zero Addr skips the
// address throttle). Other errors: ErrBusy, or the store's
// (store.ErrUnavailable).
func (s *Service) Login(ctx context.Context, email, password string, from netip.Addr) (Tokens, error) {
	email = normalizeEmail(email)
	if email == "" || len(email) > maxEmailBytes || len(password) > MaxPasswordBytes {
		s.m.logins.WithLabelValues(resultFailed).Inc()
		return Tokens{}, ErrUnauthorized
	}
	att, err := s.throttle.take(ctx, email, from)
	if err != nil {
		s.m.logins.WithLabelValues(resultThrottled).Inc()
		return Tokens{}, err
	}
	u, err := s.st.UserByEmail(ctx, email)
	known := err == nil
	switch {
	case errors.Is(err, store.ErrNotFound):
		u.PasswordHash = s.dummy
	case err != nil:
		att.refund(ctx)
		s.m.logins.WithLabelValues(resultError).Inc()
		return Tokens{}, fmt.Errorf("auth: login: %w", err)
	}
	match, err := s.verify(ctx, u, password)
	if err != nil {
		att.refund(ctx)
		s.m.logins.WithLabelValues(resultError).Inc()
		return Tokens{}, err
	}
	if !known || !match || u.DisabledAt != nil {
		s.m.logins.WithLabelValues(resultFailed).Inc()
		return Tokens{}, ErrUnauthorized
	}
	att.refund(ctx)
	tok, err := s.startSession(ctx, u)
	if err != nil {
		s.m.logins.WithLabelValues(resultError).Inc()
		return Tokens{}, err
	}
	s.m.logins.WithLabelValues(resultOK).Inc()
	return tok, nil
}

// verify checks password against u's stored hash in a hash slot. A user
// without a usable password (created outside auth) does not match, at
// the cost of a real verification like any other failure.
func (s *Service) verify(ctx context.Context, u store.User, password string) (bool, error) {
	hash, usable := u.PasswordHash, true
	if _, err := parsePHC(hash); err != nil {
		if u.ID != "" {
			s.log.Warn("auth: a user's stored password is not an argon2id hash",
				slog.String("org", string(u.OrgID)), slog.String("user", string(u.ID)))
		}
		hash, usable = s.dummy, false
	}
	match, err := s.hasher.verify(ctx, password, hash)
	return match && usable, err
}

// startSession creates a new refresh token family for u and its tokens.
func (s *Service) startSession(ctx context.Context, u store.User) (Tokens, error) {
	refresh, hash := newRefreshToken()
	rt, err := s.st.CreateRefreshToken(ctx, store.RefreshToken{
		OrgID: u.OrgID, UserID: u.ID, Hash: hash, ExpiresAt: s.cfg.Now().Add(s.cfg.RefreshTTL),
	})
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: start session: %w", err)
	}
	return s.tokens(u, rt, refresh)
}

func (s *Service) tokens(u store.User, rt store.RefreshToken, refresh string) (Tokens, error) {
	access, exp, err := s.keys.issue(u, rt.Family, rt.Hash)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, AccessExpiresAt: exp, RefreshToken: refresh, RefreshExpiresAt: rt.ExpiresAt}, nil
}

// Refresh exchanges a refresh token for new Tokens, each refresh good for
// another RefreshTTL: a user active within that time stays logged in. A
// refresh token works once. Presenting one that was already exchanged
// revokes its whole session (the thief's and the owner's tokens alike) and
// returns ErrTokenReused; an unknown, expired or revoked token, or one of
// a disabled user, is ErrUnauthorized.
func (s *Service) Refresh(ctx context.Context, refresh string) (Tokens, error) {
	tok, err := s.refresh(ctx, refresh)
	switch {
	case err == nil:
		s.m.refreshes.WithLabelValues(resultOK).Inc()
	case errors.Is(err, ErrTokenReused):
		s.m.refreshes.WithLabelValues(resultReused).Inc()
	case errors.Is(err, ErrUnauthorized):
		s.m.refreshes.WithLabelValues(resultFailed).Inc()
	default:
		s.m.refreshes.WithLabelValues(resultError).Inc()
	}
	return tok, err
}

func (s *Service) refresh(ctx context.Context, refresh string) (Tokens, error) {
	cur, err := s.lookupRefresh(ctx, refresh)
	if err != nil {
		return Tokens{}, err
	}
	switch {
	case cur.RotatedAt != nil:
		// A replay of an exchanged token: whoever holds the family now may
		// be a thief. The store revokes the family (RotateRefreshToken's
		// rule); revoke it here too in case the row was only rotated.
		if err := s.revokeFamily(ctx, cur.OrgID, cur.Family); err != nil {
			return Tokens{}, err
		}
		s.log.Warn("auth: a rotated refresh token was reused; its session is revoked",
			slog.String("org", string(cur.OrgID)), slog.String("user", string(cur.UserID)))
		return Tokens{}, ErrTokenReused
	case cur.RevokedAt != nil:
		return Tokens{}, fmt.Errorf("%w: session revoked", ErrUnauthorized)
	case !cur.ExpiresAt.After(s.cfg.Now()):
		return Tokens{}, fmt.Errorf("%w: refresh token expired", ErrUnauthorized)
	}
	u, err := s.st.GetUser(ctx, cur.OrgID, cur.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Tokens{}, fmt.Errorf("%w: no such user", ErrUnauthorized)
	case err != nil:
		return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
	case u.DisabledAt != nil:
		return Tokens{}, fmt.Errorf("%w: user disabled", ErrUnauthorized)
	}
	next, hash := newRefreshToken()
	rt, err := s.st.RotateRefreshToken(ctx, cur.ID, store.RefreshToken{Hash: hash, ExpiresAt: s.cfg.Now().Add(s.cfg.RefreshTTL)})
	switch {
	case errors.Is(err, store.ErrTokenReused):
		// Another exchange of the same token won the race: the store
		// revoked the family.
		s.revoked.put(familyKey(cur.OrgID, cur.Family), struct{}{}, s.revokedUntil(), s.cfg.Now())
		return Tokens{}, ErrTokenReused
	case errors.Is(err, store.ErrNotFound):
		return Tokens{}, fmt.Errorf("%w: refresh token expired", ErrUnauthorized)
	case err != nil:
		return Tokens{}, fmt.Errorf("auth: refresh: %w", err)
	}
	return s.tokens(u, rt, next)
}

// lookupRefresh finds a presented refresh token; a malformed or unknown
// one is ErrUnauthorized.
func (s *Service) lookupRefresh(ctx context.Context, refresh string) (store.RefreshToken, error) {
	hash, ok := refreshHash(refresh)
	if !ok {
		return store.RefreshToken{}, fmt.Errorf("%w: malformed refresh token", ErrUnauthorized)
	}
	rt, err := s.st.RefreshTokenByHash(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.RefreshToken{}, fmt.Errorf("%w: unknown refresh token", ErrUnauthorized)
	case err != nil:
		return store.RefreshToken{}, fmt.Errorf("auth: refresh token: %w", err)
	}
	return rt, nil
}

// Logout ends the session of a refresh token: every refresh and access
// token of its family stops working (access tokens at once on this node,
// within Config.StatusTTL on others). Logging out of an ended session is
// not an error; an unknown token is ErrUnauthorized.
func (s *Service) Logout(ctx context.Context, refresh string) error {
	rt, err := s.lookupRefresh(ctx, refresh)
	if err != nil {
		return err
	}
	return s.revokeFamily(ctx, rt.OrgID, rt.Family)
}

// RevokeSession ends p's session (its refresh token family), as Logout
// does, for a client that holds only its access token.
func (s *Service) RevokeSession(ctx context.Context, p Principal) error {
	return s.revokeFamily(ctx, p.OrgID, p.Family)
}

func (s *Service) revokeFamily(ctx context.Context, org store.OrgID, family string) error {
	if err := s.st.RevokeTokenFamily(ctx, org, family); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no such session", ErrUnauthorized)
		}
		return fmt.Errorf("auth: revoke session: %w", err)
	}
	s.revoked.put(familyKey(org, family), struct{}{}, s.revokedUntil(), s.cfg.Now())
	return nil
}

// revokedUntil is how long this node must remember a revocation itself:
// until every access token of the family has expired.
func (s *Service) revokedUntil() time.Time {
	return s.cfg.Now().Add(s.cfg.AccessTTL + s.cfg.Leeway)
}

// RevokeUser ends every session of a user (for example after a password
// change or a suspected compromise); the user may log in again. Their
// access tokens stop working at once on this node and within
// Config.StatusTTL on others.
func (s *Service) RevokeUser(ctx context.Context, org store.OrgID, user store.UserID) error {
	if err := s.st.RevokeUserTokens(ctx, org, user); err != nil {
		return fmt.Errorf("auth: revoke user: %w", err)
	}
	// This node cannot tell the user's sessions apart in its memory:
	// forget them all and read them again.
	s.sessions.clear()
	return nil
}

// DisableUser cuts a user off: they cannot log in or refresh, their
// sessions are revoked, and their access tokens stop working at once on
// this node and within Config.StatusTTL on others.
func (s *Service) DisableUser(ctx context.Context, org store.OrgID, user store.UserID) (store.User, error) {
	u, err := s.st.GetUser(ctx, org, user)
	if err != nil {
		return store.User{}, fmt.Errorf("auth: disable user: %w", err)
	}
	if u.DisabledAt == nil {
		now := s.cfg.Now().UTC()
		u.DisabledAt = &now
		if u, err = s.st.UpdateUser(ctx, u); err != nil {
			return store.User{}, fmt.Errorf("auth: disable user: %w", err)
		}
	}
	s.remember(u)
	if err := s.RevokeUser(ctx, org, user); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// UpdateUser writes a changed user (a new role, re-enabled...) to the
// store, and this node's memory of their status with it, so that their
// next request on this node already has the new role; other nodes follow
// within Config.StatusTTL. A user written disabled also loses their
// sessions, as with DisableUser. Errors are the store's, wrapped.
func (s *Service) UpdateUser(ctx context.Context, u store.User) (store.User, error) {
	u, err := s.st.UpdateUser(ctx, u)
	if err != nil {
		return store.User{}, fmt.Errorf("auth: update user: %w", err)
	}
	s.remember(u)
	if u.DisabledAt != nil {
		if err := s.RevokeUser(ctx, u.OrgID, u.ID); err != nil {
			return store.User{}, err
		}
	}
	return u, nil
}

// remember makes this node's memory of u's status what u says, after this
// node changed u: requests that come next do not join a read that started
// before the change.
func (s *Service) remember(u store.User) {
	key := userKey(u.OrgID, u.ID)
	s.flight.Forget("u\x00" + key)
	s.users.put(key, userStatus{disabled: u.DisabledAt != nil, role: u.Role}, s.cfg.Now().Add(s.cfg.StatusTTL), s.cfg.Now())
}

// CreateUser adds a user to an organization with a new password (checked
// by ValidatePassword) hashed with argon2id. Invalid input wraps
// store.ErrInvalid; a taken email is store.ErrConflict; an unknown
// organization store.ErrNotFound.
func (s *Service) CreateUser(ctx context.Context, org store.OrgID, email, password string, role store.Role) (store.User, error) {
	email = normalizeEmail(email)
	if err := validateEmail(email); err != nil {
		return store.User{}, err
	}
	if !role.Valid() {
		return store.User{}, fmt.Errorf("auth: %w: role %q is not admin, supervisor or viewer", store.ErrInvalid, role)
	}
	if err := ValidatePassword(password); err != nil {
		return store.User{}, err
	}
	hash, err := s.hasher.hash(ctx, password, s.cfg.Argon2)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.st.CreateUser(ctx, store.User{OrgID: org, Email: email, PasswordHash: hash, Role: role})
	if err != nil {
		return store.User{}, fmt.Errorf("auth: create user: %w", err)
	}
	return u, nil
}

// SetPassword gives a user a new password (checked by ValidatePassword)
// and ends all their sessions.
func (s *Service) SetPassword(ctx context.Context, org store.OrgID, user store.UserID, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	u, err := s.st.GetUser(ctx, org, user)
	if err != nil {
		return fmt.Errorf("auth: set password: %w", err)
	}
	return s.replacePassword(ctx, u, password)
}

// replacePassword hashes password as u's new one, writes it and ends all
// of u's sessions.
func (s *Service) replacePassword(ctx context.Context, u store.User, password string) error {
	hash, err := s.hasher.hash(ctx, password, s.cfg.Argon2)
	if err != nil {
		return err
	}
	u.PasswordHash = hash
	if u, err = s.st.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("auth: set password: %w", err)
	}
	s.remember(u)
	return s.RevokeUser(ctx, u.OrgID, u.ID)
}

// ChangePassword is a logged-in user changing their own password: p's
// user, who must give their current password, gets next (checked by
// ValidatePassword, an error wrapping store.ErrInvalid). Every session of
// the user ends, the one p belongs to included, and a new session starts
// for the caller: its Tokens are returned.
//
// A wrong current password is ErrWrongPassword and counts against the
// login throttles of the user's email and from (see Login), so a stolen
// access token cannot be used to guess the password faster than a login
// could; past the allowance ChangePassword returns a *ThrottledError. A
// disabled or deleted user is ErrUnauthorized. Other errors: ErrBusy, or
// the store's.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string, from netip.Addr) (Tokens, error) {
	if err := ValidatePassword(next); err != nil {
		return Tokens{}, err
	}
	if len(current) > MaxPasswordBytes {
		return Tokens{}, ErrWrongPassword
	}
	u, err := s.st.GetUser(ctx, p.OrgID, p.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Tokens{}, fmt.Errorf("%w: no such user", ErrUnauthorized)
	case err != nil:
		return Tokens{}, fmt.Errorf("auth: change password: %w", err)
	case u.DisabledAt != nil:
		return Tokens{}, fmt.Errorf("%w: user disabled", ErrUnauthorized)
	}
	att, err := s.throttle.take(ctx, u.Email, from)
	if err != nil {
		return Tokens{}, err
	}
	match, err := s.verify(ctx, u, current)
	if err != nil {
		att.refund(ctx)
		return Tokens{}, err
	}
	if !match {
		return Tokens{}, ErrWrongPassword
	}
	att.refund(ctx)
	if err := s.replacePassword(ctx, u, next); err != nil {
		return Tokens{}, err
	}
	return s.startSession(ctx, u)
}

// validateEmail is a sanity check, not RFC 5322: one @ with text on both
// sides, no spaces or control characters, at most 254 bytes.
func validateEmail(email string) error {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(email) > maxEmailBytes ||
		strings.IndexFunc(email, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("auth: %w: %q is not an email address", store.ErrInvalid, email)
	}
	return nil
}
