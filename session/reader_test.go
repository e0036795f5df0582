package session

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestDroppedStreamEventsLogABoundedNumberOfLines: a session far behind its
// reader drops events; a flood of them (a peer pressing keys as fast as it
// can send frames) is counted, but logs only a few lines, as bad frames do.
func TestDroppedStreamEventsLogABoundedNumberOfLines(t *testing.T) {
	var buf bytes.Buffer
	s := &Session{eng: &Engine{cfg: DefaultConfig(), metrics: NewMetrics(nil)},
		log: slog.New(slog.NewTextHandler(&buf, nil)), ctrl: make(chan inboundEvent)} // no room: every event drops
	for range 200 {
		s.sendCtrl(inboundEvent{kind: inDTMF, digit: '1', at: time.Now()})
	}
	lines := strings.Count(buf.String(), "\n")
	if lines == 0 || lines > maxLoggedDrops+1 {
		t.Errorf("200 dropped events logged %d lines, want 1 to %d:\n%s", lines, maxLoggedDrops+1, buf.String())
	}
	if s.droppedEvents != 200 {
		t.Errorf("%d drops counted, want 200", s.droppedEvents)
	}
}
