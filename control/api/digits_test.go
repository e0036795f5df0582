package api_test

import (
	"net/http"
	"testing"

	"github.com/iace/iace/store"
)

// TestViewersAreNotShownKeypadDigits: an agent that collects keypad digits
// keeps them in its calls' events; supervisors may read them, viewers see
// only that a key was pressed.
func TestViewersAreNotShownKeypadDigits(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		digits := func(tok string) []string {
			t.Helper()
			r := e.do(http.MethodGet, "/api/v1/calls/"+string(e.a.call.ID), tok, nil)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var d struct{ Events []eventOut }
			r.json(t, &d)
			var out []string
			for _, ev := range d.Events {
				if ev.Type == "dtmf" {
					out = append(out, ev.Detail)
				}
			}
			return out
		}
		if got := digits(e.a.viewerTok); len(got) != 1 || got[0] != "" {
			t.Errorf("a viewer reads dtmf details %q, want one event without its digit", got)
		}
		for who, tok := range map[string]string{"supervisor": e.a.supTok, "admin": e.a.adminTok} {
			if got := digits(tok); len(got) != 1 || got[0] != "1" {
				t.Errorf("a %s reads dtmf details %q, want the digit 1", who, got)
			}
		}
	})
}
