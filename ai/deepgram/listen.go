package deepgram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/gorilla/websocket"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
)

// resultsCap is the buffer of a stream's Results channel: a final waits for
// room, an interim guess is dropped when the session lags this far behind.
const resultsCap = 64

// maxMessage bounds one binary message after a stall, when more than a batch
// is queued (docs/protocols/deepgram.md §1.2: 20-250 ms a message).
const maxMessage = 250 * time.Millisecond

// Open dials /v1/listen for one call and returns its stream. Deepgram is
// told the call's own format (tc.Format; PCMU 8 kHz when unset), so Send
// queues the caller's frames as they came: mu-law, A-law and little-endian
// linear16 go as they are; L16, big-endian, is byte-swapped to linear16.
// Cancelling ctx ends the stream (its goroutines hang off the call); Close
// ends it gracefully. The returned stream is a *Stream.
func (c *Client) Open(ctx context.Context, tc ai.TranscribeConfig) (ai.TranscriptStream, error) {
	in := tc.Format
	if in == (media.Format{}) {
		in = media.PCMU8k
	}
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("deepgram listen: format %s: %w", in, err)
	}
	lang := tc.Language
	if lang == "" {
		lang = c.cfg.Language
	}
	f, encoding := listenFormat(in)
	var conv *media.Converter
	if f != in {
		var err error
		if conv, err = media.NewConverter(in, f); err != nil {
			return nil, fmt.Errorf("deepgram listen: %w", err)
		}
	}
	u := c.listenURL(encoding, f.SampleRate, lang)
	conn, err := c.dial(ctx, u)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	frame := max(f.FrameBytes(), 1)
	s := &Stream{
		c:           c,
		url:         u,
		conv:        conv,
		log:         c.log.With("operation", opListen),
		frameBytes:  frame,
		sampleBytes: f.Encoding.BytesPerSample(),
		maxQueue:    c.cfg.QueueFrames * frame,
		batchBytes:  max(f.BytesPer(c.cfg.Batch), 1),
		maxMsg:      max(f.BytesPer(maxMessage), 1),
		// The ticker only flushes a partial batch (the caller's audio
		// stopped) and keeps the socket alive: full batches wake the writer.
		tick:     min(4*c.cfg.Batch, c.cfg.KeepAlive),
		results:  make(chan ai.Transcript, resultsCap),
		notify:   make(chan struct{}, 1),
		finalize: make(chan struct{}, 1),
		closing:  make(chan struct{}),
		finished: make(chan struct{}),
		cancel:   cancel,
	}
	if conv != nil {
		s.converted = make([]byte, 0, frame)
	}
	s.pending = make([]byte, 0, s.maxQueue+frame)
	s.out = make([]byte, 0, s.maxQueue+frame)
	s.wg.Add(1)
	go s.run(runCtx, conn)
	return s, nil
}

// listenFormat is what Deepgram is sent for a call in format in, and its
// name for the encoding (docs/protocols/deepgram.md §1.1: mulaw, alaw, linear16, which is
// little-endian): the call's own format whenever Deepgram decodes it.
func listenFormat(in media.Format) (media.Format, string) {
	switch in.Encoding {
	case media.EncodingPCMU:
		return in, "mulaw"
	case media.EncodingPCMA:
		return in, "alaw"
	}
	return media.Format{Encoding: media.EncodingPCM16, SampleRate: in.SampleRate}, "linear16"
}

// Stream is one call's live transcription over a /v1/listen socket.
//
// Send copies into a bounded queue and never blocks; one writer goroutine
// (run) owns the socket's writes, batches the queue into binary messages,
// sends KeepAlive while idle, Finalize on EndOfSpeech and CloseStream on
// Close, and redials a dropped socket; one reader goroutine per socket turns
// Results into transcripts. Close waits for both.
type Stream struct {
	c           *Client
	url         string
	log         *slog.Logger
	frameBytes  int // one 20 ms frame in the encoding Deepgram is sent
	sampleBytes int // one sample in it
	maxQueue    int // bytes
	batchBytes  int // bytes gathered before a message is sent
	maxMsg      int // bytes in one message at most
	tick        time.Duration

	results  chan ai.Transcript
	notify   chan struct{} // audio queued; capacity 1, coalescing
	finalize chan struct{} // EndOfSpeech; capacity 1, coalescing
	closing  chan struct{} // closed by Close
	finished chan struct{} // closed by run when it has ended
	cancel   context.CancelFunc
	once     sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	pending []byte // audio waiting for the writer
	closed  bool
	// conv turns the call's format into the one Deepgram is sent (L16's
	// byte swap), into converted; nil when Deepgram takes the call's own.
	conv      *media.Converter
	converted []byte

	out []byte // the writer's half of the double buffer; only run touches it

	awaitFinal  atomic.Bool  // a Finalize has no final yet
	endSpeechAt atomic.Int64 // unix ns of the last EndOfSpeech, 0 once measured
	frames      atomic.Uint64
	dropped     atomic.Uint64
	messages    atomic.Uint64 // binary messages sent
	keepAlives  atomic.Uint64
	redials     atomic.Uint64
	lost        atomic.Uint64 // interim transcripts dropped because Results was full
}

// Stats is a snapshot of a stream's counters.
type Stats struct {
	Frames         uint64 // frames passed to Send
	DroppedFrames  uint64 // frames dropped because the queue was full
	AudioMessages  uint64 // binary messages written
	KeepAlives     uint64
	Redials        uint64 // successful redials after a drop
	DroppedInterim uint64 // interim transcripts dropped because Results was full
}

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	return Stats{
		Frames: s.frames.Load(), DroppedFrames: s.dropped.Load(), AudioMessages: s.messages.Load(),
		KeepAlives: s.keepAlives.Load(), Redials: s.redials.Load(), DroppedInterim: s.lost.Load(),
	}
}

// Send queues a copy of one frame of the caller's audio, in the stream's
// format (converted first if Deepgram is sent another). It never blocks:
// when the queue is full the oldest audio is dropped and counted. Frames of
// up to 20 ms never allocate.
func (s *Stream) Send(frame []byte) error {
	if len(frame) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.conv != nil {
		s.converted = s.conv.Convert(s.converted[:0], frame)
		frame = s.converted
	}
	n := len(frame)
	var drop int
	if over := len(s.pending) + n - s.maxQueue; over > 0 {
		// Whole samples only, so linear16 stays aligned.
		over = min(over+over%s.sampleBytes, len(s.pending))
		drop = (over + s.frameBytes - 1) / s.frameBytes
		s.pending = s.pending[:copy(s.pending, s.pending[over:])]
	}
	l := len(s.pending)
	s.pending = append(s.pending, frame...)
	// Wake the writer once per batch, when this frame fills it, not once per
	// frame: at 50 frames a second a call would otherwise cost 50 wake-ups.
	full := l < s.batchBytes && l+n >= s.batchBytes
	s.mu.Unlock()

	s.frames.Add(1)
	if drop > 0 {
		s.dropped.Add(uint64(drop))
		s.c.m.dropped.Add(float64(drop))
	}
	if full {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return nil
}

// EndOfSpeech asks Deepgram to finalize what it holds (Finalize, docs/protocols/deepgram.md
// §1.2); the final arrives on Results. It does not block.
func (s *Stream) EndOfSpeech() error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	s.endSpeechAt.Store(time.Now().UnixNano())
	s.awaitFinal.Store(true)
	select {
	case s.finalize <- struct{}{}:
	default:
	}
	return nil
}

// Results delivers transcripts: Final for Deepgram's is_final segments. It is
// closed when the stream ends: after Close, when ctx is cancelled, or when a
// dropped socket cannot be redialled.
func (s *Stream) Results() <-chan ai.Transcript { return s.results }

// InterimResults reports whether the stream sends interim guesses (Final
// false) while the caller speaks: the session tells a backchannel from an
// interruption by their words.
func (s *Stream) InterimResults() bool { return s.c.cfg.InterimResults }

// Close sends CloseStream, waits up to CloseTimeout for the last results,
// then cuts the socket and waits for the stream's goroutines. It is
// idempotent.
func (s *Stream) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
	})
	t := time.NewTimer(s.c.cfg.CloseTimeout)
	select {
	case <-s.finished:
	case <-t.C:
		s.log.Warn("deepgram stream did not close in time; cutting the socket")
	}
	t.Stop()
	s.cancel()
	s.wg.Wait()
	return nil
}

// run owns the stream's socket: it serves one connection after another
// until the stream ends, and closes Results last.
func (s *Stream) run(ctx context.Context, conn *websocket.Conn) {
	defer s.wg.Done()
	defer close(s.finished)
	defer close(s.results)
	for redialled := false; ; redialled = true {
		err := s.serve(ctx, conn, redialled)
		if err == nil {
			return
		}
		if !retryable(err) || ctx.Err() != nil {
			s.log.Warn("deepgram stream ended", "err", err)
			return
		}
		if conn = s.redial(ctx, err); conn == nil {
			return
		}
	}
}

// redial dials again with backoff after a drop; nil means giving up.
func (s *Stream) redial(ctx context.Context, cause error) *websocket.Conn {
	s.log.Warn("deepgram socket dropped; redialling", "err", cause)
	conn, err := failsafe.With(s.c.redial).WithContext(ctx).Get(func() (*websocket.Conn, error) {
		select {
		case <-s.closing:
			return nil, ErrClosed
		default:
		}
		return s.c.dial(ctx, s.url)
	})
	if err != nil {
		s.c.m.redials.WithLabelValues(provider, opListen, outcomeErr).Inc()
		if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
			s.log.Error("deepgram redial failed; transcription ends", "err", err)
		}
		return nil
	}
	s.c.m.redials.WithLabelValues(provider, opListen, outcomeOK).Inc()
	s.redials.Add(1)
	s.log.Info("deepgram socket redialled")
	return conn
}

// readerEnd is why a connection's reader stopped.
type readerEnd struct{ err error }

// errDropped marks a socket that ended without our CloseStream.
var errDropped = errors.New("deepgram: socket dropped")

// serve runs one connection: it starts its reader and pumps the queue into
// it. It returns nil when the stream ends (Close or ctx) and an error when the
// socket dropped.
func (s *Stream) serve(ctx context.Context, conn *websocket.Conn, redialled bool) error {
	// Cancelling ctx cuts the socket, which unblocks a stuck read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	readerDone := make(chan readerEnd, 1)
	s.wg.Add(1)
	go s.read(ctx, conn, readerDone)
	readerEnded, err := s.pump(ctx, conn, readerDone, redialled)
	_ = conn.Close() // the socket is done with either way
	if !readerEnded {
		<-readerDone
	}
	return err
}

// pump is the writer's for-select over one connection. readerEnded says
// whether it has received the reader's end from readerDone.
func (s *Stream) pump(ctx context.Context, conn *websocket.Conn, readerDone <-chan readerEnd, redialled bool) (readerEnded bool, err error) {
	ticker := time.NewTicker(s.tick)
	defer ticker.Stop()
	lastWrite := time.Now()
	wrote := func(e error) error {
		if e != nil {
			return fmt.Errorf("%w: write: %w", errDropped, e)
		}
		lastWrite = time.Now()
		return nil
	}
	// After a redial: send what queued meanwhile, and ask again for a final
	// that the old socket never delivered.
	if err := wrote(s.flush(conn)); err != nil {
		return false, err
	}
	if redialled && s.awaitFinal.Load() {
		select {
		case <-s.finalize: // this Finalize answers it too
		default:
		}
		if err := wrote(s.control(conn, ctrlFinalize, "Finalize")); err != nil {
			return false, err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case end := <-readerDone:
			return true, s.readerEnded(end.err)
		case <-s.notify:
			if s.queued() >= s.batchBytes {
				if err := wrote(s.flush(conn)); err != nil {
					return false, err
				}
			}
		case now := <-ticker.C:
			switch {
			case s.queued() > 0:
				err = wrote(s.flush(conn))
			case now.Sub(lastWrite) >= s.c.cfg.KeepAlive:
				err = wrote(s.control(conn, ctrlKeepAlive, "KeepAlive"))
				s.keepAlives.Add(1)
			}
			if err != nil {
				return false, err
			}
		case <-s.finalize:
			if err := wrote(s.flush(conn)); err != nil {
				return false, err
			}
			if err := wrote(s.control(conn, ctrlFinalize, "Finalize")); err != nil {
				return false, err
			}
		case <-s.closing:
			// CloseStream: Deepgram finishes the buffered audio, sends the
			// last Results and Metadata, then closes (docs/protocols/deepgram.md §1.2).
			if s.flush(conn) != nil || s.control(conn, ctrlCloseStream, "CloseStream") != nil {
				return false, nil
			}
			select {
			case <-readerDone:
				return true, nil
			case <-ctx.Done():
				return false, nil
			}
		}
	}
}

// readerEnded classifies the end of a socket that we did not close.
func (s *Stream) readerEnded(err error) error {
	select {
	case <-s.closing:
		return nil
	default:
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) && (ce.Code == websocket.CloseUnsupportedData || ce.Code == websocket.ClosePolicyViolation || ce.Code == websocket.CloseProtocolError) {
		// 1008 (or 1002) DATA-0000: Deepgram cannot decode our audio; a
		// redial would fail the same way (docs/protocols/deepgram.md §1.5).
		return fmt.Errorf("deepgram listen: audio rejected: %w", err)
	}
	return fmt.Errorf("%w: %w", errDropped, err)
}

func (s *Stream) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// flush sends the queued audio, in messages of at most maxMsg bytes; never a
// zero-length one (docs/protocols/deepgram.md §1.2).
func (s *Stream) flush(conn *websocket.Conn) error {
	s.mu.Lock()
	s.out, s.pending = s.pending, s.out[:0]
	s.mu.Unlock()
	for b := s.out; len(b) > 0; {
		n := min(len(b), s.maxMsg)
		if err := s.write(conn, websocket.BinaryMessage, b[:n]); err != nil {
			return err
		}
		s.messages.Add(1)
		s.c.m.sent("audio")
		b = b[n:]
	}
	return nil
}

func (s *Stream) control(conn *websocket.Conn, msg []byte, typ string) error {
	if err := s.write(conn, websocket.TextMessage, msg); err != nil {
		return err
	}
	s.c.m.sent(typ)
	return nil
}

func (s *Stream) write(conn *websocket.Conn, typ int, data []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout)); err != nil {
		return err
	}
	return conn.WriteMessage(typ, data)
}

// read is the connection's reader: it parses server messages until the
// socket ends and reports why on done.
func (s *Stream) read(ctx context.Context, conn *websocket.Conn, done chan<- readerEnd) {
	defer s.wg.Done()
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			done <- readerEnd{err}
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		m, err := parseMessage(data)
		if err != nil {
			s.c.m.received(msgOther)
			s.log.Debug("deepgram sent a malformed message", "err", err)
			continue
		}
		s.c.m.received(typeLabel(m.Type))
		s.handle(ctx, m)
	}
}

func (s *Stream) handle(ctx context.Context, m serverMessage) {
	switch m.Type {
	case msgResults:
		if m.IsFinal {
			s.awaitFinal.Store(false)
			if at := s.endSpeechAt.Swap(0); at != 0 {
				media.ObserveTraced(ctx, s.c.m.finalLatency, float64(time.Now().UnixNano()-at)/1e6)
			}
		}
		if m.Transcript == "" {
			return // silence: Deepgram sends empty transcripts
		}
		t := ai.Transcript{Text: m.Transcript, Final: m.IsFinal, SpeechFinal: m.IsFinal && m.SpeechFinal}
		if !t.Final {
			select {
			case s.results <- t:
			default:
				s.lost.Add(1)
			}
			return
		}
		select {
		case s.results <- t:
		case <-ctx.Done():
		}
	case msgError:
		s.log.Warn("deepgram stream error", "code", m.Code, "description", m.Description)
	case msgMetadata:
		s.log.Debug("deepgram stream metadata", "request_id", m.RequestID)
	}
}
