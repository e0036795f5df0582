package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// The write rules of the model, enforced by every backend before it writes.
// Each Check normalises what the model normalises (a trimmed, lower-case
// email; a trimmed phone; a ringing call by default) and returns an error
// wrapping ErrInvalid that names the first broken rule.

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleSupervisor || r == RoleViewer
}

// Valid reports whether s is one of the call statuses.
func (s CallStatus) Valid() bool {
	return s == CallRinging || s == CallActive || s == CallEnded
}

// Valid reports whether o is one of the outcomes (or none yet).
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeNone, OutcomeResolved, OutcomeEscalated, OutcomeAbandoned, OutcomeFailed:
		return true
	}
	return false
}

// Check applies the write rules of an agent: an organization, a name and
// settings that pass AgentSettings.Check.
func (a *Agent) Check() error {
	switch {
	case a.OrgID == "":
		return invalidf("org id is empty")
	case strings.TrimSpace(a.Name) == "":
		return invalidf("name is empty")
	case a.Escalation.PredictedRiskAbove < 0 || a.Escalation.PredictedRiskAbove > 1:
		return invalidf("predicted_risk_above %v: want 0 (off) to 1", a.Escalation.PredictedRiskAbove)
	case a.Escalation.WordsRiskAbove < 0 || a.Escalation.WordsRiskAbove > 1:
		return invalidf("words_risk_above %v: want 0 (off) to 1", a.Escalation.WordsRiskAbove)
	}
	return a.Settings.Check()
}

// Check applies the rules of an agent's settings: a purpose for
// collecting digits of at most MaxCollectDigitsLen bytes, with no control
// characters, trimmed (blank turns collecting off); a verifier name that
// ValidVerifierName accepts, or none; a known learning mode, or none; an
// idle timeout in bounds or 0; a reprompt of at most MaxRepromptLen bytes,
// trimmed, with no control characters.
func (s *AgentSettings) Check() error {
	s.CollectDigits = strings.TrimSpace(s.CollectDigits)
	switch {
	case len(s.CollectDigits) > MaxCollectDigitsLen:
		return invalidf("collect_digits purpose is %d bytes, more than %d", len(s.CollectDigits), MaxCollectDigitsLen)
	case strings.ContainsFunc(s.CollectDigits, unicode.IsControl):
		return invalidf("collect_digits purpose holds a control character")
	case s.VerifyCaller != "" && !ValidVerifierName(s.VerifyCaller):
		return invalidf("verify_caller %q is not a verifier name (lower-case letters, digits, _)", s.VerifyCaller)
	case !s.Learning.Valid():
		return invalidf("learning %q is not on, off or approve", s.Learning)
	case s.IdleTimeoutSeconds != 0 && (s.IdleTimeoutSeconds < MinIdleTimeoutSeconds || s.IdleTimeoutSeconds > MaxIdleTimeoutSeconds):
		return invalidf("idle_timeout_seconds %d: want 0 (the node's default) or %d to %d", s.IdleTimeoutSeconds, MinIdleTimeoutSeconds, MaxIdleTimeoutSeconds)
	}
	s.Reprompt = strings.TrimSpace(s.Reprompt)
	switch {
	case len(s.Reprompt) > MaxRepromptLen:
		return invalidf("reprompt is %d bytes, more than %d", len(s.Reprompt), MaxRepromptLen)
	case strings.ContainsFunc(s.Reprompt, unicode.IsControl):
		return invalidf("reprompt holds a control character")
	}
	if err := checkEndOfTurn(s.EndOfTurnMinMS, s.EndOfTurnMaxMS); err != nil {
		return err
	}
	return checkBackchannels(s.Backchannels)
}

func checkEndOfTurn(lo, hi int) error {
	for _, v := range []struct {
		name string
		ms   int
	}{{"end_of_turn_min_ms", lo}, {"end_of_turn_max_ms", hi}} {
		if v.ms != 0 && (v.ms < MinEndOfTurnMS || v.ms > MaxEndOfTurnMS) {
			return invalidf("%s %d: want 0 (the node's default) or %d to %d", v.name, v.ms, MinEndOfTurnMS, MaxEndOfTurnMS)
		}
	}
	if lo != 0 && hi != 0 && lo > hi {
		return invalidf("end_of_turn_min_ms %d is above end_of_turn_max_ms %d", lo, hi)
	}
	return nil
}

func checkBackchannels(words []string) error {
	if len(words) > MaxBackchannels {
		return invalidf("backchannels: %d entries, more than %d", len(words), MaxBackchannels)
	}
	for i, w := range words {
		words[i] = strings.TrimSpace(w)
		switch {
		case words[i] == "":
			return invalidf("backchannels[%d] is empty", i)
		case len(words[i]) > MaxBackchannelLen:
			return invalidf("backchannels[%d] is %d bytes, more than %d", i, len(words[i]), MaxBackchannelLen)
		case strings.ContainsFunc(words[i], func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' && r != '\'' && r != '-'
		}):
			return invalidf("backchannels[%d] %q: only letters, digits, spaces, apostrophes and hyphens", i, words[i])
		}
	}
	return nil
}

// Valid reports whether m is one of the learning modes, or empty (on).
func (m LearningMode) Valid() bool {
	return m == "" || m == LearningOn || m == LearningOff || m == LearningApprove
}

// Check applies the write rules of a call.
func (c *Call) Check() error {
	if c.Status == "" {
		c.Status = CallRinging
	}
	switch {
	case c.OrgID == "":
		return invalidf("org id is empty")
	case c.AgentID == "":
		return invalidf("agent id is empty")
	case !c.Status.Valid():
		return invalidf("unknown status %q", c.Status)
	case !c.Outcome.Valid():
		return invalidf("unknown outcome %q", c.Outcome)
	case c.Duration < 0:
		return invalidf("negative duration")
	}
	return nil
}

// Check applies the write rules of a customer: an organization, a phone,
// a memory summary of at most MaxMemorySummaryLen bytes of UTF-8 text, and
// at most MaxVerifiers verifiers, each named as ValidVerifierName says and
// holding a verifier hash (HashVerifier), never an answer in clear.
func (c *Customer) Check() error {
	c.Phone = PhoneNumber(strings.TrimSpace(string(c.Phone)))
	switch {
	case c.OrgID == "":
		return invalidf("org id is empty")
	case c.Phone == "":
		return invalidf("phone is empty")
	case len(c.Verifiers) > MaxVerifiers:
		return invalidf("%d verifiers, more than %d", len(c.Verifiers), MaxVerifiers)
	}
	if err := checkText("memory summary", c.MemorySummary, MaxMemorySummaryLen); err != nil {
		return err
	}
	for name, hash := range c.Verifiers {
		if !ValidVerifierName(name) {
			return invalidf("verifier name %q (lower-case letters, digits, _)", name)
		}
		if _, ok := parseVerifier(hash); !ok {
			return invalidf("verifier %s is not a verifier hash", name)
		}
	}
	return nil
}

// Check applies the write rules of a user: an organization, an email and a role.
func (u *User) Check() error {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	switch {
	case u.OrgID == "":
		return invalidf("org id is empty")
	case u.Email == "":
		return invalidf("email is empty")
	case !u.Role.Valid():
		return invalidf("role %q is not admin, supervisor or viewer", u.Role)
	}
	return nil
}

// Check applies the write rules of a refresh token: an organization, a user,
// a hash and an expiry.
func (t *RefreshToken) Check() error {
	switch {
	case t.OrgID == "":
		return invalidf("org id is empty")
	case t.UserID == "":
		return invalidf("user id is empty")
	case len(t.Hash) == 0:
		return invalidf("hash is empty")
	case t.ExpiresAt.IsZero():
		return invalidf("no expiry")
	}
	return nil
}

// Check applies the write rules of a call event: a kind of at most
// MaxEventKindLen bytes, a time, a detail of at most MaxEventDetailLen bytes.
// It brings At to what stores keep, UTC at microseconds.
func (e *CallEvent) Check() error {
	switch {
	case e.Kind == "":
		return invalidf("event kind is empty")
	case len(e.Kind) > MaxEventKindLen:
		return invalidf("event kind is %d bytes, more than %d", len(e.Kind), MaxEventKindLen)
	case e.At.IsZero():
		return invalidf("%s event has no time", e.Kind)
	case len(e.Detail) > MaxEventDetailLen:
		return invalidf("%s event detail is %d bytes, more than %d", e.Kind, len(e.Detail), MaxEventDetailLen)
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	return nil
}

// Check applies the write rules of a call's end: an organization, a call, a
// known outcome, at most MaxCallEvents events that each pass
// CallEvent.Check, a summary of at most MaxCallSummaryLen bytes of UTF-8
// text, and a prediction, if any, that passes CallPrediction.Check. It works
// on its own copy of Events, so the caller's slice is left as it was. Turns
// are checked by the backend.
func (e *CallEnd) Check() error {
	switch {
	case e.OrgID == "":
		return invalidf("org id is empty")
	case e.CallID == "":
		return invalidf("call id is empty")
	case !e.Outcome.Valid():
		return invalidf("unknown outcome %q", e.Outcome)
	case !EscalationReason(e.EscalationReason).Valid():
		return invalidf("unknown escalation reason %q", e.EscalationReason)
	case len(e.Events) > MaxCallEvents:
		return invalidf("%d events, more than %d", len(e.Events), MaxCallEvents)
	}
	if err := checkText("summary", e.Summary, MaxCallSummaryLen); err != nil {
		return err
	}
	if e.Prediction != nil {
		if err := e.Prediction.Check(); err != nil {
			return err
		}
	}
	e.Events = slices.Clone(e.Events)
	for i := range e.Events {
		if err := e.Events[i].Check(); err != nil {
			return fmt.Errorf("event %d: %w", i+1, err)
		}
	}
	return nil
}
