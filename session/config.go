package session

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iace/iace/media/vad"
)

// Config sets how calls are run.
type Config struct {
	VAD vad.Config
	// ReorderDepth is how many later frames may arrive before a missing one is
	// concealed (2: at most 40 ms of extra delay, only while a frame is missing).
	ReorderDepth int
	// MaxDuration ends calls that last longer.
	MaxDuration time.Duration
	// IdleTimeout is an agent's silence bound unless it sets its own
	// (store.AgentSettings.IdleTimeoutSeconds): 30 s.
	IdleTimeout time.Duration
	// Reprompt is what an agent without its own says to a silent caller.
	Reprompt string
	// TranscriptTimeout is how long to wait for the final transcript after the
	// caller stopped speaking before giving up on that utterance.
	TranscriptTimeout time.Duration
	// BargeInWordWait is how long, once the VAD has heard the caller's
	// voice over the agent, the agent's held audio waits for the
	// transcriber's first words to tell a backchannel ("mm-hmm") from an
	// interruption, when the transcriber streams interim words (500 ms);
	// without a word by then the caller is taken to interrupt.
	BargeInWordWait time.Duration
	// PlaybackGrace is how long past the estimated end of its audio a reply is
	// taken as played when Telnyx does not echo its end mark.
	PlaybackGrace time.Duration
	// MaxHistory bounds the conversation kept for the model, in messages.
	MaxHistory int
	// HoldingPhrase is said when the chat model fails before saying
	// anything; an agent with a transfer number then hands the caller over.
	HoldingPhrase string
	// HandoffPhrase is said before an escalation rule hands the caller to a
	// human (the model says its own words when it hands over).
	HandoffPhrase string
	// SentimentTimeout bounds the scoring of one caller turn; a score that
	// comes later is dropped, and a reply never waits for one.
	SentimentTimeout time.Duration
	// MemoryDeadline bounds the reads at a call's start (the agent's
	// patterns); what is not there by then is done without.
	MemoryDeadline time.Duration
	// LiveEventBuffer is how many live events a subscriber may fall behind
	// by before it is dropped (256); past half of it, interim transcripts
	// are skipped. The call never waits for a subscriber.
	LiveEventBuffer int
	// MaxCalls is this node's capacity in live calls (0: no bound). At it,
	// the node reports itself not ready, so that the load balancer sends
	// new streams to another node; a stream that still arrives is admitted
	// up to a tenth above it (the load balancer's view lags by a probe
	// period), and refused beyond (ErrAtCapacity).
	MaxCalls int
	// NoCalls makes the node one that serves the control API and the
	// webhooks only, beside nodes that take the calls: every media stream
	// is refused (ErrNoCalls), the node is ready while it does not drain,
	// and it offers the other nodes no room for calls (Capacity is -1).
	NoCalls bool
	// MoveDelay is how long a draining node waits before it moves its
	// first call (1 s): until the load balancer has stopped sending it
	// streams (its readiness check interval), else the new stream of a
	// moved call may come back to the draining node, which refuses it.
	// Under Kubernetes the preStop wait, before SIGTERM, covers it.
	MoveDelay time.Duration
}

// DefaultConfig returns the defaults named in each field's comment.
func DefaultConfig() Config {
	return Config{
		VAD:               vad.DefaultConfig(),
		ReorderDepth:      2,
		MaxDuration:       time.Hour,
		IdleTimeout:       30 * time.Second,
		Reprompt:          "Are you still there?",
		TranscriptTimeout: 2 * time.Second,
		BargeInWordWait:   500 * time.Millisecond,
		PlaybackGrace:     2 * time.Second,
		MaxHistory:        40,
		HoldingPhrase:     "I'm sorry, I'm having trouble right now. One moment please.",
		HandoffPhrase:     "Let me connect you with a colleague who can help you further.",
		SentimentTimeout:  2 * time.Second,
		MemoryDeadline:    memoryDeadline,
		LiveEventBuffer:   256,
		MoveDelay:         time.Second,
	}
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if err := c.VAD.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("vad: %w", err))
	}
	if c.ReorderDepth < 1 || c.ReorderDepth > 15 {
		errs = append(errs, fmt.Errorf("reorder depth %d: want 1 to 15", c.ReorderDepth))
	}
	if c.MaxCalls < 0 {
		errs = append(errs, fmt.Errorf("max calls %d: want 0 (no bound) or more", c.MaxCalls))
	}
	if c.MoveDelay < 0 || c.MoveDelay > time.Minute {
		errs = append(errs, fmt.Errorf("drain move delay %v: want 0 to 1m", c.MoveDelay))
	}
	if c.MaxDuration < time.Minute {
		errs = append(errs, fmt.Errorf("max duration %v: want at least 1m", c.MaxDuration))
	}
	if c.IdleTimeout <= 0 || c.IdleTimeout > time.Hour || strings.TrimSpace(c.Reprompt) == "" {
		errs = append(errs, fmt.Errorf("idle timeout %v: want more than 0 and at most 1h, with a reprompt", c.IdleTimeout))
	}
	if c.BargeInWordWait <= 0 || c.BargeInWordWait > 5*time.Second {
		errs = append(errs, fmt.Errorf("barge-in word wait %v: want more than 0 and at most 5s", c.BargeInWordWait))
	}
	if c.TranscriptTimeout <= 0 || c.PlaybackGrace <= 0 {
		errs = append(errs, errors.New("transcript timeout and playback grace must be > 0"))
	}
	if strings.TrimSpace(c.HoldingPhrase) == "" || strings.TrimSpace(c.HandoffPhrase) == "" {
		errs = append(errs, errors.New("holding or handoff phrase is empty"))
	}
	if c.SentimentTimeout <= 0 || c.MemoryDeadline <= 0 {
		errs = append(errs, errors.New("sentiment timeout and memory deadline must be > 0"))
	}
	if c.LiveEventBuffer < 2 || c.LiveEventBuffer > 4096 {
		errs = append(errs, fmt.Errorf("live event buffer %d: want 2 to 4096", c.LiveEventBuffer))
	}
	if c.MaxHistory < 2 {
		errs = append(errs, fmt.Errorf("max history %d: want at least 2", c.MaxHistory))
	}
	return errors.Join(errs...)
}
