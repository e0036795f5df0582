package store

import (
	"errors"
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
