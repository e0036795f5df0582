package session_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// syncBuffer is a log destination the session's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// pressKeys runs a call in which the caller presses 4, 2 and 0 after the
// greeting and hangs up, and returns its summary and what it logged at
// debug level.
func pressKeys(t *testing.T, agent store.Agent) (session.CallSummary, string) {
	t.Helper()
	var logs syncBuffer
	ts := newTestServerWith(t, nil, func(d *session.Deps) {
		agents, err := store.NewStaticAgents([]store.Agent{agent})
		if err != nil {
			t.Fatal(err)
		}
		d.Agents = agents
		d.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	p := dialPeer(t, ts.url, nil)
	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	for _, d := range []string{"4", "2", "0"} {
		p.send(map[string]any{"event": "dtmf", "stream_id": "x", "sequence_number": p.nextSeq(),
			"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "dtmf": map[string]any{"digit": d}})
	}
	waitFor(t, "the digits to reach the session", func() bool { return strings.Count(logs.String(), "msg=dtmf") == 3 })
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	sum := ts.summary(t)
	p.close()
	return sum, logs.String()
}

func dtmfDetails(sum session.CallSummary) []string {
	var out []string
	for _, ev := range sum.Events {
		if ev.Kind == session.EventDTMF {
			out = append(out, ev.Detail)
		}
	}
	return out
}

// TestKeypadDigitsAreNotKept: a PIN or a card number typed on the keypad is
// personal data. The call keeps that a key was pressed, never which, and
// logs no digit either.
func TestKeypadDigitsAreNotKept(t *testing.T) {
	sum, logs := pressKeys(t, store.DefaultAgent())
	if got := dtmfDetails(sum); len(got) != 3 || strings.Join(got, "") != "" {
		t.Errorf("dtmf event details %q: want three events without the digit", got)
	}
	if sum.Stats.DTMF != 3 {
		t.Errorf("%d keys counted, want 3", sum.Stats.DTMF)
	}
	for _, d := range []string{"digit=4", "digit=2", "digit=0"} {
		if strings.Contains(logs, d) {
			t.Errorf("the log holds %s", d)
		}
	}
}

// TestAnAgentThatCollectsDigitsKeepsThem: an agent configured to collect
// digits, for a stated purpose, keeps them in the call's events.
func TestAnAgentThatCollectsDigitsKeepsThem(t *testing.T) {
	agent := store.DefaultAgent()
	agent.Settings.CollectDigits = "order number for delivery tracking"
	sum, logs := pressKeys(t, agent)
	if got := dtmfDetails(sum); strings.Join(got, ",") != "4,2,0" {
		t.Errorf("dtmf event details %q: want 4, 2, 0", got)
	}
	if strings.Contains(logs, "digit=4") {
		t.Error("the log holds a digit")
	}
}
