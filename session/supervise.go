package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/vad"
	"github.com/iace/iace/store"
)

// A supervisor of a live call has a role, which says where their voice
// goes. It is switched by a command (Engine.Supervise), never by a new
// WebRTC negotiation: the supervisor's microphone, when they opened one
// (Engine.Voice), keeps flowing and the call decides what to do with it.
//
//   - monitor: they only listen; their microphone reaches nobody.
//   - whisper: they guide the AI by typed text (Engine.Whisper), which
//     the model gets on its next turn; the caller hears nothing of it.
//   - barge: the caller hears the supervisor and the AI both, never at
//     once: when the supervisor starts speaking, the AI's reply stops (as
//     at a caller's barge-in) and the AI holds its next reply until the
//     supervisor has finished.
//   - takeover: the AI stops and stays silent; the supervisor has the
//     call, and the caller's words go to the transcript unanswered, until
//     the supervisor hands it back (another role) or leaves (their
//     microphone closes: the call goes back to monitor and the AI).
//
// In barge and takeover the caller hears the supervisor's microphone while
// a voice detector (media/vad, with its hangover) says they are speaking,
// as the caller's own speech is detected: pauses are not sent, so a
// telephone line and a simulated caller hear the ends of their sentences.
//
// Every switch is an event in the call's record and live events.

// SupervisorRole is what a supervisor's voice does on a live call.
type SupervisorRole string

// The roles, as Telnyx names the first three (switch_supervisor_role).
const (
	RoleMonitor  SupervisorRole = "monitor"
	RoleWhisper  SupervisorRole = "whisper"
	RoleBarge    SupervisorRole = "barge"
	RoleTakeover SupervisorRole = "takeover"
)

// supervisorRoles by their number in registryEntry.role; monitor, the
// role of every call until a supervisor switches it, is 0.
var supervisorRoles = [...]SupervisorRole{RoleMonitor, RoleWhisper, RoleBarge, RoleTakeover}

// Valid reports whether r is one of the roles.
func (r SupervisorRole) Valid() bool { return r.number() >= 0 }

func (r SupervisorRole) number() int32 {
	for i, x := range supervisorRoles {
		if x == r {
			return int32(i)
		}
	}
	return -1
}

// MaxWhisperBytes caps one whisper's text; a call keeps at most
// maxPendingWhispers of them waiting for the model's next turn.
const (
	MaxWhisperBytes    = 1000
	maxPendingWhispers = 8
)

// Errors of the supervision commands.
var (
	// ErrInvalidRole: not monitor, whisper, barge or takeover.
	ErrInvalidRole = errors.New("session: the role must be monitor, whisper, barge or takeover")
	// ErrInvalidWhisper: empty, longer than MaxWhisperBytes or not UTF-8.
	ErrInvalidWhisper = errors.New("session: a whisper is 1 to 1000 bytes of UTF-8 text")
	// ErrSupervisorBusy: the call has too many commands or whispers
	// waiting; retry in a moment.
	ErrSupervisorBusy = errors.New("session: too many supervisor commands waiting on the call")
	// ErrVoiceTaken: another supervisor's microphone is open on the call.
	ErrVoiceTaken = errors.New("session: another supervisor is already talking on this call")
	// ErrCallMoving: the call is moving to another node (its state has
	// been handed over); ask again in a moment, where it will be.
	ErrCallMoving = errors.New("session: the call is moving to another node; ask again")
)

// whisperPrefix introduces a whisper to the model.
const whisperPrefix = "Guidance from a human supervisor, for you only (the caller does not hear it): "

// handBackNote tells the model that a supervisor had the call.
const handBackNote = "A human supervisor talked with the caller directly and has now handed the call back to you. " +
	"Go on from where they left off."

type superKind uint8

const (
	superRole       superKind = iota + 1
	superWhisper              // text
	superVoiceStart           // the supervisor began speaking (barge)
	superVoiceEnd             // ... and stopped
	superVoiceGone            // their microphone closed
)

type superCmd struct {
	kind superKind
	role SupervisorRole
	text string
}

// superQueue is how many supervision commands may wait for the call's
// run loop: a human clicks, a microphone speaks up and stops.
const superQueue = 8

// liveSession is the live call id of org on this node.
// A call of another organization is ErrCallNotFound, exactly like one
// that does not exist; the organization's own call that ended here lately
// is ErrCallEnded.
func (e *Engine) liveSession(org store.OrgID, id CallID) (*Session, error) {
	info, ok := e.registry.Get(id)
	if !ok || info.OrgID != org {
		if e.registry.endedHere(org, id) {
			return nil, ErrCallEnded
		}
		return nil, ErrCallNotFound
	}
	s := e.registry.session(id)
	if s == nil || s.tap.isEnded() {
		return nil, ErrCallEnded
	}
	return s, nil
}

// Supervise switches the supervisor role of org's live call id. Switching
// to the role the call has already is not an error and records nothing.
// Errors: ErrInvalidRole, ErrCallNotFound, ErrSupervisorBusy.
func (e *Engine) Supervise(org store.OrgID, id CallID, role SupervisorRole) error {
	if !role.Valid() {
		return ErrInvalidRole
	}
	s, err := e.liveSession(org, id)
	if err != nil {
		return err
	}
	return s.superCmd(superCmd{kind: superRole, role: role})
}

// Whisper gives org's live call id guidance for the AI, added to the
// model's context on its next turn. Errors: ErrInvalidWhisper,
// ErrCallNotFound, ErrSupervisorBusy.
func (e *Engine) Whisper(org store.OrgID, id CallID, text string) error {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > MaxWhisperBytes || !utf8.ValidString(text) {
		return ErrInvalidWhisper
	}
	s, err := e.liveSession(org, id)
	if err != nil {
		return err
	}
	if s.whispersWaiting.Add(1) > maxPendingWhispers {
		s.whispersWaiting.Add(-1)
		return ErrSupervisorBusy
	}
	if err := s.superCmd(superCmd{kind: superWhisper, text: text}); err != nil {
		s.whispersWaiting.Add(-1)
		return err
	}
	return nil
}

// SupervisorRole is the current role of org's live call id.
func (e *Engine) SupervisorRole(org store.OrgID, id CallID) (SupervisorRole, error) {
	s, err := e.liveSession(org, id)
	if err != nil {
		return "", err
	}
	return s.entry.role(), nil
}

// superCmd hands c to the run loop without waiting.
func (s *Session) superCmd(c superCmd) error {
	// Under moveMu, so that a command is either queued before the call's
	// state is taken for a move (which carries it out first) or refused.
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	if s.movingNow.Load() {
		return ErrCallMoving
	}
	if !offer(s, s.superv, c) {
		return ErrSupervisorBusy
	}
	return nil
}

// onSupervise carries out a supervision command on the run goroutine.
func (s *Session) onSupervise(ctx context.Context, c superCmd) {
	role := s.entry.role()
	switch c.kind {
	case superRole:
		s.switchRole(ctx, c.role, "")
	case superWhisper:
		s.whispers = append(s.whispers, c.text) // at most maxPendingWhispers: Whisper counts them
		s.addEvent(EventWhisper, "")
		if s.watched() {
			s.emit(LiveEvent{Kind: LiveWhisper, Text: c.text})
		}
		s.log.Info("supervisor whispered", "waiting", len(s.whispers))
	case superVoiceStart:
		s.log.Debug("supervisor speaking", "role", string(role), "agent_talking", s.agentTalking())
		if role == RoleBarge && !s.floor.Load() {
			s.silenceAgent()
			s.floor.Store(true)
		}
	case superVoiceEnd:
		s.log.Debug("supervisor stopped speaking", "role", string(role))
		if role == RoleBarge && s.floor.Load() {
			s.floor.Store(false)
			s.maybeAnswer(ctx) // what the caller said meanwhile
		}
	case superVoiceGone:
		if role == RoleBarge || role == RoleTakeover {
			s.switchRole(ctx, RoleMonitor, "supervisor_left")
		}
	}
}

// switchRole makes role the call's supervisor role; why, when set, is in
// the log line (the supervisor left).
func (s *Session) switchRole(ctx context.Context, role SupervisorRole, why string) {
	prev := s.entry.role()
	if role == prev || s.ending != "" {
		return
	}
	s.entry.setRole(role)
	s.eng.metrics.roleSwitches.WithLabelValues(string(role)).Inc()
	s.addEvent(EventSupervisorRole, string(role))
	if s.followed() {
		s.emitListed(LiveEvent{Kind: LiveSupervisorRole, Role: role})
	}
	s.log.Info("supervisor role switched", "role", string(role), "was", string(prev), "why", why)
	switch {
	case role == RoleTakeover:
		s.silenceAgent()
		s.floor.Store(true)
	case prev == RoleTakeover:
		s.floor.Store(false)
		s.appendHistory(ai.Message{Role: ai.RoleSystem, Content: handBackNote})
		s.maybeAnswer(ctx)
	case prev == RoleBarge && s.floor.Load():
		s.floor.Store(false)
		s.maybeAnswer(ctx)
	}
}

// silenceAgent stops whatever the agent is saying or about to say, as a
// caller's barge-in does, so that the supervisor is never talked over. The
// playout's generation moves on, so a cancelled turn's audio still in
// flight is dropped, not played after the supervisor's.
func (s *Session) silenceAgent() {
	if s.turn != nil {
		s.stopTurn()
	}
	s.playout.Fence()
}

// agentHeld reports whether the AI must not start a reply: the call is
// taken over, or the supervisor is speaking in a barge.
func (s *Session) agentHeld() bool { return s.floor.Load() }

// takeWhispers adds the whispers waiting to the history, for the request
// about to be made.
func (s *Session) takeWhispers() {
	for _, w := range s.whispers {
		s.appendHistory(ai.Message{Role: ai.RoleSystem, Content: whisperPrefix + w})
	}
	s.whispersWaiting.Add(-int32(len(s.whispers))) //nolint:gosec // G115: at most maxPendingWhispers
	s.whispers = s.whispers[:0]
}

// Voice is a supervisor's microphone on a live call, opened by
// Engine.Voice: WebRTC hands it the supervisor's audio frame by frame, and
// the call's role decides whether the caller hears it. One supervisor may
// talk on a call at a time.
type Voice struct {
	s *Session
	// Owned by the goroutine calling Audio.
	vad     *vad.Detector
	pcm     []int16
	pend    []byte // audio kept until the supervisor has the floor
	maxPend int
	asked   bool // a start was sent and no end since
	// gone is guarded by s.voiceMu.
	gone bool
}

// Voice opens a supervisor's microphone on org's live call id. Errors:
// ErrCallNotFound, ErrNotStreaming (as Monitor), ErrVoiceTaken.
func (e *Engine) Voice(org store.OrgID, id CallID) (*Voice, error) {
	mc, err := e.Monitor(org, id)
	if err != nil {
		return nil, err
	}
	s := mc.s
	d, err := vad.New(e.cfg.VAD, s.in.SampleRate)
	if err != nil {
		return nil, err
	}
	v := &Voice{s: s, vad: d, pcm: make([]int16, s.in.FrameBytes()/max(1, s.in.Encoding.BytesPerSample())),
		// Kept while the floor is asked for: the start of what the
		// supervisor said, which the detector needed to hear first.
		maxPend: s.in.BytesPer(e.cfg.VAD.MinSpeech + 4*media.FrameDuration)}
	s.voiceMu.Lock()
	defer s.voiceMu.Unlock()
	if s.voice != nil {
		return nil, ErrVoiceTaken
	}
	s.voice = v
	return v, nil
}

// ID is the call's id.
func (v *Voice) ID() CallID { return v.s.id }

// Format is the format Audio takes: the call's.
func (v *Voice) Format() media.Format { return v.s.in }

// Done is closed when the call has ended.
func (v *Voice) Done() <-chan struct{} { return v.s.tap.doneChan() }

// Audio takes one 20 ms frame of the supervisor's microphone, in the
// call's format. It is called by one goroutine (the WebRTC receiver's),
// never after Close, and never blocks.
func (v *Voice) Audio(frame []byte) {
	s := v.s
	// The detector hears every frame, whatever the role, so that its
	// noise floor is the microphone's own when a barge begins.
	n := media.DecodeTo(v.pcm, frame, s.in.Encoding)
	ev := v.vad.Process(v.pcm[:n])
	role := s.entry.role()
	if role != RoleBarge && role != RoleTakeover {
		v.pend = v.pend[:0]
		if v.asked { // the role changed while they spoke
			v.asked = !v.send(superVoiceEnd)
		}
		return
	}
	if role == RoleBarge {
		switch {
		case ev == vad.EventSpeechStart || v.vad.Speaking() && !v.asked:
			v.asked = v.send(superVoiceStart) // retried on the next frame if the queue was full
		case ev == vad.EventSpeechEnd && v.asked:
			v.asked = !v.send(superVoiceEnd)
		}
	}
	// The caller hears the supervisor while they speak (the detector's
	// hangover bridges the pauses between words) and once the run loop
	// has given them the floor; the start of what they said, which the
	// detector needed to hear first, is kept until then.
	if !v.vad.Speaking() || !s.floor.Load() {
		v.keep(frame)
		return
	}
	if len(v.pend) > 0 {
		s.playout.Write(s.playout.Generation(), v.pend)
		s.eng.metrics.supervisorFrames.Add(float64(len(v.pend) / s.in.FrameBytes()))
		v.pend = v.pend[:0]
	}
	s.playout.Write(s.playout.Generation(), frame)
	s.eng.metrics.supervisorFrames.Inc()
}

// keep holds frame in the pre-roll, dropping its oldest audio beyond maxPend.
func (v *Voice) keep(frame []byte) {
	v.pend = append(v.pend, frame...)
	if over := len(v.pend) - v.maxPend; over > 0 {
		fb := v.s.in.FrameBytes()
		over = (over + fb - 1) / fb * fb
		v.pend = v.pend[:copy(v.pend, v.pend[over:])]
	}
}

// send hands a voice command to the run loop; false when the queue is
// full (the caller retries on a later frame).
func (v *Voice) send(k superKind) bool { return v.s.superCmd(superCmd{kind: k}) == nil }

// Close ends the supervisor's microphone: the call may take another, and
// a barge or takeover goes back to monitor, the AI having the call again.
// It is idempotent.
func (v *Voice) Close() {
	s := v.s
	s.voiceMu.Lock()
	if v.gone {
		s.voiceMu.Unlock()
		return
	}
	v.gone = true
	if s.voice == v {
		s.voice = nil
	}
	s.voiceMu.Unlock()
	deliver(s, s.superv, superCmd{kind: superVoiceGone}, s.tap.doneChan())
}

// voiceState is a session's microphone slot, and the count of whispers
// sent and not yet taken by a reply.
type voiceState struct {
	voiceMu         sync.Mutex
	voice           *Voice
	whispersWaiting atomic.Int32
}
