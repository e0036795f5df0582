package api_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/control/api"
	"github.com/iace/iace/session"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
)

// movingEvents plays the cluster's side of a call that moves between
// nodes: each SubscribeCall is a relay of the test's, or the call not
// found while it is on its way.
type movingEvents struct {
	engine *session.Engine
	mu     sync.Mutex
	relays chan *session.Relay // each subscription opened, for the test to drive
	away   int                 // the next tries that find the call on no node
}

func (m *movingEvents) SubscribeCall(org store.OrgID, id session.CallID) (*session.Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.away > 0 {
		m.away--
		return nil, session.ErrCallNotLive
	}
	r, err := m.engine.NewRelay(org, false, session.LiveEvent{CallID: id, OrgID: org, State: session.StateListening,
		Call: &session.CallInfo{ID: id, OrgID: org}})
	if err != nil {
		return nil, err
	}
	m.relays <- r
	return r.Subscription(), nil
}

func (m *movingEvents) SubscribeLive(store.OrgID) (*session.Subscription, error) {
	return nil, session.ErrDraining
}

// opened waits for the next subscription the API opens.
func (m *movingEvents) opened(t *testing.T) *session.Relay {
	t.Helper()
	select {
	case r := <-m.relays:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not subscribe within 10 s")
		return nil
	}
}

func (m *movingEvents) setAway(away int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.away = away
}

// TestACallsStreamFollowsTheCallToItsNewNode: a call's live events that
// end because the call moved (a drain) or was lost track of by another
// node's relay go on from the call's new node, with a new snapshot; a call
// that does not come back within Config.EventFollow ends the stream as it
// was told.
func TestACallsStreamFollowsTheCallToItsNewNode(t *testing.T) {
	st, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ev := &movingEvents{relays: make(chan *session.Relay, 4)}
	e := newEnv(t, st, func(c *api.Config, d *api.Deps) {
		c.EventFollow = 2 * time.Second
		d.Events = ev
	})
	ev.engine = e.engine
	for _, why := range []string{string(session.EndMoved), cluster.EndMovedOrLost} {
		t.Run(why, func(t *testing.T) {
			s := openEvents(t, e.srv, "/api/v1/calls/c1/events", e.a.viewerTok)
			if got := s.next(); got.name != "snapshot" {
				t.Fatalf("opened with %s", got.name)
			}
			old := ev.opened(t)
			ev.setAway(2) // on its way to another node for two tries
			old.End(session.LiveEvent{Kind: session.LiveEnded, CallID: "c1", Reason: why})
			moved := ev.opened(t)
			ev.mu.Lock()
			if ev.away != 0 {
				t.Errorf("the stream came back after %d tries, want 3", 3-ev.away)
			}
			ev.mu.Unlock()
			if got := s.next(); got.name != "snapshot" {
				t.Fatalf("after the move the stream went on with %s %q, want a new snapshot", got.name, got.data.Reason)
			}
			moved.Publish(session.LiveEvent{Kind: session.LiveSupervisorRole, CallID: "c1", Role: session.RoleWhisper})
			if got := s.next(); got.name != "supervisor_role" || got.data.Role != "whisper" {
				t.Errorf("then %s %q, want the new node's supervisor_role", got.name, got.data.Role)
			}
			moved.End(session.LiveEvent{Kind: session.LiveEnded, CallID: "c1", Reason: string(session.EndHangup)})
			if got := s.next(); got.name != "ended" || got.data.Reason != string(session.EndHangup) {
				t.Errorf("then %s %q, want ended hangup", got.name, got.data.Reason)
			}
			s.closed()
		})
	}
	t.Run("never comes back", func(t *testing.T) {
		s := openEvents(t, e.srv, "/api/v1/calls/c1/events", e.a.viewerTok)
		s.next()
		old := ev.opened(t)
		ev.setAway(1 << 30)
		old.End(session.LiveEvent{Kind: session.LiveEnded, CallID: "c1", Reason: cluster.EndMovedOrLost})
		if got := s.next(); got.name != "ended" || got.data.Reason != cluster.EndMovedOrLost {
			t.Errorf("the stream ended with %s %q, want ended %s", got.name, got.data.Reason, cluster.EndMovedOrLost)
		}
		s.closed()
	})
}
