package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns for the same situations.
var (
	// ErrNotFound: no such row in this organization (another organization's
	// row is not found either).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique value is taken (an email, a number, a phone).
	ErrConflict = errors.New("store: conflict")
	// ErrTokenReused: a refresh token that was already rotated or revoked was
	// presented again; its whole family has been revoked.
	ErrTokenReused = errors.New("store: refresh token reused")
	// ErrInvalid: the input breaks a rule of the model (see the message).
	ErrInvalid = errors.New("store: invalid input")
	// ErrUnavailable: the backend cannot be reached; the write may be retried.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrLimit: the organization holds as many rows of the kind as it may
	// (a *LimitError says which, and it is also an ErrConflict).
	ErrLimit = errors.New("store: limit reached")
)

// MaxPageSize caps every list call.
const MaxPageSize = 200

// Page asks for one page of a list: Limit rows (default 50, at most
// MaxPageSize) after Cursor (the NextCursor of the previous page, "" for the
// first). Cursors are opaque and stable under inserts (keyset pagination).
type Page struct {
	Limit  int
	Cursor string
}

// CallFilter narrows ListCalls. Zero fields do not filter.
type CallFilter struct {
	Status     CallStatus
	Outcome    Outcome
	AgentID    AgentID
	CustomerID CustomerID
	From, To   time.Time // StartedAt in [From, To)
}

// CallListItem is a call with its agent and customer, as a list shows it.
type CallListItem struct {
	Call     Call
	Agent    *Agent    // nil if the agent was deleted
	Customer *Customer // nil for unknown callers
}

// CallDetail is a call with its transcript and events.
type CallDetail struct {
	CallListItem
	Turns []Turn
	// Events in the order FinishCall was given them; nil when none were
	// written.
	Events []CallEvent
}

// CallEnd is what finishing a call writes, in one transaction: the call's
// final state, its last turns and the customer's statistics.
type CallEnd struct {
	OrgID            OrgID
	CallID           CallID
	EndedAt          time.Time
	Outcome          Outcome
	EndReason        string
	EscalationReason string
	Sentiment        *Sentiment
	// Turns not yet written; their Seq continue the call's.
	Turns []Turn
	// Events of the call, in time order, at most MaxCallEvents (see
	// CallEnd.Check).
	Events []CallEvent
	// Summary is the handoff summary (Call.Summary), "" for none.
	Summary string
	// Prediction is the call's prediction at its end, nil for none.
	Prediction *CallPrediction
}

// PatternFilter narrows ListPatterns and SimilarPatterns. Zero fields do not
// filter.
type PatternFilter struct {
	AgentID AgentID // also matches org-wide patterns (AgentID "")
	Kind    string
	// Status keeps the patterns of one status: PatternActive for what a
	// call may use, PatternPending for what awaits approval.
	Status PatternStatus
}

// ScoredPattern is a pattern with its cosine similarity to a query, -1..1.
type ScoredPattern struct {
	Pattern    Pattern
	Similarity float64
}

// TranscriptHit is a call whose transcript matched a search.
type TranscriptHit struct {
	CallID CallID
	Turn   Turn
}

// Store is the whole repository API. Rules every backend follows
// (store/storetest checks them):
//
//   - IDs are text. Create* fills an empty ID with a new random one
//     (crypto/rand.Text) and an empty CreatedAt/UpdatedAt/StartedAt with now;
//     times are stored in UTC at microsecond precision.
//   - Create* with a missing required field (an org id, a name, an email, a
//     phone, a call's agent, a pattern's trigger, an embedding of the wrong
//     length...) returns an error wrapping ErrInvalid; a taken unique value
//     (user email across IACE, customer phone within an org, a number allotted
//     across IACE, a pattern id) ErrConflict; a row of another organization,
//     or none, ErrNotFound. Connection failures and timeouts wrap
//     ErrUnavailable.
//   - Numbers are provisioned by an operator, not by an organization:
//     AllotNumber gives a number to one organization (again to the same one
//     is a no-op; to another, ErrConflict), and AssignNumber routes only a
//     number allotted to the organization. A number allotted to another
//     organization, routed or not, is ErrNotFound exactly as one allotted to
//     none, so an organization learns nothing of another's numbers.
//     RemoveNumber drops the route and keeps the allotment; ReleaseNumber
//     takes the number back from its organization, route included
//     (ErrNotFound when it is not that organization's).
//   - CreateOrg and SetTransferPolicy check the organization's transfer
//     policy (TransferPolicy.Check: ErrInvalid) and keep it normalised; an
//     empty allow-list is kept as nil and means the default. SetTransferPolicy
//     returns the organization; an unknown one is ErrNotFound.
//   - Lists: ListCalls newest first (StartedAt desc, then ID desc);
//     ListPatterns newest first (CreatedAt desc, ID desc); SearchCustomers by
//     name then ID, matching the query case-insensitively as a substring of
//     the name, phone or email; SearchTranscripts newest turn first
//     (StartedAt desc, call ID, Seq), matching turns whose text contains every
//     query word as a whole word, case-insensitively, no stemming. A list
//     returns its next cursor, "" on the last page.
//   - ListCalls returns each call with its agent and customer in a bounded
//     number of queries whatever the page size (no N+1).
//   - AppendTurns and FinishCall are idempotent, so a replay after a lost
//     acknowledgement writes nothing twice: turns are keyed by (call, Seq),
//     and FinishCall on a call already ended returns it unchanged. FinishCall
//     writes the call (status ended, end time, Duration from StartedAt,
//     outcome, reasons, sentiment), its turns and, when the call has a
//     customer, the customer's CallCount+1 and LastCallAt in one transaction.
//   - FinishCall checks its input (CallEnd.Check): more than MaxCallEvents
//     events, or an event with no kind, no time, a kind longer than
//     MaxEventKindLen or a detail longer than MaxEventDetailLen bytes, is
//     ErrInvalid and writes nothing; the store never truncates (the caller
//     decides what to drop). A call's events are written once: the first
//     FinishCall that carries events sets them, even on a call already ended
//     (as its turns are, so a hang-up webhook that ended the call first does
//     not lose them), and a later one leaves them as they are. GetCall
//     returns them in the order given, times in UTC at microseconds;
//     ListCalls does not read them. A call's Summary and Prediction follow
//     the events' rule: the first FinishCall that carries one sets it, even
//     on a call already ended, and a later one leaves it (FinishCall on a
//     call already ended returns it as stored, with what it just set). A
//     summary longer than MaxCallSummaryLen (or not UTF-8, or holding a
//     NUL), prediction features longer than MaxPredictionFeaturesLen (or
//     not a JSON object), probabilities outside 0..1, or a negative
//     ModelVersion, are ErrInvalid. GetCall and ListCalls return both. They
//     are FinishCall's alone: CreateCall creates a call without them, and
//     UpdateCall leaves them as stored (and returns them), so a copy read
//     before the finish cannot undo them.
//   - SetCustomerMemory replaces a customer's MemorySummary (trimmed, at
//     most MaxMemorySummaryLen bytes of UTF-8 without NUL, else ErrInvalid)
//     and UpdatedAt, and nothing else, so that it never undoes a concurrent
//     UpdateCustomer of another field; it returns the customer. The same
//     cap holds for CreateCustomer and UpdateCustomer (Customer.Check).
//   - SavePredictionModel stores a new version of the organization's model:
//     Version is the latest's plus one (1 for the first), whatever the
//     caller set; concurrent saves get distinct versions. A model with no
//     org, a zero TrainedAt, a negative Examples, AUCs outside 0..1, or a
//     Model that is not a JSON object of at most MaxPredictionModelLen
//     bytes is ErrInvalid; an unknown org ErrNotFound. Beyond
//     MaxPredictionModels versions the oldest are deleted.
//     LatestPredictionModel returns the highest version (ErrNotFound when
//     none); ListPredictionModels all kept, newest first. JSON (prediction
//     features, models) comes back as the same value, compacted, not
//     necessarily the same bytes.
//   - LabelledCalls returns the organization's ended calls that have an
//     outcome and prediction features and ended after q.After, newest
//     first (EndedAt desc, ID desc), at most q.Limit (default and cap
//     MaxLabelledCalls; zero or negative is the default).
//   - SimilarPatterns ranks the organization's patterns (filtered by agent,
//     which also matches org-wide patterns, kind and status) by cosine
//     similarity to query, best first, k at most 100. Postgres uses its HNSW
//     index; the embedded backend searches exactly.
//   - CreatePattern checks the pattern (Pattern.Check: ErrInvalid; an empty
//     Status is PatternActive, an empty Source PatternManual) and refuses
//     an organization's pattern beyond its cap (MaxPatternsPerOrg unless the
//     backend is configured otherwise) with a *LimitError, which is
//     ErrLimit and ErrConflict; concurrent creates never pass the cap.
//   - MergePattern applies Pattern.Merge to the stored pattern in one
//     transaction, under the row's lock, and returns the result: counts
//     added, the example and the call id appended within their caps
//     (newest kept), UpdatedAt now. A call id already among the pattern's
//     SourceCallIDs changes nothing, so a replayed merge counts once. An
//     invalid merge (PatternMerge.Check) is ErrInvalid.
//   - SetPatternStatus sets a pattern's status and UpdatedAt and returns
//     the pattern; an unknown status is ErrInvalid. Lists and searches
//     filtered by status see the change at once.
//   - RotateRefreshToken: if old was already rotated or revoked, the whole
//     family is revoked and ErrTokenReused returned; an expired old token is
//     ErrNotFound; otherwise old is marked rotated and replaced by next (same
//     org, user and family) in one transaction.
//   - ClaimCallStream admits a call's media stream once: it records nonce
//     (the stream token's) on a call that is not ended and has no stream
//     yet, and returns the call. A call already claimed, by any nonce the
//     same one included, or ended is ErrConflict; an empty nonce ErrInvalid;
//     a call of another organization, or none, ErrNotFound.
//   - RevokeTokenFamily and RevokeUserTokens return ErrNotFound when the
//     organization has no such family or user.
//   - DeleteAgent removes its numbers; calls keep their agent id and list
//     with a nil Agent.
//   - CallStats checks its query (StatsQuery.Check: ErrInvalid) and counts
//     the organization's calls started in [From, To) (of one agent when
//     AgentID is set) by epoch-aligned UTC bucket, in bucket order; buckets
//     without calls are omitted. Outcomes, average duration and the
//     escalation and resolution rates are over the bucket's ended calls;
//     sentiment over all its calls; latency percentiles over the agent
//     turns of its calls (see LatencyPercentiles); Prediction over its
//     ended calls with a prediction and an outcome (PredictionStats).
//     Postgres computes it in one query, the embedded backend in Go.
//   - PruneRefreshTokens deletes the refresh tokens, of every organization,
//     that expired before the given time, whatever their state, and
//     PruneWebhookEvents the webhook event ids recorded before it; each
//     returns how many rows it deleted. A pruned event id is news again to
//     MarkEventProcessed, so callers keep ids for longer than a redelivery
//     can come.
//
// It is implemented by store/postgres and store/embedded and checked by
// store/storetest. Every method that reads or writes an organization's rows
// takes its OrgID and never crosses it; the
// only lookups across organizations are the ones that must find the
// organization: a user by email (login), an agent by dialed number (an
// incoming call), a refresh token by hash and a webhook event id; and the
// housekeeping deletes (Prune*), which read nothing back.
// Consumers declare the few methods they use as their own interface.
type Store interface {
	CreateOrg(ctx context.Context, o Organization) (Organization, error)
	GetOrg(ctx context.Context, id OrgID) (Organization, error)

	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, org OrgID, id UserID) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	ListUsers(ctx context.Context, org OrgID) ([]User, error)
	UpdateUser(ctx context.Context, u User) (User, error)

	CreateAgent(ctx context.Context, a Agent) (Agent, error)
	GetAgent(ctx context.Context, org OrgID, id AgentID) (Agent, error)
	ListAgents(ctx context.Context, org OrgID) ([]Agent, error)
	UpdateAgent(ctx context.Context, a Agent) (Agent, error)
	DeleteAgent(ctx context.Context, org OrgID, id AgentID) error

	AssignNumber(ctx context.Context, n Number) error
	RemoveNumber(ctx context.Context, org OrgID, e164 PhoneNumber) error
	ListNumbers(ctx context.Context, org OrgID) ([]Number, error)
	AgentForNumber(ctx context.Context, e164 PhoneNumber) (Agent, error)

	CreateCustomer(ctx context.Context, c Customer) (Customer, error)
	GetCustomer(ctx context.Context, org OrgID, id CustomerID) (Customer, error)
	CustomerByPhone(ctx context.Context, org OrgID, phone PhoneNumber) (Customer, error)
	UpdateCustomer(ctx context.Context, c Customer) (Customer, error)
	SearchCustomers(ctx context.Context, org OrgID, query string, p Page) ([]Customer, string, error)
	SetCustomerMemory(ctx context.Context, org OrgID, id CustomerID, summary string) (Customer, error)

	CreateCall(ctx context.Context, c Call) (Call, error)
	GetCall(ctx context.Context, org OrgID, id CallID) (CallDetail, error)
	CallByControlID(ctx context.Context, org OrgID, callControlID string) (Call, error)
	ClaimCallStream(ctx context.Context, org OrgID, id CallID, nonce string) (Call, error)
	UpdateCall(ctx context.Context, c Call) (Call, error)
	ListCalls(ctx context.Context, org OrgID, f CallFilter, p Page) ([]CallListItem, string, error)
	AppendTurns(ctx context.Context, org OrgID, call CallID, turns []Turn) error
	FinishCall(ctx context.Context, end CallEnd) (Call, error)
	SearchTranscripts(ctx context.Context, org OrgID, words string, p Page) ([]TranscriptHit, string, error)
	CallStats(ctx context.Context, org OrgID, q StatsQuery) ([]StatsBucket, error)

	CreatePattern(ctx context.Context, p Pattern) (Pattern, error)
	GetPattern(ctx context.Context, org OrgID, id PatternID) (Pattern, error)
	ListPatterns(ctx context.Context, org OrgID, f PatternFilter, p Page) ([]Pattern, string, error)
	DeletePattern(ctx context.Context, org OrgID, id PatternID) error
	RecordPatternUse(ctx context.Context, org OrgID, id PatternID, success bool) error
	MergePattern(ctx context.Context, org OrgID, id PatternID, m PatternMerge) (Pattern, error)
	SetPatternStatus(ctx context.Context, org OrgID, id PatternID, status PatternStatus) (Pattern, error)
	SimilarPatterns(ctx context.Context, org OrgID, f PatternFilter, query []float32, k int) ([]ScoredPattern, error)

	SavePredictionModel(ctx context.Context, m PredictionModel) (PredictionModel, error)
	LatestPredictionModel(ctx context.Context, org OrgID) (PredictionModel, error)
	ListPredictionModels(ctx context.Context, org OrgID) ([]PredictionModel, error)
	LabelledCalls(ctx context.Context, org OrgID, q LabelledQuery) ([]LabelledCall, error)

	CreateRefreshToken(ctx context.Context, t RefreshToken) (RefreshToken, error)
	RefreshTokenByHash(ctx context.Context, hash []byte) (RefreshToken, error)
	RotateRefreshToken(ctx context.Context, old RefreshTokID, next RefreshToken) (RefreshToken, error)
	RevokeTokenFamily(ctx context.Context, org OrgID, family string) error
	RevokeUserTokens(ctx context.Context, org OrgID, user UserID) error

	// Operator provisioning and organization settings.
	AllotNumber(ctx context.Context, org OrgID, e164 PhoneNumber) error
	ReleaseNumber(ctx context.Context, org OrgID, e164 PhoneNumber) error
	SetTransferPolicy(ctx context.Context, org OrgID, p TransferPolicy) (Organization, error)

	// MarkEventProcessed records a webhook event id; it reports false when the
	// id was seen before (a redelivery).
	MarkEventProcessed(ctx context.Context, eventID string) (bool, error)

	// Housekeeping across organizations: rows no rule needs any more.
	PruneRefreshTokens(ctx context.Context, before time.Time) (int64, error)
	PruneWebhookEvents(ctx context.Context, before time.Time) (int64, error)

	Ping(ctx context.Context) error
	Close() error
}
