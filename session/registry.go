package session

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iace/iace/store"
)

// CallID identifies a call inside IACE; the call record keeps the same id.
type CallID = store.CallID

// State is where a live call is in its conversation.
type State int32

// Call states.
const (
	StateStarting State = iota
	StateListening
	StateThinking
	StateSpeaking
	StateEnding
)

var stateNames = [...]string{"starting", "listening", "thinking", "speaking", "ending"}

// String names the state.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// CallInfo is a snapshot of one live call.
type CallInfo struct {
	ID            CallID
	OrgID         store.OrgID
	StreamID      string
	CallControlID string
	CallSessionID string
	AgentID       store.AgentID
	From, To      store.PhoneNumber
	StartedAt     time.Time
	State         State
	// Resolution and EscalationRisk are the call's live prediction
	// (ai/predict), updated after each turn: the probability that it ends
	// resolved, and that it goes to a human.
	Resolution, EscalationRisk float64
	// SupervisorRole is what a supervisor's voice does on the call
	// (supervise.go); monitor until one switches it.
	SupervisorRole SupervisorRole
}

type registryEntry struct {
	info     CallInfo // immutable after add but for State, the prediction and the role
	state    atomic.Int32
	roleNo   atomic.Int32  // supervisorRoles index
	resolve  atomic.Uint64 // float64 bits
	risk     atomic.Uint64 // float64 bits
	sessions *Session
	feed     *feed // the call's live event subscribers
}

// role is the call's supervisor role.
func (e *registryEntry) role() SupervisorRole { return supervisorRoles[e.roleNo.Load()] }

// setRole switches it; r is valid.
func (e *registryEntry) setRole(r SupervisorRole) { e.roleNo.Store(r.number()) }

// predict stores the call's latest prediction.
func (e *registryEntry) predict(resolution, risk float64) {
	e.resolve.Store(math.Float64bits(resolution))
	e.risk.Store(math.Float64bits(risk))
}

// Registry is the set of live calls on this node. Reads are snapshots; the
// control API and monitoring read it, sessions update their own state.
type Registry struct {
	mu    sync.RWMutex
	calls map[CallID]*registryEntry
	// live is the live list's feed: calls starting, changing state or
	// prediction, ending. Calls start and end under mu.
	live    *feed
	metrics *Metrics
	// ended remembers the last maxEnded calls that ended here, by
	// organization, so that a late request about one is told it ended
	// (while its record may still be on its way to the store); endedIDs
	// is their order, a ring.
	ended    map[CallID]store.OrgID
	endedIDs []CallID
	endedAt  int
}

// maxEnded is how many ended calls the registry remembers.
const maxEnded = 1024

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return newRegistry(NewMetrics(nil)) }

func newRegistry(m *Metrics) *Registry {
	return &Registry{calls: make(map[CallID]*registryEntry), live: newFeed(m, true), metrics: m,
		ended: make(map[CallID]store.OrgID), endedIDs: make([]CallID, 0, maxEnded)}
}

func (r *Registry) add(s *Session, info CallInfo) {
	e := &registryEntry{info: info, sessions: s, feed: newFeed(r.metrics, false)}
	// Set before the call is published: whoever finds s in the registry
	// (under mu) reads its entry. Tests of the registry alone add no
	// session.
	if s != nil {
		s.entry = e
	}
	r.mu.Lock()
	r.calls[info.ID] = e
	if r.live.listening() {
		c := info // escapes only here, when someone listens
		r.live.publish(LiveEvent{Kind: LiveStarted, At: c.StartedAt, CallID: c.ID, OrgID: c.OrgID, Call: &c})
	}
	r.mu.Unlock()
}

// remove takes the call off the registry, ended for reason: its
// subscribers and the live list get LiveEnded.
func (r *Registry) remove(id CallID, reason EndReason) {
	r.mu.Lock()
	e, ok := r.calls[id]
	delete(r.calls, id)
	if ok && reason != EndMoved { // a moved call lives on, on another node
		r.rememberEnded(id, e.info.OrgID)
	}
	if ok && r.live.listening() {
		r.live.publish(LiveEvent{Kind: LiveEnded, At: time.Now(), CallID: id, OrgID: e.info.OrgID, Reason: string(reason)})
	}
	r.mu.Unlock()
	if ok {
		e.feed.end(LiveEvent{Kind: LiveEnded, CallID: id, OrgID: e.info.OrgID, Reason: string(reason)})
	}
}

// rememberEnded keeps id among the calls that ended here. r.mu is held.
func (r *Registry) rememberEnded(id CallID, org store.OrgID) {
	if len(r.endedIDs) < maxEnded {
		r.endedIDs = append(r.endedIDs, id)
	} else {
		delete(r.ended, r.endedIDs[r.endedAt])
		r.endedIDs[r.endedAt] = id
		r.endedAt = (r.endedAt + 1) % maxEnded
	}
	r.ended[id] = org
}

// endedHere reports whether org's call id ended on this node lately.
func (r *Registry) endedHere(org store.OrgID, id CallID) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	o, ok := r.ended[id]
	return ok && o == org
}

// Len returns the number of live calls.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.calls)
}

// Get returns the live call with id.
func (r *Registry) Get(id CallID) (CallInfo, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.calls[id]
	if !ok {
		return CallInfo{}, false
	}
	return e.snapshot(), true
}

// List returns every live call, oldest first.
func (r *Registry) List() []CallInfo {
	r.mu.RLock()
	out := make([]CallInfo, 0, len(r.calls))
	for _, e := range r.calls {
		out = append(out, e.snapshot())
	}
	r.mu.RUnlock()
	SortCalls(out)
	return out
}

// SortCalls orders calls oldest first (the live list's order).
func SortCalls(calls []CallInfo) {
	slices.SortFunc(calls, func(a, b CallInfo) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
}

func (r *Registry) sessions() []*Session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Session, 0, len(r.calls))
	for _, e := range r.calls {
		out = append(out, e.sessions)
	}
	return out
}

func (r *Registry) session(id CallID) *Session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e, ok := r.calls[id]; ok {
		return e.sessions
	}
	return nil
}

func (e *registryEntry) snapshot() CallInfo {
	info := e.info
	info.State = State(e.state.Load())
	info.SupervisorRole = e.role()
	info.Resolution = math.Float64frombits(e.resolve.Load())
	info.EscalationRisk = math.Float64frombits(e.risk.Load())
	return info
}
