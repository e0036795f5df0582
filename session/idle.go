package session

import (
	"context"
	"time"
)

// idleClock bounds a caller's silence. Whenever something happens on the
// call (the caller speaks, the agent finishes a turn) the silence starts
// over; when it has lasted the timeout, the agent asks once whether the
// caller is still there, and when the silence lasts as long again the call
// ends. Time is passed in, so it is tested without a clock.
type idleClock struct {
	timeout    time.Duration
	at         time.Time // when the silence will have lasted the timeout; zero: never
	reprompted bool      // the caller was asked, and has not spoken since
}

type idleAction uint8

const (
	idleNone     idleAction = iota
	idleReprompt            // ask the caller whether they are still there
	idleEnd                 // end the call: caller_silent
)

// touch starts the silence over from now.
func (c *idleClock) touch(now time.Time) { c.at = now.Add(c.timeout) }

// callerSpoke: the caller is there; a later silence is asked about again.
func (c *idleClock) callerSpoke(now time.Time) {
	c.reprompted = false
	c.touch(now)
}

// due says what the silence calls for at now. While busy (the agent
// speaks or is about to, the caller is mid-utterance, a supervisor has
// the call) nobody is silent: it is put off by a whole timeout.
func (c *idleClock) due(now time.Time, busy bool) idleAction {
	switch {
	case c.at.IsZero() || now.Before(c.at):
		return idleNone
	case busy:
		c.touch(now)
		return idleNone
	case !c.reprompted:
		c.reprompted = true
		c.touch(now)
		return idleReprompt
	}
	c.at = time.Time{}
	return idleEnd
}

// idleTimeout is the agent's silence bound, or the node's.
func (s *Session) idleTimeout() time.Duration {
	if n := s.agent.Settings.IdleTimeoutSeconds; n > 0 {
		return time.Duration(n) * time.Second
	}
	return s.eng.cfg.IdleTimeout
}

// repromptText asks a silent caller whether they are still there: the
// agent's words, or the node's.
func (s *Session) repromptText() string {
	if t := s.agent.Settings.Reprompt; t != "" {
		return t
	}
	return s.eng.cfg.Reprompt
}

// onIdle acts on the caller's silence at now.
func (s *Session) onIdle(ctx context.Context, now time.Time) {
	busy := s.turn != nil || s.utterance.active || !s.awaitText.IsZero() || s.entry.role() == RoleTakeover || s.moving
	switch s.idle.due(now, busy) {
	case idleReprompt:
		s.log.Info("the caller is silent: asking whether they are still there", "after", s.idle.timeout.String())
		s.say(ctx, s.repromptText(), turnReprompt)
	case idleEnd:
		s.log.Info("the caller stayed silent after the reprompt: ending the call")
		s.end(EndCallerSilent)
	case idleNone:
	}
}
