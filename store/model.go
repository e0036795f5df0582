package store

import "time"

// Typed identifiers: an OrgID cannot be passed where a CallID is expected.

// OrgID identifies an organization.
type OrgID string

// UserID identifies a user.
type UserID string

// CustomerID identifies a customer.
type CustomerID string

// CallID identifies a call.
type CallID string

// PatternID identifies a learned pattern.
type PatternID string

// RefreshTokID identifies a refresh token (not the token itself).
type RefreshTokID string

// Organization is a company using IACE. Every other row belongs to one.
type Organization struct {
	ID        OrgID
	Name      string
	CreatedAt time.Time
	// TransferPolicy says where its calls may be transferred.
	TransferPolicy TransferPolicy
}

// Role is what a user may do inside their organization.
type Role string

// Roles, from most to least powerful.
const (
	RoleAdmin      Role = "admin"      // everything in the org
	RoleSupervisor Role = "supervisor" // calls, monitoring, analytics; agents read-only
	RoleViewer     Role = "viewer"     // read-only
)

// User can log in to the control API.
type User struct {
	ID           UserID
	OrgID        OrgID
	Email        string // unique across IACE, stored lower-case
	PasswordHash string // argon2id, PHC string format
	Role         Role
	CreatedAt    time.Time
	DisabledAt   *time.Time // a disabled user cannot log in or refresh
}

// AgentSettings are the provider and privacy settings of an agent.
type AgentSettings struct {
	Model       string  `json:"model,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
	MaxTokens   int     `json:"max_tokens,omitempty"`
	STT         string  `json:"stt,omitempty"` // provider name, "" for the default
	TTS         string  `json:"tts,omitempty"`
	// CollectDigits, when set, says why the agent collects the keypad
	// digits callers press (e.g. "order number for delivery tracking"), at
	// most MaxCollectDigitsLen bytes: only then does a call keep the digits
	// in its events, and even then viewers are not shown them. Empty, the
	// default, a call keeps that a key was pressed, never which: callers
	// type PINs and card numbers.
	CollectDigits string `json:"collect_digits,omitempty"`
	// VerifyCaller names the customer verifier (Customer.Verifiers, e.g.
	// "pin", "date_of_birth", "one_time_code") a caller must answer before
	// the agent is told anything personal about the customer their number
	// belongs to: caller ID alone is easily spoofed. Empty, the default, the
	// agent is never told personal facts.
	VerifyCaller string `json:"verify_caller,omitempty"`
	// Learning says whether the agent's finished calls teach it patterns:
	// LearningOn (or empty, the default), LearningOff, or LearningApprove,
	// where what is learned waits, pending, for someone to approve it.
	Learning LearningMode `json:"learning,omitempty"`
	// IdleTimeoutSeconds bounds the caller's silence: after this long
	// without the caller speaking (and the agent not speaking either), the
	// agent says Reprompt once, and after as long again the call ends
	// (caller_silent). 0, the default, takes the node's
	// (--idle-timeout, 30 s); MinIdleTimeoutSeconds to
	// MaxIdleTimeoutSeconds otherwise.
	IdleTimeoutSeconds int `json:"idle_timeout_seconds,omitempty"`
	// Reprompt is what the agent says to a silent caller, at most
	// MaxRepromptLen bytes; empty: "Are you still there?".
	Reprompt string `json:"reprompt,omitempty"`
	// Backchannels are the words and short phrases ("mm-hmm", "yeah",
	// "okay") with which a caller shows they are listening while the agent
	// talks: speech made only of them does not interrupt the agent, when
	// the transcriber streams interim words. At most MaxBackchannels
	// entries of at most MaxBackchannelLen bytes, letters, digits, spaces,
	// apostrophes and hyphens; empty: the English defaults. Matching is
	// case-insensitive and ignores punctuation.
	Backchannels []string `json:"backchannels,omitempty"`
	// EndOfTurnMinMS and EndOfTurnMaxMS bound the silence that ends the
	// caller's turn, in milliseconds: the shorter when the caller sounds
	// finished (their pitch fell, or their words end a sentence), the
	// longer when they sound mid-sentence ("I want to, um ..."). 0 takes
	// the node's (--vad-min-silence, --vad-max-silence); otherwise
	// MinEndOfTurnMS to MaxEndOfTurnMS, min not above max.
	EndOfTurnMinMS int `json:"end_of_turn_min_ms,omitempty"`
	EndOfTurnMaxMS int `json:"end_of_turn_max_ms,omitempty"`
}

// Bounds of AgentSettings.Backchannels and the end-of-turn silences.
const (
	MaxBackchannels   = 64
	MaxBackchannelLen = 40
	MinEndOfTurnMS    = 100
	MaxEndOfTurnMS    = 5000
)

// Bounds of AgentSettings.IdleTimeoutSeconds and .Reprompt.
const (
	MinIdleTimeoutSeconds = 5
	MaxIdleTimeoutSeconds = 3600
	MaxRepromptLen        = 300
)

// LearningMode is whether and how an agent learns from its finished calls
// (AgentSettings.Learning).
type LearningMode string

// Learning modes. The empty mode is LearningOn.
const (
	LearningOn      LearningMode = "on"
	LearningOff     LearningMode = "off"
	LearningApprove LearningMode = "approve"
)

// MaxCollectDigitsLen bounds AgentSettings.CollectDigits, in bytes.
const MaxCollectDigitsLen = 200

// EscalationRules decide when a call goes to a human.
type EscalationRules struct {
	Keywords             []string `json:"keywords,omitempty"`
	NegativeTurns        int      `json:"negative_turns,omitempty"`        // consecutive negative-sentiment turns
	SentimentBelow       float64  `json:"sentiment_below,omitempty"`       // -1..1
	RepeatedFallbacks    int      `json:"repeated_fallbacks,omitempty"`    // misunderstandings in a row
	TransferOnDTMFZero   bool     `json:"transfer_on_dtmf_zero,omitempty"` // caller presses 0
	MaxDurationSeconds   int      `json:"max_duration_seconds,omitempty"`
	TransferToHumanTools bool     `json:"transfer_to_human_tool,omitempty"`
	// DryRun records when a rule fires ("would_escalate" events) without
	// handing the caller over: to try thresholds on real calls first.
	DryRun bool `json:"dry_run,omitempty"`
	// PredictedRiskAbove hands a caller over when the call's predicted
	// escalation risk (0..1) reaches it, from the second caller turn; 0: off.
	PredictedRiskAbove float64 `json:"predicted_risk_above,omitempty"`
	// WordsRiskAbove hands a caller over when the offline words model's
	// probability that the call needs a person (0..1) reaches it; 0: off.
	WordsRiskAbove float64 `json:"words_risk_above,omitempty"`
}

// Number routes a dialed phone number to an agent. A number belongs to one
// organization across all of IACE: the one an operator allotted it to
// (Store.AllotNumber).
type Number struct {
	OrgID   OrgID
	E164    PhoneNumber
	AgentID AgentID
}

// Customer is someone who calls an organization, known by phone number.
type Customer struct {
	ID            CustomerID
	OrgID         OrgID
	Phone         PhoneNumber // unique within the org
	Name          string
	Email         string
	Attributes    map[string]string
	MemorySummary string // what the agent should remember about them
	// Verifiers hold, by name ("pin", "date_of_birth", "one_time_code"),
	// what a caller must answer to be taken for this customer
	// (AgentSettings.VerifyCaller), each as a salted hash from HashVerifier,
	// never the answer itself. They are secrets: no API shows them.
	Verifiers  map[string]string
	CallCount  int
	LastCallAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// CallStatus is where a call is in its life.
type CallStatus string

// Call statuses.
const (
	CallRinging CallStatus = "ringing"
	CallActive  CallStatus = "active"
	CallEnded   CallStatus = "ended"
)

// Outcome is how a call ended, from the organization's point of view.
type Outcome string

// Outcomes.
const (
	OutcomeNone      Outcome = ""
	OutcomeResolved  Outcome = "resolved"
	OutcomeEscalated Outcome = "escalated"
	OutcomeAbandoned Outcome = "abandoned"
	OutcomeFailed    Outcome = "failed"
)

// Sentiment summarizes the caller's sentiment over a call, -1 (negative) to 1.
type Sentiment struct {
	Average float64 `json:"average"`
	Min     float64 `json:"min"`
	Last    float64 `json:"last"`
	Trend   float64 `json:"trend"` // slope per turn
	Turns   int     `json:"turns"`
}

// Call is one phone call.
type Call struct {
	ID               CallID
	OrgID            OrgID
	AgentID          AgentID
	CustomerID       CustomerID // "" when the caller is not known
	CallControlID    string     // Telnyx call_control_id
	CallSessionID    string     // Telnyx call_session_id
	Direction        string     // "incoming" or "outgoing"
	From, To         PhoneNumber
	Status           CallStatus
	Outcome          Outcome
	EndReason        string
	EscalationReason string
	StartedAt        time.Time
	AnsweredAt       *time.Time
	EndedAt          *time.Time
	Duration         time.Duration
	Sentiment        *Sentiment
	// Summary is what a human who took the call over was told: why it was
	// handed over, the caller's issue, their mood and who they are; empty
	// for a call never handed over. At most MaxCallSummaryLen bytes.
	Summary string
	// Prediction is the call's outcome prediction when it ended; nil for
	// a call that ended before the session predicted anything.
	Prediction *CallPrediction
}

// Speaker is who said a turn.
type Speaker string

// Speakers.
const (
	SpeakerCaller Speaker = "caller"
	SpeakerAgent  Speaker = "agent"
)

// Latency splits a turn's reply latency into its stages, milliseconds.
type Latency struct {
	EndpointMs    int `json:"endpoint_ms,omitempty"`
	STTMs         int `json:"stt_ms,omitempty"`
	LLMFirstToken int `json:"llm_first_token_ms,omitempty"`
	// LLMFirstSentenceMs: from the first token to the first whole sentence.
	LLMFirstSentenceMs int `json:"llm_first_sentence_ms,omitempty"`
	TTSFirstByteMs     int `json:"tts_first_byte_ms,omitempty"`
	OverheadMs         int `json:"overhead_ms,omitempty"`
}

// Turn is one entry of a call's transcript.
type Turn struct {
	CallID      CallID
	Seq         int // 1, 2, ... within the call
	Speaker     Speaker
	Text        string
	StartedAt   time.Time
	EndedAt     time.Time
	Interrupted bool
	Sentiment   *float64
	Latency     *Latency
}

// CallEvent is one thing that happened during a call, as the session saw it:
// the greeting, a caller or agent turn, a barge-in, a key pressed, a transfer
// asked for, a holding phrase said. A call keeps at most MaxCallEvents.
type CallEvent struct {
	// At is when it happened (UTC, microseconds, once stored).
	At time.Time `json:"at"`
	// Kind names what happened (the session's event kinds: "greeting",
	// "caller_turn", "dtmf"...), at most MaxEventKindLen bytes.
	Kind string `json:"kind"`
	// Detail qualifies it in a word, at most MaxEventDetailLen bytes: the
	// provider that failed; the digit pressed only when the agent collects
	// digits (AgentSettings.CollectDigits). It never holds personal data
	// (no transcript text, no phone number, no name): the transcript has
	// its own rows.
	Detail string `json:"detail,omitempty"`
}

// Caps of a call's events (CallEnd.Check).
const (
	MaxCallEvents     = 256 // events per call, as many as a session keeps
	MaxEventKindLen   = 64  // bytes of CallEvent.Kind
	MaxEventDetailLen = 200 // bytes of CallEvent.Detail
)

// Pattern is something IACE learned from finished calls, or that someone
// wrote down: a caller's way of asking (Trigger) and the answer that worked
// (Response), or what made calls go to a human.
type Pattern struct {
	ID        PatternID
	OrgID     OrgID
	AgentID   AgentID // "" for an org-wide pattern
	Kind      string  // e.g. "faq", "objection", "escalation"
	Trigger   string
	Response  string
	Uses      int
	Successes int
	Embedding []float32 // EmbeddingDims long, unit length
	// Status says whether calls use it: PatternActive (the default),
	// PatternPending (learned, awaiting approval) or PatternDisabled.
	Status PatternStatus
	// Source is PatternManual (the default) or PatternLearned.
	Source PatternSource
	// Examples are callers' own phrasings of the trigger, oldest first, at
	// most MaxPatternExamples of at most MaxPatternExampleLen bytes each; nil
	// when none.
	Examples []string
	// SourceCallIDs are the calls it was learned from, oldest first, the
	// last MaxPatternSourceCalls of them; nil when none.
	SourceCallIDs []CallID
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// EmbeddingDims is the length of pattern embeddings (gemini-embedding-001 at
// 768 dimensions, and the offline hashed n-gram embedder).
const EmbeddingDims = 768

// RefreshToken is one refresh token of a login session. Only its hash is kept.
type RefreshToken struct {
	ID         RefreshTokID
	OrgID      OrgID
	UserID     UserID
	Family     string // all tokens rotated from one login share a family
	Hash       []byte // SHA-256 of the token
	ExpiresAt  time.Time
	CreatedAt  time.Time
	RotatedAt  *time.Time // set when it was exchanged for its successor
	RevokedAt  *time.Time
	ReplacedBy RefreshTokID
}
