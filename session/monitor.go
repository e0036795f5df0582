package session

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/iace/iace/media"
	"github.com/iace/iace/store"
)

// Tap receives a live call's audio while a supervisor listens in
// (media/rtc's Monitor implements it). Its methods are called on the
// call's media path, so they must not block: an implementation copies the
// audio into its own buffer, or drops it and counts the drop.
type Tap interface {
	// CallerAudio is one 20 ms frame of the caller, in the call's format,
	// called by the stream's reader goroutine after reordering (a lost
	// frame comes as concealment silence).
	CallerAudio(frame []byte)
	// AgentAudio is agent audio as it is sent to the caller: whole 20 ms
	// frames in the call's format, called by the pacer's goroutine, up to
	// the pacer's lead ahead of what the caller hears. It copies what it
	// keeps: the pacer reuses the buffer.
	AgentAudio(audio []byte)
	// AgentCleared says that the agent's audio not yet played was dropped
	// (a barge-in): what was handed to AgentAudio and not yet heard never
	// will be. Called by the pacer's goroutine, in order with AgentAudio.
	AgentCleared()
}

// Errors of Engine.Monitor.
var (
	// ErrCallNotFound: no live call with that id in the organization on
	// this node (never started, ended, another organization's).
	ErrCallNotFound = errors.New("session: no such live call")
	// ErrCallEnded is ErrCallNotFound for a call of the organization that
	// ended on this node lately: not one still to come.
	ErrCallEnded = fmt.Errorf("%w: it has ended", ErrCallNotFound)
	// ErrNotStreaming: the call is live but its media has not started yet;
	// retry in a moment.
	ErrNotStreaming = errors.New("session: the call's media has not started yet")
)

// tapSlot holds the tap; the pointer to it is swapped atomically.
type tapSlot struct{ t Tap }

// tapPoint is where a call hands its audio to a tap. Without a tap the
// media path pays one atomic load per frame and nothing else. Setting and
// removing a tap, and the call's end, are rare and take mu.
type tapPoint struct {
	cur   atomic.Pointer[tapSlot]
	mu    sync.Mutex
	ended bool
	done  chan struct{} // made on first use; closed at the call's end
}

// tap returns the current tap, nil when there is none.
func (p *tapPoint) tap() Tap {
	if s := p.cur.Load(); s != nil {
		return s.t
	}
	return nil
}

func (p *tapPoint) set(t Tap) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	if t == nil {
		p.cur.Store(nil)
		return
	}
	p.cur.Store(&tapSlot{t: t})
}

// remove takes t off the call if it is still the call's tap: a monitor
// leaving must not remove the one that replaced it.
func (p *tapPoint) remove(t Tap) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.cur.Load(); s != nil && s.t == t {
		p.cur.Store(nil)
	}
}

// doneChan is closed when the call has ended.
func (p *tapPoint) doneChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		p.done = make(chan struct{})
		if p.ended {
			close(p.done)
		}
	}
	return p.done
}

// end removes the tap for good and closes the done channel.
func (p *tapPoint) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	p.cur.Store(nil)
	if p.done != nil {
		close(p.done)
	}
}

func (p *tapPoint) isEnded() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended
}

// tappedOutput is a call's media output that also hands the agent's audio
// to the call's tap, after it was written to the caller, on the pacer's
// goroutine.
type tappedOutput struct {
	media.Output
	tap *tapPoint
}

// WriteAudio writes audio to the caller, then to the tap if there is one.
func (o *tappedOutput) WriteAudio(audio []byte) error {
	err := o.Output.WriteAudio(audio)
	if t := o.tap.tap(); t != nil && err == nil {
		t.AgentAudio(audio)
	}
	return err
}

// WriteClear clears the caller's playback, and tells the tap.
func (o *tappedOutput) WriteClear() error {
	err := o.Output.WriteClear()
	if t := o.tap.tap(); t != nil {
		t.AgentCleared()
	}
	return err
}

// MonitoredCall is a live call a supervisor may listen to (Engine.Monitor).
type MonitoredCall struct {
	s *Session
}

// ID is the call's id.
func (c *MonitoredCall) ID() CallID { return c.s.id }

// Format is the format of the audio a tap receives: the call's own, on
// both sides (replies are synthesized in the caller's codec).
func (c *MonitoredCall) Format() media.Format { return c.s.in }

// Done is closed when the call has ended; from then on the call has no tap.
func (c *MonitoredCall) Done() <-chan struct{} { return c.s.tap.doneChan() }

// SetTap makes t the call's tap, in place of any other; nil removes it.
// It does nothing once the call has ended.
func (c *MonitoredCall) SetTap(t Tap) { c.s.tap.set(t) }

// RemoveTap removes t if it is still the call's tap.
func (c *MonitoredCall) RemoveTap(t Tap) { c.s.tap.remove(t) }

// Monitor returns the live call id of org, for a supervisor to listen to.
// A call of another organization is not found, exactly like a call that
// does not exist or has ended; a call whose session has not started its
// conversation yet is ErrNotStreaming.
func (e *Engine) Monitor(org store.OrgID, id CallID) (*MonitoredCall, error) {
	s, err := e.liveSession(org, id)
	if err != nil {
		return nil, err
	}
	if s.entry.snapshot().State == StateStarting {
		return nil, ErrNotStreaming
	}
	return &MonitoredCall{s: s}, nil
}
