package callcontrol

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseError(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		code   string
		title  string
		detail string
		n      int
	}{
		{"reads the Telnyx envelope", `{"errors":[{"code":"90018","title":"Call has already ended","detail":"This call is no longer active","source":{"pointer":"/call_control_id"},"meta":{"url":"https://developers.telnyx.com/api/errors/90018"}}]}`,
			"90018", "Call has already ended", "This call is no longer active", 1},
		{"keeps every entry and leads with the first", `{"errors":[{"code":"10015","title":"a"},{"code":"10016","title":"b"}]}`, "10015", "a", "", 2},
		{"tolerates a numeric code", `{"errors":[{"code":90015,"title":"Invalid"}]}`, "90015", "Invalid", "", 1},
		{"gives the status only for a non-JSON body", `<html>502 Bad Gateway</html>`, "", "", "", 0},
		{"gives the status only for an empty body", ``, "", "", "", 0},
		{"ignores a code of the wrong type", `{"errors":[{"code":{"x":1},"title":"t"}]}`, "", "t", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ParseError(422, []byte(tt.body))
			if e.Status != 422 || e.Code != tt.code || e.Title != tt.title || e.Detail != tt.detail || len(e.Errors) != tt.n {
				t.Errorf("got %+v", e)
			}
		})
	}
	e := ParseError(422, []byte(`{"errors":[{"code":"10015"},{"code":"90018"}]}`))
	if !e.HasCode(CodeCallEnded) || !e.CallEnded() || e.Retryable() {
		t.Errorf("helpers on %+v", e)
	}
	if !ParseError(503, nil).Retryable() || !ParseError(429, nil).Retryable() || ParseError(400, nil).Retryable() {
		t.Error("Retryable is wrong")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{"Fri, 01 May 2026 12:00:30 GMT", 30 * time.Second},
		{"Fri, 01 May 2026 11:00:00 GMT", 0},
		{"99999999999", (1 << 20) * time.Second},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseError feeds error bodies from an untrusted peer to the parser:
// it must never panic, and what it keeps must be bounded and safe to log.
func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"errors":[{"code":"90018","title":"Call has already ended","detail":"gone"}]}`))
	f.Add([]byte(`{"errors":[{"code":90015}]}`))
	f.Add([]byte(`{"errors":null}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := ParseError(500, body)
		if e.Status != 500 || len(e.Errors) > maxErrorObjects {
			t.Fatalf("status %d, %d entries", e.Status, len(e.Errors))
		}
		for _, s := range []string{e.Code, e.Title, e.Detail, e.Error()} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\n\r\x00") {
				t.Fatalf("unsafe text %q", s)
			}
		}
		if len(e.Title) > maxErrorText || len(e.Detail) > maxErrorText || len(e.Code) > 32 {
			t.Fatalf("text not capped: %d %d %d", len(e.Title), len(e.Detail), len(e.Code))
		}
		// A well-formed envelope with a string code round-trips its code.
		var env struct {
			Errors []struct {
				Code string `json:"code"`
			} `json:"errors"`
		}
		if json.Unmarshal(body, &env) == nil && len(env.Errors) > 0 {
			c := env.Errors[0].Code
			if len(c) <= 32 && utf8.ValidString(c) && !strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }) && e.Code != c {
				t.Fatalf("code %q parsed as %q", c, e.Code)
			}
		}
	})
}
