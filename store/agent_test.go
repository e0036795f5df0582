package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultAgentIsValid(t *testing.T) {
	a := DefaultAgent()
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	a := Agent{Intents: []Intent{{Name: "x", Action: "dance"}}}
	err := a.Validate()
	if err == nil {
		t.Fatal("an empty agent passed")
	}
	for _, want := range []string{"id is empty", "greeting is empty", "fallback is empty", "no keywords", "empty reply", `unknown action "dance"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
}

func TestAgentsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("an array routes numbers and falls back to the first agent", func(t *testing.T) {
		p := write("agents.json", `[
			{"id":"sales","greeting":"Sales here.","fallback":"Pardon?","numbers":["+15550001"],"intents":[{"name":"price","keywords":["price"],"reply":"Ten dollars."}]},
			{"id":"support","greeting":"Support here.","fallback":"Pardon?","numbers":["+15550002"]}
		]`)
		s, err := LoadAgentsFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for number, want := range map[string]AgentID{"+15550001": "sales", "+15550002": "support", "+19999999": "sales"} {
			a, err := s.AgentForNumber(t.Context(), PhoneNumber(number))
			if err != nil || a.ID != want {
				t.Errorf("%s: agent %q, %v; want %q", number, a.ID, err, want)
			}
		}
		if _, err := s.Agent("nobody"); !errors.Is(err, ErrNoAgent) {
			t.Errorf("unknown id: %v", err)
		}
	})
	t.Run("a single object is one agent", func(t *testing.T) {
		s, err := LoadAgentsFile(write("one.json", `{"id":"a","greeting":"Hi.","fallback":"Pardon?"}`))
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Agent("a"); a.Greeting != "Hi." {
			t.Errorf("agent %+v", a)
		}
	})
	t.Run("a number claimed twice is refused", func(t *testing.T) {
		_, err := LoadAgentsFile(write("dup.json", `[{"id":"a","greeting":"Hi.","fallback":"?","numbers":["+1"]},{"id":"b","greeting":"Hi.","fallback":"?","numbers":["+1"]}]`))
		if err == nil || !strings.Contains(err.Error(), "already belongs") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("bad JSON names the file", func(t *testing.T) {
		p := write("bad.json", `[{"id":`)
		_, err := LoadAgentsFile(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("an oversized file is refused", func(t *testing.T) {
		_, err := LoadAgentsFile(write("big.json", "["+strings.Repeat(" ", maxAgentFileBytes)+"]"))
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a missing file says so", func(t *testing.T) {
		if _, err := LoadAgentsFile(filepath.Join(dir, "nope.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err %v", err)
		}
	})
}

func TestPhoneNumbersAreMaskedInLogs(t *testing.T) {
	tests := map[string]string{"+15551230001": "+15*******01", "1234": "***", "": "***", "sip:alice@example.com": "sip****************om"}
	for in, want := range tests {
		if got := PhoneNumber(in).LogValue().String(); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
