package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// testStreamClaims: a call's media stream is admitted once, whatever the
// token, and never after the call ended or across organizations.
func testStreamClaims(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	c := must(s.CreateCall(ctx, store.Call{
		OrgID: a.org.ID, AgentID: a.agent.ID, CallControlID: "v3:claim-1", Direction: "incoming",
		From: "+15551110001", To: "+15550000001", Status: store.CallRinging,
	})).of(t)

	_, err := s.ClaimCallStream(ctx, a.org.ID, c.ID, "")
	wantErr(t, "a claim without a nonce", err, store.ErrInvalid)
	_, err = s.ClaimCallStream(ctx, b.org.ID, c.ID, "nonce-1")
	wantErr(t, "a claim in another organization", err, store.ErrNotFound)
	_, err = s.ClaimCallStream(ctx, a.org.ID, "no-such-call", "nonce-1")
	wantErr(t, "a claim of an unknown call", err, store.ErrNotFound)

	got := must(s.ClaimCallStream(ctx, a.org.ID, c.ID, "nonce-1")).of(t)
	same(t, "the claimed call", got, c)
	_, err = s.ClaimCallStream(ctx, a.org.ID, c.ID, "nonce-1")
	wantErr(t, "the same token again", err, store.ErrConflict)
	_, err = s.ClaimCallStream(ctx, a.org.ID, c.ID, "nonce-2")
	wantErr(t, "another token for a claimed call", err, store.ErrConflict)

	// An ended call admits no stream, even one never claimed.
	ended := must(s.CreateCall(ctx, store.Call{OrgID: a.org.ID, AgentID: a.agent.ID, Status: store.CallRinging})).of(t)
	must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: ended.ID, EndedAt: ended.StartedAt.Add(time.Second),
		Outcome: store.OutcomeAbandoned, EndReason: "hangup"})).of(t)
	_, err = s.ClaimCallStream(ctx, a.org.ID, ended.ID, "nonce-3")
	wantErr(t, "a claim of an ended call", err, store.ErrConflict)

	// Racing claims of one call: exactly one wins.
	race := must(s.CreateCall(ctx, store.Call{OrgID: a.org.ID, AgentID: a.agent.ID, Status: store.CallRinging})).of(t)
	var wg sync.WaitGroup
	wins := make(chan string, 8)
	for i := range 8 {
		wg.Go(func() {
			nonce := "racer-" + string(rune('a'+i))
			if _, err := s.ClaimCallStream(ctx, a.org.ID, race.ID, nonce); err == nil {
				wins <- nonce
			}
		})
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Errorf("%d of 8 racing claims won, want 1", n)
	}
}
