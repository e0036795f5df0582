package session

import (
	"context"
	"log/slog"
	"testing"

	"github.com/iace/iace/store"
)

// bellSession is a session with the channels onBell reads, its run state
// and nothing else.
func bellSession() *Session {
	m := NewMetrics(nil)
	return &Session{
		eng:        &Engine{registry: newRegistry(m), metrics: m},
		log:        slog.New(slog.DiscardHandler),
		entry:      &registryEntry{feed: newFeed(m, false)},
		bell:       make(chan struct{}, 1),
		cmds:       make(chan endCmd, 1),
		moveEnd:    make(chan EndReason, 1),
		superv:     make(chan superCmd, superQueue),
		sentiments: make(chan sentimentResult, 4),
		memory:     make(chan []store.Pattern, 1),
		caller:     make(chan callerMemory, 1),
		moves:      make(chan moveReq, 1),
		readerDone: make(chan struct{}),
	}
}

// What run's bell brings: every send rings it once at most, and an end
// wins over what else waits, a move's end over a command's, whatever the
// order they came in.
func TestTheBellBringsEndsFirst(t *testing.T) {
	for range 50 { // a select among them would pick the command half the time
		s := bellSession()
		offer(s, s.cmds, endCmd{reason: EndHangup, escalation: store.EscalationCallerRequest})
		offer(s, s.moveEnd, EndMoved)
		if len(s.bell) != 1 {
			t.Fatalf("two sends left %d rings, want 1", len(s.bell))
		}
		<-s.bell
		s.onBell(context.Background())
		if s.ending != EndMoved || s.escalation != "" {
			t.Fatalf("ending %q with escalation %q, want %q and none: the move decided", s.ending, s.escalation, EndMoved)
		}
	}

	s := bellSession()
	offer(s, s.memory, []store.Pattern{{ID: "p1"}})
	offer(s, s.cmds, endCmd{reason: EndTransfer, escalation: store.EscalationCallerRequest})
	s.onBell(context.Background())
	if s.ending != EndTransfer || s.escalation != store.EscalationCallerRequest {
		t.Fatalf("ending %q with escalation %q, want a transfer the caller asked for", s.ending, s.escalation)
	}
	if len(s.memory) != 1 {
		t.Error("what waited behind the end was taken: the call is ending")
	}

	// Nothing pending: a ring that finds nothing changes nothing.
	s = bellSession()
	s.onBell(context.Background())
	if s.ending != "" {
		t.Errorf("an empty bell ended the call (%q)", s.ending)
	}
	if ok := offer(s, s.cmds, endCmd{reason: EndHangup}); !ok || offer(s, s.cmds, endCmd{reason: EndShutdown}) {
		t.Error("a command queue of one took two ends")
	}
}
