package session

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iace/iace/store"
)

// Live events let a dashboard follow calls as they happen: a call's
// subscribers get what is said and done on it, an organization's live list
// subscribers get its calls starting, changing state or prediction, and
// ending. Publishing happens on each call's run goroutine and never waits:
// an event is built only when someone listens (one atomic load otherwise,
// no allocation), and a subscriber whose buffer is full is dropped, its
// stream ended with a LiveDropped event, rather than slowing the call.

// LiveKind names a live event.
type LiveKind string

// Live event kinds. What each carries is in its comment; the fields not
// named are zero.
const (
	// LiveSnapshot opens every subscription: the call as it is now (Call),
	// or the organization's live calls (Calls). Its Seq, on a call, is the
	// number of the call's last event before it.
	LiveSnapshot LiveKind = "snapshot"
	// LiveStarted: a call started (the live list only; Call).
	LiveStarted LiveKind = "started"
	// LiveState: the call's state changed (State).
	LiveState LiveKind = "state"
	// LiveTranscript: the transcriber's words for the caller as they come
	// (Text; Final once they will not change).
	LiveTranscript LiveKind = "transcript"
	// LiveCallerTurn: the caller's words the agent answers, as the
	// transcript keeps them (Turn, Text).
	LiveCallerTurn LiveKind = "caller_turn"
	// LiveAgentText: a sentence of the agent's, its audio queued to be
	// played (Turn, Text).
	LiveAgentText LiveKind = "agent_text"
	// LiveBargeIn: the caller interrupted the agent; Text is what they had
	// heard of the turn, where it was cut (Turn, Text).
	LiveBargeIn LiveKind = "barge_in"
	// LiveAgentTurn: the agent's turn is over; Text is what the caller
	// heard of it, empty for nothing (Turn, Text, Interrupted).
	LiveAgentTurn LiveKind = "agent_turn"
	// LiveSentiment: a caller turn was scored (Turn, Sentiment).
	LiveSentiment LiveKind = "sentiment"
	// LivePrediction: the call's prediction was updated (Resolution,
	// EscalationRisk).
	LivePrediction LiveKind = "prediction"
	// LiveLatency: a reply's first audio went out (Turn, ReplyLatency and
	// its stages, Latency).
	LiveLatency LiveKind = "latency"
	// LiveDTMF: the caller pressed a key (Digit, only when the agent
	// collects digits, store.AgentSettings.CollectDigits, as the call's
	// record keeps it).
	LiveDTMF LiveKind = LiveKind(EventDTMF)
	// LiveTransferRequested: the call is to be handed to a human (Reason:
	// the escalation reason).
	LiveTransferRequested LiveKind = LiveKind(EventTransferRequested)
	// LiveWouldEscalate: an escalation rule fired but the call goes on
	// (Reason: the escalation reason).
	LiveWouldEscalate LiveKind = LiveKind(EventWouldEscalate)
	// LiveHoldingPhrase: a provider failed and the caller hears the
	// holding phrase (Reason: the provider).
	LiveHoldingPhrase LiveKind = LiveKind(EventHoldingPhrase)
	// LiveSupervisorRole: a supervisor switched the call's role (Role),
	// on the call and in the live list.
	LiveSupervisorRole LiveKind = LiveKind(EventSupervisorRole)
	// LiveWhisper: a supervisor's guidance for the AI's next turn (Text).
	LiveWhisper LiveKind = LiveKind(EventWhisper)
	// LiveEnded: the call ended (Reason: the end reason). It is the last
	// event of a call's subscription; in the live list, the call's last.
	LiveEnded LiveKind = "ended"
	// LiveDropped ends a subscription that fell too far behind (Reason:
	// "slow"), or a live list when the engine drains (Reason: "draining").
	LiveDropped LiveKind = "dropped"
)

// Reasons of LiveDropped.
const (
	DroppedSlow     = "slow"
	DroppedDraining = "draining"
)

// LiveEvent is one event of a live call. Text is the caller's or the
// agent's words: personal data, for authorized readers only, never logged
// (LogValue leaves it out).
type LiveEvent struct {
	// Seq numbers a call's events in order (a subscriber misses those
	// published before it subscribed, and interim transcripts it was too
	// far behind to take); in the live list each subscriber's own events
	// are numbered from 1.
	Seq    uint64
	At     time.Time
	Kind   LiveKind
	CallID CallID
	OrgID  store.OrgID
	State  State
	Text   string
	// Turn is the turn's place in the call's transcript, from 1 (the
	// call record's turn seq): the caller's turn for LiveCallerTurn and
	// LiveSentiment, the agent's for its text, barge-in, end and latency.
	// An agent turn the caller heard nothing of takes no place; the next
	// turn has the same number.
	Turn                       int
	Final                      bool
	Interrupted                bool
	Sentiment                  float64
	Resolution, EscalationRisk float64
	ReplyLatency               time.Duration
	Latency                    TurnLatency
	Digit                      string
	Reason                     string
	Role                       SupervisorRole
	Call                       *CallInfo
	Calls                      []CallInfo
}

// LogValue leaves the words out: transcripts are never logged.
func (ev LiveEvent) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(ev.Kind)), slog.Uint64("seq", ev.Seq),
		slog.String("call_id", string(ev.CallID)))
}

// Errors of the subscriptions.
var (
	// ErrCallNotLive: no call of the organization with that id is in
	// progress on this node (another organization's call included).
	ErrCallNotLive = errors.New("session: no such call in progress")
	// ErrTooManySubscribers: the call, or the organization's live list,
	// has as many subscribers as it may.
	ErrTooManySubscribers = errors.New("session: too many live event subscribers")
)

// Subscriber caps: a call, and an organization's live list, take at most
// this many subscribers, so that subscribing cannot grow a call's fan-out
// without bound. A node that relays another node's call to its own
// readers holds them to MaxCallSubscribers too.
const (
	MaxCallSubscribers = 32
	maxListSubscribers = 32
)

// Subscription receives live events until it ends: its channel is closed
// after a LiveEnded or LiveDropped event, or by Close.
type Subscription struct {
	f   *feed
	org store.OrgID
	c   chan LiveEvent
	// limit is how many events may wait; c holds one more, so that the
	// event that ends the subscription always has a place.
	limit int
	seq   uint64 // a live list subscriber's own numbering
	done  bool   // guarded by f.mu
}

// Events delivers the events, in order; it is closed when the subscription
// ends.
func (s *Subscription) Events() <-chan LiveEvent { return s.c }

// Close ends the subscription; it is idempotent.
func (s *Subscription) Close() {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.drop(s)
}

// feed fans one call's events, or the live list's, out to subscribers.
type feed struct {
	n  atomic.Int32 // subscribers, read without the lock by publishers
	mu sync.Mutex
	// subs by organization: a call's are all its organization's.
	subs  map[store.OrgID][]*Subscription
	seq   uint64
	ended bool
	// list: the live list, whose subscribers each number their own events
	// (they see only their organization's), capped per organization.
	list bool
	// relay: the events come numbered from another node (Relay).
	relay bool
	m     *Metrics
}

func newFeed(m *Metrics, list bool) *feed {
	return &feed{subs: map[store.OrgID][]*Subscription{}, list: list, m: m}
}

// listening reports whether anyone subscribes: publishers check it before
// they build an event.
func (f *feed) listening() bool { return f.n.Load() > 0 }

// subscribe adds a subscriber of org with room for buffer events, whose
// first event is what first returns, made under the feed's lock so that no
// event published meanwhile is missed or comes before it. A feed that has
// ended refuses with gone.
func (f *feed) subscribe(org store.OrgID, buffer int, gone error, first func() LiveEvent) (*Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return nil, gone
	}
	most := MaxCallSubscribers
	if f.list {
		most = maxListSubscribers
	}
	if len(f.subs[org]) >= most {
		return nil, ErrTooManySubscribers
	}
	s := &Subscription{f: f, org: org, c: make(chan LiveEvent, buffer+1), limit: buffer}
	ev := first()
	ev.Kind, ev.At = LiveSnapshot, time.Now()
	if f.list {
		s.seq++
		ev.Seq = s.seq
	} else {
		ev.Seq = f.seq
	}
	s.c <- ev
	f.subs[org] = append(f.subs[org], s)
	f.n.Add(1)
	f.m.liveSubscribers.Inc()
	return s, nil
}

// publish hands ev to each subscriber of its organization without waiting.
// A subscriber with no room left is dropped; one more than half full skips
// interim transcripts, which the next transcript supersedes.
func (f *feed) publish(ev LiveEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	if !f.list && !f.relay {
		f.seq++
		ev.Seq = f.seq
	}
	subs := f.subs[ev.OrgID]
	for i := 0; i < len(subs); {
		s := subs[i]
		n := len(s.c) // only this goroutine sends, under f.mu: n can only fall
		switch {
		case ev.Kind == LiveTranscript && !ev.Final && n > s.limit/2:
			f.m.liveEventsDropped.Inc()
		case n >= s.limit:
			f.m.liveEventsDropped.Inc()
			f.m.liveSubscribersDropped.Inc()
			f.finish(s, LiveEvent{Kind: LiveDropped, At: ev.At, CallID: ev.CallID, OrgID: ev.OrgID, Reason: DroppedSlow, Seq: ev.Seq})
			subs = f.subs[ev.OrgID]
			continue // s is gone from subs: the next one is at i
		default:
			if f.list {
				s.seq++
				ev.Seq = s.seq
			}
			s.c <- ev
		}
		i++
	}
}

// end gives every subscriber ev as its last event and closes the feed.
func (f *feed) end(ev LiveEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	f.ended = true
	f.seq++
	ev.Seq = f.seq
	var all []*Subscription
	for _, subs := range f.subs {
		all = append(all, subs...)
	}
	for _, s := range all {
		f.finish(s, ev)
	}
}

// finish puts s's last event in the place kept for it and drops s. The
// caller holds f.mu.
func (f *feed) finish(s *Subscription, last LiveEvent) {
	if last.At.IsZero() {
		last.At = time.Now()
	}
	if f.list {
		s.seq++
		last.Seq = s.seq
	}
	s.c <- last
	f.drop(s)
}

// drop removes s and closes its channel. The caller holds f.mu.
func (f *feed) drop(s *Subscription) {
	if s.done {
		return
	}
	s.done = true
	close(s.c)
	subs := f.subs[s.org]
	for i, o := range subs {
		if o == s {
			subs = append(subs[:i], subs[i+1:]...)
			break
		}
	}
	if len(subs) == 0 {
		delete(f.subs, s.org)
	} else {
		f.subs[s.org] = subs
	}
	f.n.Add(-1)
	f.m.liveSubscribers.Dec()
}

// SubscribeCall follows the live call id of org on this node; another
// organization's call, or one not in progress here, is ErrCallNotLive.
// The first event is a LiveSnapshot of the call, the last LiveEnded (or
// LiveDropped for a subscriber that falls behind by
// Config.LiveEventBuffer events). Close it when done.
func (e *Engine) SubscribeCall(org store.OrgID, id CallID) (*Subscription, error) {
	return e.registry.subscribeCall(org, id, e.cfg.LiveEventBuffer)
}

// SubscribeLive follows org's live calls on this node: a LiveSnapshot of
// them, then each call's LiveStarted, LiveState, LivePrediction and
// LiveEnded. A draining engine refuses with ErrDraining, and ends the
// subscriptions with LiveDropped once its calls are over. Close it when done.
func (e *Engine) SubscribeLive(org store.OrgID) (*Subscription, error) {
	if e.draining.Load() {
		return nil, ErrDraining
	}
	return e.registry.subscribeLive(org, e.cfg.LiveEventBuffer)
}

func (r *Registry) subscribeCall(org store.OrgID, id CallID, buffer int) (*Subscription, error) {
	r.mu.RLock()
	e, ok := r.calls[id]
	r.mu.RUnlock()
	if !ok || e.info.OrgID != org {
		return nil, ErrCallNotLive
	}
	return e.feed.subscribe(org, buffer, ErrCallNotLive, func() LiveEvent {
		info := e.snapshot()
		return LiveEvent{CallID: id, OrgID: org, State: info.State, Resolution: info.Resolution,
			EscalationRisk: info.EscalationRisk, Call: &info}
	})
}

func (r *Registry) subscribeLive(org store.OrgID, buffer int) (*Subscription, error) {
	// Under the registry's lock, calls can neither start nor end between
	// the snapshot and the first event after it.
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.live.subscribe(org, buffer, ErrDraining, func() LiveEvent {
		calls := make([]CallInfo, 0, len(r.calls))
		for _, e := range r.calls {
			if e.info.OrgID == org {
				calls = append(calls, e.snapshot())
			}
		}
		SortCalls(calls)
		return LiveEvent{OrgID: org, Calls: calls}
	})
}

// endLive ends the live list's subscriptions: the engine has drained and
// takes no more calls.
func (r *Registry) endLive() {
	r.live.end(LiveEvent{Kind: LiveDropped, Reason: DroppedDraining})
}

// watched reports whether anyone follows the call: the session checks it
// before it builds an event.
func (s *Session) watched() bool { return s.entry.feed.listening() }

// emit publishes ev to the call's subscribers. Only the run goroutine calls it.
func (s *Session) emit(ev LiveEvent) {
	ev.CallID, ev.OrgID, ev.At = s.id, s.entry.info.OrgID, time.Now()
	s.entry.feed.publish(ev)
}

// followed reports whether anyone follows the call or the live list: the
// session checks it before it builds a change of state or prediction.
func (s *Session) followed() bool { return s.watched() || s.eng.registry.live.listening() }

// emitListed publishes ev to the call's subscribers and to its
// organization's live list: a change of state or prediction.
func (s *Session) emitListed(ev LiveEvent) {
	live := s.eng.registry.live
	call, list := s.watched(), live.listening()
	ev.CallID, ev.OrgID, ev.At = s.id, s.entry.info.OrgID, time.Now()
	if call {
		s.entry.feed.publish(ev)
	}
	if list {
		live.publish(ev)
	}
}
