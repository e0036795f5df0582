package session

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/escalate"
	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/store"
)

// A draining node moves its calls instead of ending them: each call's
// state is handed to the node that takes the call's new media stream
// (Telnyx's streaming_start, asked for by the Mover), and the call goes on
// there: same conversation, no second greeting. The move is asked for
// between turns, while the caller listens and the agent is silent; from
// the moment its state is taken the session starts no reply, so that the
// two nodes never answer at once.

// Resume is the state of a call that moves to another node. It holds the
// call's transcript and the caller's number: personal data, kept in Redis
// only for the moment of the move.
type Resume struct {
	CallID        CallID            `json:"call_id"`
	OrgID         store.OrgID       `json:"org_id"`
	AgentID       store.AgentID     `json:"agent_id"`
	CallControlID string            `json:"call_control_id"`
	CallSessionID string            `json:"call_session_id,omitempty"`
	From          store.PhoneNumber `json:"from,omitempty"`
	To            store.PhoneNumber `json:"to,omitempty"`
	// StreamID is the stream the call leaves (stopped once it has moved).
	StreamID  string    `json:"stream_id,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Nonce is the single-use nonce of the new stream's token, set by the
	// Mover.
	Nonce        string               `json:"nonce,omitempty"`
	History      []ai.Message         `json:"history,omitempty"`
	Record       []Turn               `json:"record,omitempty"`
	Events       []Event              `json:"events,omitempty"`
	PatternsUsed []store.PatternID    `json:"patterns_used,omitempty"`
	Escalation   escalate.State       `json:"escalation"`
	Prediction   predict.TrackerState `json:"prediction"`
	CallerTurns  int                  `json:"caller_turns,omitempty"`
	NextTurn     int                  `json:"next_turn,omitempty"`
	Role         SupervisorRole       `json:"role,omitempty"`
	Stats        CallStats            `json:"stats"`
	// Whispers are a supervisor's guidance waiting for the next reply.
	Whispers []string `json:"whispers,omitempty"`
	// Recovered: the call's node was lost, and this is its last
	// checkpoint; the caller has been in silence since, and is asked
	// whether they are still there.
	Recovered bool `json:"recovered,omitempty"`
}

// Checkpointer keeps each call's state as of its last finished turn, so
// that another node can resume the call if this one is lost
// (session/cluster implements it). Checkpoint is called on the call's run
// loop and must not block; r is the session's to give away.
type Checkpointer interface {
	Checkpoint(r Resume)
}

// Mover moves calls between nodes (session/cluster implements it).
type Mover interface {
	// Move hands r to the node that will hold the call next, asks Telnyx
	// for the new stream, and returns once another node holds the call.
	Move(ctx context.Context, r Resume) error
	// Release stops the call's old stream at Telnyx once this node has let
	// the call go.
	Release(ctx context.Context, callControlID, streamID string) error
	// Take returns the state of moved call id for the new stream whose
	// token carries nonce, once.
	Take(ctx context.Context, id CallID, nonce string) (Resume, error)
}

// ErrNotMoved says a call could not be moved (no Mover, no Call Control
// id, or the new node did not take it in time).
var ErrNotMoved = errors.New("session: the call was not moved")

// moveReq asks the run loop for the call's state (reply gets nil when the
// call is busy: a reply in flight, the caller speaking), or, with abort,
// to go on answering after a move failed.
type moveReq struct {
	reply chan *Resume
	abort bool
}

// onMoveReq answers a moveReq in the run loop. A call is moved only
// between turns, the caller listening, no escalation under way, and no
// supervisor's voice on it (a barge or a takeover stays where the
// supervisor's microphone is).
func (s *Session) onMoveReq(ctx context.Context, r moveReq) {
	if r.abort {
		s.moveMu.Lock()
		s.moving = false
		s.movingNow.Store(false)
		s.moveMu.Unlock()
		if s.streamGone {
			// The old stream was stopped for a new one that never came:
			// nothing carries the call here any more.
			s.log.Warn("the call's stream was stopped for a move that failed: ending the call")
			s.end(EndDrain)
			return
		}
		s.maybeAnswer(ctx) // words the caller said meanwhile
		return
	}
	// The supervision commands queued so far are carried out first, into
	// the state; from the moment it is taken, new ones are refused
	// (ErrCallMoving) and asked again of the node that takes the call.
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	for queued := true; queued; {
		select {
		case c := <-s.superv:
			s.onSupervise(ctx, c)
		default:
			queued = false
		}
	}
	role := s.entry.role()
	if s.moving || s.ending != "" || s.turn != nil || s.utterance.active || !s.awaitText.IsZero() || len(s.pending) > 0 ||
		s.escalation != "" || s.pendingEscalation != "" || s.state != StateListening || role == RoleBarge || role == RoleTakeover {
		r.reply <- nil
		return
	}
	s.moving = true
	s.movingNow.Store(true)
	r.reply <- s.snapshot(role)
}

// snapshot is the call's state for another node. Its slices are copies:
// the run loop goes on (a late sentiment score writes into the record)
// while the state is marshalled elsewhere.
func (s *Session) snapshot(role SupervisorRole) *Resume {
	return &Resume{CallID: s.id, OrgID: s.agent.OrgID, AgentID: s.agent.ID, CallControlID: s.start.CallControlID,
		CallSessionID: s.start.CallSessionID, From: store.PhoneNumber(s.start.From), To: store.PhoneNumber(s.start.To),
		StreamID: s.start.StreamID, StartedAt: s.begun, History: slices.Clone(s.history), Record: slices.Clone(s.record),
		Events: slices.Clone(s.events), PatternsUsed: slices.Clone(s.patternsUsed), Escalation: s.policy.State(),
		Prediction: s.tracker.State(), CallerTurns: s.callerTurns, NextTurn: s.nextTurn, Role: role, Stats: s.stats,
		Whispers: slices.Clone(s.whispers)}
}

// checkpoint gives the call's state to the Checkpointer at the end of a
// turn: what a node that survives this one resumes the call from. A call
// that is ending, moving or has a Call Control command of its own under
// way (an escalation) is not checkpointed: it could not be resumed as it
// is.
func (s *Session) checkpoint() {
	cp := s.eng.deps.Checkpoints
	if cp == nil || s.start.CallControlID == "" || s.ending != "" || s.moving || s.escalation != "" {
		return
	}
	cp.Checkpoint(*s.snapshot(s.entry.role()))
}

// restore puts a moved call's state into a session that has not run yet.
func (s *Session) restore(r *Resume) {
	s.resumed, s.recovered = true, r.Recovered
	s.history, s.record, s.events, s.patternsUsed = r.History, r.Record, r.Events, r.PatternsUsed
	s.policy.Restore(r.Escalation)
	s.tracker.Restore(r.Prediction)
	s.callerTurns, s.nextTurn = r.CallerTurns, r.NextTurn
	if len(r.Whispers) > 0 {
		s.whispers = r.Whispers
		s.whispersWaiting.Add(int32(min(len(r.Whispers), maxPendingWhispers)))
	}
	s.stats.BargeIns, s.stats.DTMF = r.Stats.BargeIns, r.Stats.DTMF
	if r.Role.Valid() {
		s.entry.setRole(r.Role)
	}
}

// moveConcurrency is how many calls a draining node moves at once.
const moveConcurrency = 8

// moveAttempts is how many times a call's move is tried before it is left
// to end at the drain deadline.
const moveAttempts = 3

// moveCalls moves every live call to other nodes until ctx ends or none
// is left; calls that cannot be moved end at the drain's deadline.
func (e *Engine) moveCalls(ctx context.Context) {
	var (
		mu       sync.Mutex
		inflight = make(map[CallID]bool)
		tries    = make(map[CallID]int)
		sem      = make(chan struct{}, moveConcurrency)
		wg       sync.WaitGroup
	)
	defer wg.Wait()
	if d := e.cfg.MoveDelay; d > 0 {
		t := time.NewTimer(d) // until the load balancer sends this node no more streams
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, s := range e.registry.sessions() {
			mu.Lock()
			skip := inflight[s.id] || tries[s.id] >= moveAttempts
			mu.Unlock()
			if skip || s.start.CallControlID == "" {
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // the others next tick
			}
			r := s.askMove()
			if r == nil {
				<-sem
				continue
			}
			mu.Lock()
			inflight[s.id] = true
			tries[s.id]++
			mu.Unlock()
			wg.Go(func() {
				ok := e.moveOne(ctx, s, *r, func() { <-sem })
				mu.Lock()
				defer mu.Unlock()
				if ok {
					tries[s.id] = moveAttempts // done
				}
				delete(inflight, s.id)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if e.registry.Len() == 0 {
			return
		}
	}
}

// askMove asks the session's run loop for its state; nil when it is busy
// or did not answer at once.
func (s *Session) askMove() *Resume {
	reply := make(chan *Resume, 1)
	if !offer(s, s.moves, moveReq{reply: reply}) {
		return nil
	}
	select {
	case r := <-reply:
		return r
	case <-s.runDone:
		return nil
	case <-time.After(250 * time.Millisecond):
		// The run loop is busy; its answer is read and dropped below.
		go func() { // ends when the run loop answers or ends
			select {
			case r := <-reply:
				if r != nil {
					s.abortMove()
				}
			case <-s.runDone:
			}
		}()
		return nil
	}
}

func (s *Session) abortMove() {
	deliver(s, s.moves, moveReq{abort: true}, s.runDone)
}

// moveOne moves one call whose state r was taken, and lets it go here;
// moved is called once the move has been decided either way (its slot is
// free for the next). A move under way is let finish past the drain's
// deadline (ctx): its state may be taken by the other node already.
func (e *Engine) moveOne(ctx context.Context, s *Session, r Resume, moved func()) bool {
	start := time.Now()
	err := e.deps.Mover.Move(context.WithoutCancel(ctx), r)
	moved()
	if err != nil {
		e.metrics.moves.WithLabelValues("failed").Inc()
		if ctx.Err() != nil {
			s.log.Warn("call not moved, and the drain deadline has passed: ending it", "err", err)
			s.endNow(EndDrain)
		} else {
			s.log.Warn("call not moved; it goes on here, to be tried again", "err", err)
		}
		s.abortMove()
		return false
	}
	// The new node holds the call: this session ends without a record or
	// a word to Telnyx, then the old stream is stopped.
	s.endNow(EndMoved)
	select {
	case <-s.runDone:
	case <-time.After(5 * time.Second):
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callControlTimeout)
	if err := e.deps.Mover.Release(rctx, r.CallControlID, r.StreamID); err != nil {
		s.log.Warn("the moved call's old stream was not stopped at Telnyx; closing it", "err", err)
	}
	cancel()
	close(s.released)
	e.metrics.moves.WithLabelValues("moved").Inc()
	e.metrics.moveTime.Observe(time.Since(start).Seconds())
	s.log.Info("call moved to another node", "took", time.Since(start).Round(time.Millisecond).String())
	return true
}

// endNow ends the call for r: through its own channel, which nothing else
// fills, so that the end a move decides is never lost to a command queued
// before it (Engine.command drops an end when one is pending).
func (s *Session) endNow(r EndReason) {
	offer(s, s.moveEnd, r) // false: decided already
}
