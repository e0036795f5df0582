package storetest

import (
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testRefreshTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	u := must(s.CreateUser(ctx, store.User{OrgID: a.org.ID, Email: "u@a.example", Role: store.RoleAdmin})).of(t)
	ub := must(s.CreateUser(ctx, store.User{OrgID: b.org.ID, Email: "u@b.example", Role: store.RoleAdmin})).of(t)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)

	before := time.Now()
	t1 := must(s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: a.org.ID, UserID: u.ID, Hash: hash("one"), ExpiresAt: expires})).of(t)
	after := time.Now()
	if t1.ID == "" || t1.Family == "" {
		t.Fatalf("CreateRefreshToken left the id or the family empty: %+v", t1)
	}
	between(t, "CreatedAt", t1.CreatedAt, before, after)
	same(t, "RefreshTokenByHash", must(s.RefreshTokenByHash(ctx, hash("one"))).of(t), t1)
	_, err := s.RefreshTokenByHash(ctx, hash("unknown"))
	wantErr(t, "RefreshTokenByHash of an unknown hash", err, store.ErrNotFound)
	_, err = s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: a.org.ID, UserID: u.ID, Hash: hash("one"), ExpiresAt: expires})
	wantErr(t, "a taken hash", err, store.ErrConflict)
	_, err = s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: a.org.ID, UserID: ub.ID, Hash: hash("cross"), ExpiresAt: expires})
	wantErr(t, "a token for another organization's user", err, store.ErrNotFound)

	// Rotation: the successor inherits org, user and family.
	t2 := must(s.RotateRefreshToken(ctx, t1.ID, store.RefreshToken{Hash: hash("two"), ExpiresAt: expires.Add(time.Hour)})).of(t)
	if t2.ID == "" || t2.ID == t1.ID {
		t.Fatalf("the successor's id %q", t2.ID)
	}
	same(t, "successor's org", t2.OrgID, a.org.ID)
	same(t, "successor's user", t2.UserID, u.ID)
	same(t, "successor's family", t2.Family, t1.Family)
	same(t, "successor as stored", must(s.RefreshTokenByHash(ctx, hash("two"))).of(t), t2)
	old := must(s.RefreshTokenByHash(ctx, hash("one"))).of(t)
	if old.RotatedAt == nil || old.ReplacedBy != t2.ID || old.RevokedAt != nil {
		t.Errorf("the rotated token: rotated %v, replaced by %q, revoked %v", old.RotatedAt, old.ReplacedBy, old.RevokedAt)
	}
	t3 := must(s.RotateRefreshToken(ctx, t2.ID, store.RefreshToken{Hash: hash("three"), ExpiresAt: expires})).of(t)

	// Reuse of a rotated token: the whole family is revoked.
	_, err = s.RotateRefreshToken(ctx, t1.ID, store.RefreshToken{Hash: hash("thief"), ExpiresAt: expires})
	wantErr(t, "rotating a rotated token", err, store.ErrTokenReused)
	for _, h := range []string{"one", "two", "three"} {
		if tok := must(s.RefreshTokenByHash(ctx, hash(h))).of(t); tok.RevokedAt == nil {
			t.Errorf("token %q of the reused family is not revoked", h)
		}
	}
	_, err = s.RefreshTokenByHash(ctx, hash("thief"))
	wantErr(t, "the reuser's token was not stored", err, store.ErrNotFound)
	_, err = s.RotateRefreshToken(ctx, t3.ID, store.RefreshToken{Hash: hash("four"), ExpiresAt: expires})
	wantErr(t, "rotating a revoked token", err, store.ErrTokenReused)

	// Expired: not found, and left as it was.
	e := must(s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: a.org.ID, UserID: u.ID, Hash: hash("expired"), ExpiresAt: time.Now().Add(-time.Minute)})).of(t)
	_, err = s.RotateRefreshToken(ctx, e.ID, store.RefreshToken{Hash: hash("late"), ExpiresAt: expires})
	wantErr(t, "rotating an expired token", err, store.ErrNotFound)
	same(t, "the expired token", must(s.RefreshTokenByHash(ctx, hash("expired"))).of(t), e)
	_, err = s.RotateRefreshToken(ctx, "no-such-token", store.RefreshToken{Hash: hash("x"), ExpiresAt: expires})
	wantErr(t, "rotating an unknown token", err, store.ErrNotFound)
}

func testRotateConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	u := must(s.CreateUser(ctx, store.User{OrgID: a.org.ID, Email: "race@a.example", Role: store.RoleViewer})).of(t)
	expires := time.Now().Add(time.Hour)
	tok := must(s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: a.org.ID, UserID: u.ID, Hash: hash("race"), ExpiresAt: expires})).of(t)
	const n = 6
	var (
		wg   sync.WaitGroup
		errs [n]error
	)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.RotateRefreshToken(ctx, tok.ID, store.RefreshToken{Hash: hash("next" + string(rune('a'+i))), ExpiresAt: expires})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrTokenReused):
			t.Errorf("rotation %d: %v, want success or ErrTokenReused", i, err)
		}
	}
	same(t, "rotations that won", won, 1)
}

func testRevokeTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	u := must(s.CreateUser(ctx, store.User{OrgID: a.org.ID, Email: "u@a.example", Role: store.RoleAdmin})).of(t)
	v := must(s.CreateUser(ctx, store.User{OrgID: a.org.ID, Email: "v@a.example", Role: store.RoleAdmin})).of(t)
	w := must(s.CreateUser(ctx, store.User{OrgID: b.org.ID, Email: "w@b.example", Role: store.RoleAdmin})).of(t)
	expires := time.Now().Add(time.Hour)
	mk := func(org store.OrgID, user store.UserID, family, h string) {
		must(s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: org, UserID: user, Family: family, Hash: hash(h), ExpiresAt: expires})).of(t)
	}
	mk(a.org.ID, u.ID, "fam-u1", "u1a")
	mk(a.org.ID, u.ID, "fam-u1", "u1b")
	mk(a.org.ID, u.ID, "fam-u2", "u2")
	mk(a.org.ID, v.ID, "fam-v", "v")
	mk(b.org.ID, w.ID, "fam-w", "w")
	revoked := func(h string) bool {
		t.Helper()
		return must(s.RefreshTokenByHash(ctx, hash(h))).of(t).RevokedAt != nil
	}
	state := func() map[string]bool {
		t.Helper()
		m := map[string]bool{}
		for _, h := range []string{"u1a", "u1b", "u2", "v", "w"} {
			m[h] = revoked(h)
		}
		return m
	}

	wantErr(t, "RevokeTokenFamily of another organization's family", s.RevokeTokenFamily(ctx, a.org.ID, "fam-w"), store.ErrNotFound)
	wantErr(t, "RevokeUserTokens of another organization's user", s.RevokeUserTokens(ctx, a.org.ID, w.ID), store.ErrNotFound)
	same(t, "nothing revoked across organizations", state(), map[string]bool{"u1a": false, "u1b": false, "u2": false, "v": false, "w": false})

	ok(t, s.RevokeTokenFamily(ctx, a.org.ID, "fam-u1"))
	same(t, "after revoking a family", state(), map[string]bool{"u1a": true, "u1b": true, "u2": false, "v": false, "w": false})
	ok(t, s.RevokeTokenFamily(ctx, a.org.ID, "fam-u1"))
	ok(t, s.RevokeUserTokens(ctx, a.org.ID, u.ID))
	same(t, "after revoking a user's tokens", state(), map[string]bool{"u1a": true, "u1b": true, "u2": true, "v": false, "w": false})
	ok(t, s.RevokeUserTokens(ctx, a.org.ID, v.ID))
	same(t, "after revoking the other user's", state(), map[string]bool{"u1a": true, "u1b": true, "u2": true, "v": true, "w": false})
}

func testWebhookEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		id   string
		want bool
	}{{"evt-1", true}, {"evt-1", false}, {"evt-2", true}, {"evt-1", false}, {"evt-2", false}} {
		got, err := s.MarkEventProcessed(ctx, tc.id)
		ok(t, err)
		if got != tc.want {
			t.Errorf("MarkEventProcessed(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
