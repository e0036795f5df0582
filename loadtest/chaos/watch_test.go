package main

import (
	"errors"
	"testing"
	"time"
)

// TestSummarizeWatch: only the readers of calls that went on past Redis's
// return count for the check, and each must have seen events after it and
// the call's own end.
func TestSummarizeWatch(t *testing.T) {
	back := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ws := []watchResult{
		{err: errors.New("events: 503 Service Unavailable")},     // never opened
		{eventsAfter: 0, last: "ended", reason: "moved_or_lost"}, // its call ended in the outage
		{eventsAfter: 9, last: "ended", reason: "hangup"},        // went on, and so did its stream
		{eventsAfter: 0, last: "ended", reason: "moved_or_lost"}, // went on; its stream did not
		{eventsAfter: 4, last: "dropped", reason: "unavailable"}, // went on; its stream was cut
	}
	calls := []string{"c0", "c1", "c2", "c3", "c4"}
	recs := map[string]record{
		"c1": {Ended: back.Add(-time.Second), EndReason: "hangup"},
		"c2": {Ended: back.Add(20 * time.Second), EndReason: "hangup"},
		"c3": {Ended: back.Add(15 * time.Second), EndReason: "hangup"},
		"c4": {Ended: back.Add(watchMargin), EndReason: "hangup"},
	}
	s := summarizeWatch(ws, calls, recs, back)
	if s.Readers != 5 || s.Opened != 4 || s.Later != 3 || s.WithEvents != 2 || s.RealEnd != 1 {
		t.Errorf("summary %+v: want 5 readers, 4 opened, 3 later, 2 with events, 1 real end", s)
	}
	if s.Ends["ended moved_or_lost"] != 2 || s.Ends["dropped unavailable"] != 1 {
		t.Errorf("ends %v", s.Ends)
	}
}
