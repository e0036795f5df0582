package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/loadtest/callsim/audio"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
)

// A follower is a caller whose call may move from node to node, as Telnyx
// carries a call when a node asks Call Control for streaming_start: it
// opens the new media stream the command names (through the load balancer,
// where the stream URL points), sends the caller's audio to every stream
// open, plays what any of them sends, and closes a stream when
// streaming_stop names it. callsim's calls hold one stream each and cannot
// follow; the rolling restart needs callers that do. It speaks its lines
// as callsim does (recorded speech, a reply awaited after each line) and
// measures what a move costs the caller.

// followerScript is what a follower says, over and over: lines the offline
// agent answers, none of which ends the call.
var followerScript = []string{"what are your opening hours", "how much does it cost"}

// followerTiming are a follower's waits, as callsim's defaults.
type followerTiming struct {
	Quiet, Pause, ReplyTimeout, GreetingTimeout, ReopenWait time.Duration
}

var defaultFollowerTiming = followerTiming{Quiet: 800 * time.Millisecond, Pause: 400 * time.Millisecond,
	ReplyTimeout: 10 * time.Second, GreetingTimeout: 10 * time.Second, ReopenWait: 3 * time.Second}

// clips are the caller's lines as base64 PCMU frames.
type clips struct {
	silence string
	lines   [][]string
}

func loadClips(texts []string) (*clips, error) {
	var raw [160]byte
	media.EncodingPCMU.FillSilence(raw[:])
	c := &clips{silence: base64.StdEncoding.EncodeToString(raw[:])}
	for _, t := range texts {
		name := strings.ReplaceAll(t, " ", "_") + ".wav"
		f, err := audio.FS.Open(name)
		if err != nil {
			return nil, fmt.Errorf("clip %q: %w", t, err)
		}
		pcm, rate, err := media.ReadWAV(f)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("clip %q: %w", t, err)
		}
		if rate != 8000 {
			return nil, fmt.Errorf("clip %q: %d Hz, want 8000", t, rate)
		}
		var frames []string
		for i := 0; i < len(pcm); i += 160 {
			media.EncodingPCMU.FillSilence(raw[:])
			media.EncodeULawTo(raw[:], pcm[i:min(i+160, len(pcm))])
			frames = append(frames, base64.StdEncoding.EncodeToString(raw[:]))
		}
		c.lines = append(c.lines, frames)
	}
	return c, nil
}

// followResult is what one follower's call came to.
type followResult struct {
	N       int       `json:"n"`
	CCID    string    `json:"call_control_id"`
	Started time.Time `json:"started_at"`
	Ended   time.Time `json:"ended_at"`
	// Outcome: completed (every line said, the caller hung up), cut (the
	// last stream was closed by the far end, no new one opened within
	// ReopenWait, lines left), ended (the agent hung up or transferred) or
	// failed (never connected, or no greeting).
	Outcome string    `json:"outcome"`
	Error   string    `json:"error,omitempty"`
	CutAt   time.Time `json:"cut_at,omitzero"`
	// Greeted: the greeting had played and the agent fell quiet.
	Greeted time.Time       `json:"greeted_at,omitzero"`
	Moves   []moveResult    `json:"moves,omitempty"`
	Turns   int             `json:"turns"`
	NoReply int             `json:"no_reply"`
	Replies []time.Duration `json:"-"`
	// AfterMove are the reply latencies of the first line after each move
	// (with lostHook, the first line begun on the new stream).
	AfterMove []time.Duration `json:"-"`
	// LinesAfterMove are the lines begun once the call's latest new stream
	// had opened; NoReplyAfterMove, those of them nothing answered.
	LinesAfterMove   int           `json:"lines_after_move,omitempty"`
	NoReplyAfterMove int           `json:"no_reply_after_move,omitempty"`
	Late             int           `json:"late_messages"`
	LateTime         time.Duration `json:"-"`
	// FailedPosts are the streaming.failed webhooks posted for the call's
	// streams (with lostHook).
	FailedPosts []failedPost `json:"streaming_failed,omitempty"`
}

// failedPost is a streaming.failed webhook posted for a stream the far end
// closed while the call went on.
type failedPost struct {
	StreamID string    `json:"stream_id"`
	Closed   time.Time `json:"closed_at"`
	Posted   time.Time `json:"posted_at"`
	Code     int       `json:"code"`
	Attempts int       `json:"attempts"`
	Err      string    `json:"error,omitempty"`
}

// moveResult is one move as the caller lived it.
type moveResult struct {
	// Requested: streaming_start reached Telnyx; Opened: the new stream's
	// start frame was sent; OldClosed: the stream it replaced closed.
	Requested time.Time `json:"requested_at"`
	Opened    time.Time `json:"opened_at"`
	OldClosed time.Time `json:"old_closed_at,omitzero"`
	Failed    string    `json:"failed,omitempty"`
}

// Gap is how long the caller had no stream open across the move (0 when
// the new stream opened before the old one closed).
func (m moveResult) Gap() time.Duration {
	if m.OldClosed.IsZero() || m.Opened.IsZero() || !m.OldClosed.Before(m.Opened) {
		return 0
	}
	return m.Opened.Sub(m.OldClosed)
}

// Switch is from the command to the new stream's start.
func (m moveResult) Switch() time.Duration {
	if m.Opened.IsZero() {
		return 0
	}
	return m.Opened.Sub(m.Requested)
}

// fstream is one media stream of a follower's call.
type fstream struct {
	id     string
	conn   *websocket.Conn
	wmu    sync.Mutex
	seq    int64
	opened time.Time
	closed time.Time // zero while open
	// byCaller: Telnyx closed it (streaming_stop, the call's end); else the
	// node did.
	byCaller bool
	// failPosted: streaming.failed was posted for it.
	failPosted bool
}

func (s *fstream) write(msg []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return s.conn.WriteMessage(websocket.TextMessage, msg)
}

// Follower states.
const (
	fGreeting = iota // waiting for the greeting to end
	fPause           // thinking before the next line
	fSpeaking
	fWaitReply
	fListening
	fDone
)

// follower is one call.
type follower struct {
	n      int
	ccid   string
	from   string
	to     string
	lines  int // lines to say
	clips  *clips
	timing followerTiming
	dialer *websocket.Dialer
	tel    *fakeTelnyx
	script string
	// lostHook, when set, is where Telnyx's streaming.failed goes (the
	// load balancer's webhook URL) for each stream the far end closes
	// while the call goes on, as for a stream whose node died; the first
	// reply after a move is then the reply to the first line begun on the
	// new stream, not the agent's words that come first on it (a recovered
	// call's reprompt answering a line said into the dead stream).
	lostHook string
	// noPosts: with lostHook, post nothing (Telnyx's webhook lost or
	// late): the call waits for the reaper.
	noPosts bool

	mu          sync.Mutex
	clientState string                               // the answer's, echoed in the call's webhooks
	postFailed  func(s *fstream, closedAt time.Time) // set by runFollower with lostHook
	posts       sync.WaitGroup                       // streaming.failed deliveries under way
	streams     []*fstream
	state       int
	stateAt     time.Time
	line        int
	frame       int
	lineStart   time.Time
	lineEnd     time.Time
	queueEnd    time.Time // when the agent audio received so far has played
	lastMedia   time.Time
	heard       bool // any agent audio yet
	utterance   bool // an agent utterance is playing (for late messages)
	marks       []pendingMark
	noStream    time.Time // when the last open stream closed (zero while one is open)
	movedTurn   bool      // the next reply is the first after a move
	movedAt     time.Time // when the latest new stream opened
	res         followResult
	done        chan struct{}
	closeOnce   sync.Once
}

type pendingMark struct {
	at     time.Time
	name   string
	stream *fstream
}

// runFollower places and holds one call until it ends; hook is where
// Telnyx posts the call's webhooks (the load balancer).
func runFollower(ctx context.Context, f *follower, hook string) followResult {
	f.res = followResult{N: f.n, CCID: f.ccid, Started: time.Now()}
	f.done = make(chan struct{})
	a, cmds, err := f.tel.offer(ctx, hook, f.ccid, f.from, 10*time.Second, true)
	if err != nil {
		f.res.Outcome, f.res.Error, f.res.Ended = "failed", "connect: "+err.Error(), time.Now()
		return f.res
	}
	defer f.tel.unsubscribe(f.ccid)
	f.mu.Lock()
	f.clientState = a.clientState
	if f.lostHook != "" && !f.noPosts {
		f.postFailed = func(s *fstream, closedAt time.Time) {
			f.posts.Go(func() { f.postStreamFailed(ctx, s, closedAt) })
		}
	}
	f.mu.Unlock()
	s, err := f.open(ctx, a.streamURL, nil)
	if err != nil {
		f.res.Outcome, f.res.Error, f.res.Ended = "failed", "connect: "+err.Error(), time.Now()
		return f.res
	}
	f.mu.Lock()
	f.streams = append(f.streams, s)
	f.state, f.stateAt = fGreeting, time.Now()
	f.mu.Unlock()
	go f.read(s)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.watch(cctx, cmds) // ends with cctx
	tick := time.NewTicker(media.FrameDuration)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			f.finish(time.Now(), "failed", "aborted")
		case now := <-tick.C:
			f.tick(now)
		case <-f.done:
		}
		select {
		case <-f.done:
			f.closeAll()
			// The call is done, so no delivery begins any more; those
			// under way are the call's figures.
			f.posts.Wait()
			return f.result()
		default:
		}
	}
}

func (f *follower) result() followResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.res
	r.Moves = slices.Clone(r.Moves)
	r.FailedPosts = slices.Clone(r.FailedPosts)
	return r
}

// open dials a stream and sends connected and start.
func (f *follower) open(ctx context.Context, streamURL string, extra map[string]string) (*fstream, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, res, err := f.dialer.DialContext(dctx, streamURL, http.Header{})
	if res != nil {
		_ = res.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	s := &fstream{id: "chaos-" + strconv.Itoa(f.n) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), conn: conn}
	params := map[string]string{"sim_script": f.script, "sim_call": strconv.Itoa(f.n)}
	for k, v := range extra {
		params[k] = v
	}
	start, err := json.Marshal(map[string]any{"event": "start", "sequence_number": "1", "stream_id": s.id,
		"start": map[string]any{"call_control_id": f.ccid, "call_session_id": "sess-" + f.ccid, "from": f.from, "to": f.to,
			"custom_parameters": params, "media_format": map[string]any{"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := s.write([]byte(`{"event":"connected","version":"1.0.0"}`)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := s.write(start); err != nil {
		_ = conn.Close()
		return nil, err
	}
	s.seq = 1
	s.opened = time.Now()
	return s, nil
}

// watch follows the Call Control commands of the call.
func (f *follower) watch(ctx context.Context, cmds <-chan callcontroltest.Command) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-cmds:
			switch c.Action {
			case "streaming_start":
				f.move(ctx, c)
			case "streaming_stop":
				id, _ := c.Body["stream_id"].(string)
				f.stop(id)
			case "hangup", "transfer":
				// The call leaves the AI: Telnyx ends its streams.
				f.finish(time.Now(), "ended", "")
			}
		}
	}
}

// move opens the stream a streaming_start names.
func (f *follower) move(ctx context.Context, c callcontroltest.Command) {
	m := moveResult{Requested: time.Now()}
	a, err := answerOf(c)
	var s *fstream
	if err == nil {
		extra := map[string]string{}
		if ps, ok := c.Body["custom_parameters"].([]any); ok {
			for _, p := range ps {
				if kv, ok := p.(map[string]any); ok {
					name, _ := kv["name"].(string)
					value, _ := kv["value"].(string)
					extra[name] = value
				}
			}
		}
		s, err = f.open(ctx, a.streamURL, extra)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		m.Failed = err.Error()
		f.res.Moves = append(f.res.Moves, m)
		return
	}
	m.Opened = s.opened
	if old := f.streamBefore(s.opened); old != nil && !old.closed.IsZero() {
		m.OldClosed = old.closed // it closed before the new one opened: a gap
	}
	f.res.Moves = append(f.res.Moves, m)
	f.streams = append(f.streams, s)
	f.noStream = time.Time{}
	f.movedTurn, f.movedAt = true, s.opened
	go f.read(s)
}

// stop closes the stream streaming_stop names (every stream of the call
// when it names none), as Telnyx does: stop, then the close.
func (f *follower) stop(id string) {
	f.mu.Lock()
	var stop []*fstream
	for _, s := range f.streams {
		if s.closed.IsZero() && (s.id == id || id == "") {
			s.byCaller = true
			stop = append(stop, s)
		}
	}
	f.mu.Unlock()
	for _, s := range stop {
		_ = s.write([]byte(`{"event":"stop","stream_id":"` + s.id + `","stop":{"call_control_id":"` + f.ccid + `"}}`))
		_ = s.conn.Close()
	}
}

// read plays what stream s sends until it closes.
func (f *follower) read(s *fstream) {
	for {
		_, msg, err := s.conn.ReadMessage()
		if err != nil {
			f.closed(s, time.Now())
			return
		}
		f.receive(s, msg, time.Now())
	}
}

// inbound is a message from the node.
type inbound struct {
	Event string `json:"event"`
	Media struct {
		Payload string `json:"payload"`
	} `json:"media"`
	Mark struct {
		Name string `json:"name"`
	} `json:"mark"`
}

func (f *follower) receive(s *fstream, msg []byte, now time.Time) {
	var m inbound
	if json.Unmarshal(msg, &m) != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch m.Event {
	case "media":
		n := base64.StdEncoding.DecodedLen(len(m.Media.Payload))
		if strings.HasSuffix(m.Media.Payload, "==") {
			n -= 2
		} else if strings.HasSuffix(m.Media.Payload, "=") {
			n--
		}
		f.media(now, time.Duration(n)*time.Second/8000)
	case "mark":
		f.marks = append(f.marks, pendingMark{at: maxTime(f.queueEnd, now), name: m.Mark.Name, stream: s})
	case "clear":
		f.queueEnd = now
		f.utterance = false
		for i := range f.marks {
			f.marks[i].at = now
		}
	}
}

// media plays d of agent audio received at now.
func (f *follower) media(now time.Time, d time.Duration) {
	if f.utterance && now.After(f.queueEnd) && now.Sub(f.queueEnd) < f.timing.Quiet {
		// The queue ran dry mid-utterance: the caller heard a hole.
		f.res.Late++
		f.res.LateTime += now.Sub(f.queueEnd)
	}
	f.queueEnd = maxTime(f.queueEnd, now).Add(d)
	f.lastMedia = now
	f.heard = true
	f.utterance = true
	if f.state == fWaitReply {
		lat := now.Sub(f.lineEnd)
		f.res.Replies = append(f.res.Replies, lat)
		if f.movedTurn && (f.lostHook == "" || f.lineAfterMove()) {
			f.res.AfterMove = append(f.res.AfterMove, lat)
			f.movedTurn = false
		}
		f.state, f.stateAt = fListening, now
	}
}

// closed notes that stream s ended.
func (f *follower) closed(s *fstream, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !s.closed.IsZero() {
		return
	}
	s.closed = now
	if f.postFailed != nil && !s.byCaller && !s.failPosted && f.state != fDone {
		s.failPosted = true
		f.postFailed(s, now)
	}
	for i := range f.res.Moves {
		m := &f.res.Moves[i]
		if m.OldClosed.IsZero() && m.Opened.After(s.opened) && f.streamBefore(m.Opened) == s {
			m.OldClosed = now
		}
	}
	for _, o := range f.streams {
		if o.closed.IsZero() {
			return
		}
	}
	f.noStream = now
}

// postStreamFailed posts streaming.failed for stream s, which the far
// end closed at closedAt, to lostHook, as Telnyx reports a stream whose
// socket went away, and keeps what came of it.
func (f *follower) postStreamFailed(ctx context.Context, s *fstream, closedAt time.Time) {
	f.mu.Lock()
	cs := f.clientState
	f.mu.Unlock()
	p := failedPost{StreamID: s.id, Closed: closedAt, Posted: time.Now()}
	body := f.tel.event("streaming.failed", f.ccid, f.from, cs,
		map[string]any{"stream_id": s.id, "failure_reason": "connection closed"})
	var err error
	p.Code, p.Attempts, err = f.tel.deliver(ctx, f.lostHook, body)
	if err != nil {
		p.Err = err.Error()
	}
	f.mu.Lock()
	f.res.FailedPosts = append(f.res.FailedPosts, p)
	f.mu.Unlock()
}

// lineAfterMove: the current line began once the latest new stream had
// opened.
func (f *follower) lineAfterMove() bool {
	return !f.movedAt.IsZero() && !f.lineStart.Before(f.movedAt)
}

// streamBefore is the newest stream opened before t.
func (f *follower) streamBefore(t time.Time) *fstream {
	var best *fstream
	for _, s := range f.streams {
		if s.opened.Before(t) && (best == nil || s.opened.After(best.opened)) {
			best = s
		}
	}
	return best
}

// agentQuiet: the agent's audio has played and nothing came for Quiet.
func (f *follower) agentQuiet(now time.Time) bool {
	return !now.Before(f.queueEnd.Add(f.timing.Quiet)) && !now.Before(f.lastMedia.Add(f.timing.Quiet))
}

// tick sends the caller's next frame to every open stream, echoes the
// marks whose audio has played, and moves the conversation on.
func (f *follower) tick(now time.Time) {
	f.mu.Lock()
	if f.state == fDone {
		f.mu.Unlock()
		return
	}
	var echo []pendingMark
	kept := f.marks[:0]
	for _, m := range f.marks {
		if !m.at.After(now) {
			echo = append(echo, m)
		} else {
			kept = append(kept, m)
		}
	}
	f.marks = kept
	if len(echo) > 0 && !f.queueEnd.After(now) {
		f.utterance = false // a mark at the end of the queue ends the utterance
	}
	if f.utterance && now.Sub(f.queueEnd) >= f.timing.Quiet {
		f.utterance = false
	}
	if !f.noStream.IsZero() && now.Sub(f.noStream) >= f.timing.ReopenWait {
		// Every stream closed by the far end and none opened since.
		if f.line < f.lines {
			f.res.CutAt = f.noStream
			f.finishLocked(now, "cut", "")
		} else {
			f.finishLocked(now, "completed", "")
		}
		f.mu.Unlock()
		return
	}
	payload := f.clips.silence
	switch f.state {
	case fGreeting:
		if f.heard && f.agentQuiet(now) {
			f.state, f.stateAt = fPause, now
			f.res.Greeted = now
		} else if !f.heard && now.Sub(f.stateAt) > f.timing.GreetingTimeout {
			f.finishLocked(now, "failed", "no_greeting")
			f.mu.Unlock()
			return
		}
	case fPause:
		if now.Sub(f.stateAt) >= f.timing.Pause {
			if f.line >= f.lines {
				f.finishLocked(now, "completed", "")
				f.mu.Unlock()
				f.sendStop()
				return
			}
			f.state, f.frame, f.lineStart = fSpeaking, 0, now
		}
	case fSpeaking:
		frames := f.clips.lines[f.line%len(f.clips.lines)]
		payload = frames[f.frame]
		f.frame++
		if f.frame == len(frames) {
			f.state, f.lineEnd = fWaitReply, now
			f.res.Turns++
			if f.lineAfterMove() {
				f.res.LinesAfterMove++
			}
		}
	case fWaitReply:
		if now.Sub(f.lineEnd) > f.timing.ReplyTimeout {
			f.res.NoReply++
			if f.lineAfterMove() {
				f.res.NoReplyAfterMove++
			}
			f.line++
			f.state, f.stateAt = fPause, now
		}
	case fListening:
		if f.agentQuiet(now) {
			f.line++
			f.state, f.stateAt = fPause, now
		}
	}
	var open []*fstream
	for _, s := range f.streams {
		if s.closed.IsZero() {
			open = append(open, s)
		}
	}
	echo = slices.DeleteFunc(echo, func(m pendingMark) bool { return !m.stream.closed.IsZero() })
	f.mu.Unlock()
	for _, m := range echo {
		_ = m.stream.write([]byte(`{"event":"mark","stream_id":"` + m.stream.id + `","mark":{"name":` + strconv.Quote(m.name) + `}}`))
	}
	for _, s := range open {
		s.seq++
		msg := `{"event":"media","sequence_number":"` + strconv.FormatInt(s.seq, 10) + `","stream_id":"` + s.id +
			`","media":{"track":"inbound","chunk":"` + strconv.FormatInt(s.seq-1, 10) + `","timestamp":"` +
			strconv.FormatInt((s.seq-1)*20, 10) + `","payload":"` + payload + `"}}`
		_ = s.write([]byte(msg)) // a failed write shows as the stream's close
	}
}

// sendStop ends the caller's side of every open stream (the caller hung
// up: Telnyx sends stop).
func (f *follower) sendStop() {
	f.mu.Lock()
	var open []*fstream
	for _, s := range f.streams {
		if s.closed.IsZero() {
			s.byCaller = true
			open = append(open, s)
		}
	}
	f.mu.Unlock()
	for _, s := range open {
		_ = s.write([]byte(`{"event":"stop","stream_id":"` + s.id + `","stop":{"call_control_id":"` + f.ccid + `"}}`))
	}
}

func (f *follower) finish(now time.Time, outcome, errKind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finishLocked(now, outcome, errKind)
}

func (f *follower) finishLocked(now time.Time, outcome, errKind string) {
	if f.state == fDone {
		return
	}
	f.state = fDone
	f.res.Outcome, f.res.Error, f.res.Ended = outcome, errKind, now
	f.closeOnce.Do(func() { close(f.done) })
}

// closeAll closes every stream still open.
func (f *follower) closeAll() {
	f.mu.Lock()
	streams := slices.Clone(f.streams)
	f.mu.Unlock()
	for _, s := range streams {
		_ = s.conn.Close()
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
