package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteRules(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"an agent without a name", (&Agent{OrgID: "o"}).Check()},
		{"an agent without an org", (&Agent{Name: "a"}).Check()},
		{"a call without an agent", (&Call{OrgID: "o"}).Check()},
		{"a call with an unknown status", (&Call{OrgID: "o", AgentID: "a", Status: "lost"}).Check()},
		{"a call with an unknown outcome", (&Call{OrgID: "o", AgentID: "a", Outcome: "meh"}).Check()},
		{"a call with a negative duration", (&Call{OrgID: "o", AgentID: "a", Duration: -time.Second}).Check()},
		{"a customer with a blank phone", (&Customer{OrgID: "o", Phone: "  "}).Check()},
		{"a user with an unknown role", (&User{OrgID: "o", Email: "a@b", Role: "god"}).Check()},
		{"a token without expiry", (&RefreshToken{OrgID: "o", UserID: "u", Hash: []byte{1}}).Check()},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tt.name, tt.err)
		}
	}
}

func TestChecksNormalise(t *testing.T) {
	u := User{OrgID: "o", Email: "  Ada@Example.COM ", Role: RoleAdmin}
	c := Customer{OrgID: "o", Phone: " +15550001 "}
	call := Call{OrgID: "o", AgentID: "a"}
	if err := errors.Join(u.Check(), c.Check(), call.Check()); err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.com" || c.Phone != "+15550001" || call.Status != CallRinging {
		t.Errorf("email %q, phone %q, status %q", u.Email, c.Phone, call.Status)
	}
}

func TestCallEndEventRules(t *testing.T) {
	at := time.Date(2025, 3, 14, 9, 26, 53, 589793123, time.FixedZone("CET", 3600))
	ev := func(kind, detail string) CallEvent { return CallEvent{At: at, Kind: kind, Detail: detail} }
	end := func(events ...CallEvent) *CallEnd {
		return &CallEnd{OrgID: "o", CallID: "c", Outcome: OutcomeResolved, Events: events}
	}
	tooMany := make([]CallEvent, MaxCallEvents+1)
	for i := range tooMany {
		tooMany[i] = ev("dtmf", "1")
	}
	tests := []struct {
		name string
		err  error
	}{
		{"an end without an org", (&CallEnd{CallID: "c"}).Check()},
		{"an end without a call", (&CallEnd{OrgID: "o"}).Check()},
		{"an end with an unknown outcome", (&CallEnd{OrgID: "o", CallID: "c", Outcome: "won"}).Check()},
		{"an event without a kind", end(ev("", "")).Check()},
		{"an event without a time", end(CallEvent{Kind: "dtmf"}).Check()},
		{"an event kind too long", end(ev(strings.Repeat("k", MaxEventKindLen+1), "")).Check()},
		{"an event detail too long", end(ev("holding_phrase", strings.Repeat("d", MaxEventDetailLen+1))).Check()},
		{"more events than a call keeps", end(tooMany...).Check()},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tt.name, tt.err)
		}
	}

	events := slices.Clone(tooMany[:MaxCallEvents])
	events[0] = ev("holding_phrase", strings.Repeat("d", MaxEventDetailLen))
	e := end(events...)
	if err := e.Check(); err != nil {
		t.Fatalf("%d events at the caps: %v", len(events), err)
	}
	if got := e.Events[0].At; got.Location() != time.UTC || got.Nanosecond() != 589793000 {
		t.Errorf("checked event time %v, want UTC at microseconds", got)
	}
	if events[0].At.Nanosecond() != 589793123 {
		t.Error("Check changed the caller's events")
	}
}
