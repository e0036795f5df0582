package storetest

import (
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func testPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	u := must(s.CreateUser(ctx, store.User{OrgID: a.org.ID, Email: "u@a.example", Role: store.RoleAdmin})).of(t)
	w := must(s.CreateUser(ctx, store.User{OrgID: b.org.ID, Email: "w@b.example", Role: store.RoleAdmin})).of(t)
	now := time.Now()
	mk := func(org store.OrgID, user store.UserID, h string, expires time.Time) store.RefreshToken {
		t.Helper()
		return must(s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: org, UserID: user, Hash: hash(h), ExpiresAt: expires})).of(t)
	}
	mk(a.org.ID, u.ID, "long-expired", now.Add(-48*time.Hour))
	mk(b.org.ID, w.ID, "long-expired-b", now.Add(-25*time.Hour))
	mk(a.org.ID, u.ID, "just-expired", now.Add(-time.Hour))
	live := mk(a.org.ID, u.ID, "live", now.Add(time.Hour))
	// Rotated and revoked long ago: pruned by expiry, whatever their state.
	rotated := mk(a.org.ID, u.ID, "rotated", now.Add(time.Minute))
	must(s.RotateRefreshToken(ctx, rotated.ID, store.RefreshToken{Hash: hash("rotated-next"), ExpiresAt: now.Add(-30 * time.Hour)})).of(t)

	cutoff := now.Add(-24 * time.Hour)
	same(t, "refresh tokens pruned", must(s.PruneRefreshTokens(ctx, cutoff)).of(t), int64(3))
	for _, h := range []string{"long-expired", "long-expired-b", "rotated-next"} {
		_, err := s.RefreshTokenByHash(ctx, hash(h))
		wantErr(t, "a token expired before the cut-off ("+h+")", err, store.ErrNotFound)
	}
	for _, h := range []string{"just-expired", "live", "rotated"} {
		if _, err := s.RefreshTokenByHash(ctx, hash(h)); err != nil {
			t.Errorf("a token expired after the cut-off (%s): %v", h, err)
		}
	}
	same(t, "pruning again", must(s.PruneRefreshTokens(ctx, cutoff)).of(t), int64(0))
	same(t, "the live token still rotates", must(s.RotateRefreshToken(ctx, live.ID, store.RefreshToken{Hash: hash("live-next"), ExpiresAt: now.Add(time.Hour)})).of(t).Family, live.Family)

	for _, id := range []string{"evt-1", "evt-2"} {
		if fresh := must(s.MarkEventProcessed(ctx, id)).of(t); !fresh {
			t.Fatalf("MarkEventProcessed(%q) of a new id: false", id)
		}
	}
	same(t, "events recorded after the cut-off are kept", must(s.PruneWebhookEvents(ctx, time.Now().Add(-time.Hour))).of(t), int64(0))
	if fresh := must(s.MarkEventProcessed(ctx, "evt-1")).of(t); fresh {
		t.Error("a kept event id is news again")
	}
	same(t, "events recorded before the cut-off are pruned", must(s.PruneWebhookEvents(ctx, time.Now().Add(time.Minute))).of(t), int64(2))
	if fresh := must(s.MarkEventProcessed(ctx, "evt-1")).of(t); !fresh {
		t.Error("a pruned event id is still known")
	}
}
