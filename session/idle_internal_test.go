package session

import (
	"testing"
	"time"
)

// TestASilentCallerIsAskedOnceThenLetGo walks the silence bound through
// a call's moments, with time given: silence counts from the last thing
// that happened; nothing fires while the call is busy; the first timeout
// reprompts, the second ends; the caller speaking gives them a reprompt
// again.
func TestASilentCallerIsAskedOnceThenLetGo(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	c := idleClock{timeout: 30 * time.Second}
	c.touch(at(0)) // the call starts
	steps := []struct {
		what string
		do   func() idleAction
		want idleAction
	}{
		{"29 s of silence", func() idleAction { return c.due(at(29), false) }, idleNone},
		{"30 s, the greeting still playing", func() idleAction { return c.due(at(30), true) }, idleNone},
		{"59 s: put off from 30 s", func() idleAction { return c.due(at(59), false) }, idleNone},
		{"60 s of silence", func() idleAction { return c.due(at(60), false) }, idleReprompt},
		{"the reprompt plays, then 89 s", func() idleAction { c.touch(at(62)); return c.due(at(91), false) }, idleNone},
		{"92 s: 30 s after the reprompt", func() idleAction { return c.due(at(92), false) }, idleEnd},
		{"after the end, nothing more", func() idleAction { return c.due(at(200), false) }, idleNone},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Fatalf("%s: %d, want %d", st.what, got, st.want)
		}
	}

	c = idleClock{timeout: 10 * time.Second}
	c.touch(at(0))
	if c.due(at(10), false) != idleReprompt {
		t.Fatal("no reprompt after the first silence")
	}
	c.callerSpoke(at(12)) // "yes, I'm here"
	c.touch(at(15))       // the agent answered
	if got := c.due(at(25), false); got != idleReprompt {
		t.Errorf("a caller who spoke since the reprompt: %d, want a reprompt again, not the end", got)
	}
}
