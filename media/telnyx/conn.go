package telnyx

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media"
)

// ConnConfig bounds one media-stream connection.
type ConnConfig struct {
	// MaxMessageBytes caps one frame; a larger frame is skipped and counted. A
	// media frame is about 300 bytes; 64 KiB leaves room for a large start frame.
	MaxMessageBytes int
	// ReadTimeout ends a stream that sends nothing for this long: Telnyx sends a
	// media frame every 20 ms while the call is up, so silence means a dead peer.
	ReadTimeout time.Duration
	// WriteTimeout is how long a message may wait to be written. Writes
	// never hold the pacer: what the socket does not take at once is
	// written in the background, and a peer that leaves messages unwritten
	// this long has stopped reading: the stream fails with ErrPeerStalled
	// and the call ends.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the wait for the connected and start frames.
	HandshakeTimeout time.Duration
	// StreamSecret checks the per-call stream token in the URL's token query
	// parameter (see Mint). At least MinSecretLen bytes; without it every
	// stream is refused unless AllowUnauthenticated is set.
	StreamSecret Secret
	// AllowUnauthenticated admits streams that carry no token: a development
	// switch for the embedded quick-start, logged loudly when on. A token
	// that is present is still checked.
	AllowUnauthenticated bool
	// AllowedOrigins are the browser origins ("https://ops.example.com") a
	// stream may come from. Telnyx connects server to server and sends no
	// Origin header; a browser always sends one, so an upgrade carrying an
	// Origin not listed here is refused with 403, before the token is looked
	// at. Empty: no browser may open a stream.
	AllowedOrigins []string
}

// Secret is key material that prints as "[redacted]" in logs and %v.
type Secret []byte

// String hides the secret.
func (Secret) String() string { return "[redacted]" }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return "[redacted]" }

// LogValue hides the secret from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// DefaultConnConfig returns the defaults named in each field's comment.
func DefaultConnConfig() ConnConfig {
	return ConnConfig{
		MaxMessageBytes:  64 << 10,
		ReadTimeout:      10 * time.Second,
		WriteTimeout:     time.Second,
		HandshakeTimeout: 5 * time.Second,
	}
}

// Validate reports every invalid setting.
func (c ConnConfig) Validate() error {
	var errs []error
	if c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("max message bytes %d: want 1 KiB to 16 MiB", c.MaxMessageBytes))
	}
	for name, d := range map[string]time.Duration{"read timeout": c.ReadTimeout, "write timeout": c.WriteTimeout, "handshake timeout": c.HandshakeTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: want > 0", name, d))
		}
	}
	if len(c.StreamSecret) > 0 && len(c.StreamSecret) < MinSecretLen {
		errs = append(errs, fmt.Errorf("stream secret of %d bytes: want at least %d", len(c.StreamSecret), MinSecretLen))
	}
	return errors.Join(errs...)
}

// hardReadLimit is the frame size at which the connection itself is dropped
// rather than the frame skipped: past it, reading on would let a peer make us
// buffer without bound.
const hardReadLimit = 1 << 20

// Conn is one Telnyx media-stream WebSocket. One goroutine reads (Read); one
// goroutine writes (Ready, WriteAudio, WriteMark, WriteClear, Keepalive and
// Flush: the pacer, a media.Output); Close may be called from anywhere. No
// write waits on the network (see ConnConfig.WriteTimeout).
type Conn struct {
	ws      *websocket.Conn
	cfg     ConnConfig
	metrics *Metrics

	parser      Parser
	buf         []byte
	deadlineSet time.Time
	frames      int // read but not yet added to the metric

	// The writer's side: frames queued since the last Flush, in a buffer
	// borrowed from batchBufs (box) by the first of them and given back
	// by the Flush.
	batch     []byte
	box       *[]byte
	batchMsgs int // media, mark and clear messages in batch
	mark      []byte
	w         *writer
	closeOnce sync.Once
}

// noSocketOnce logs once that writes cannot be made without blocking.
var noSocketOnce sync.Once

// NewConn wraps an established WebSocket. From then on every frame the
// connection sends goes through the Conn, pongs and the answer to the
// peer's close frame included.
func NewConn(ws *websocket.Conn, cfg ConnConfig, m *Metrics) *Conn {
	ws.SetReadLimit(hardReadLimit)
	var stalls, deferred prometheus.Counter
	if m != nil {
		stalls, deferred = m.stalled, m.deferred
	}
	w := newWriter(ws.NetConn(), cfg.WriteTimeout, stalls, deferred)
	if w.raw == nil {
		noSocketOnce.Do(func() {
			slog.Warn("media streams come over connections with no socket to write to without blocking: every write of the pacer takes a goroutine", //nolint:sloglint // once per process, before any call's logger exists
				"conn_type", fmt.Sprintf("%T", ws.NetConn()))
		})
	}
	c := &Conn{ws: ws, cfg: cfg, metrics: m, buf: make([]byte, 0, 1024), w: w}
	ws.SetPingHandler(func(data string) error {
		c.w.reply(controlFrame(opPong, []byte(data)), false)
		return nil
	})
	ws.SetCloseHandler(func(code int, _ string) error {
		c.w.reply(controlFrame(opClose, websocket.FormatCloseMessage(code, "")), true)
		return nil
	})
	return c
}

// Read reads the next frame into ev. A *ProtocolError means the frame was
// skipped (it has been counted) and reading may go on; any other error ends the
// stream (the peer went away, the read timed out).
func (c *Conn) Read(ev *Event) error {
	// Refresh the deadline at most once a second: a timer update per 20 ms
	// frame is work for nothing.
	if now := time.Now(); now.Sub(c.deadlineSet) > time.Second {
		c.deadlineSet = now
		if err := c.ws.SetReadDeadline(now.Add(c.cfg.ReadTimeout)); err != nil {
			return err
		}
	}
	mt, r, err := c.ws.NextReader()
	if err != nil {
		c.flushFrames() // the stream is over: count what is left
		return err
	}
	// Counted locally and added to the shared counter every framesBatch
	// frames: one atomic add a second per call rather than fifty.
	if c.frames++; c.frames >= framesBatch {
		c.flushFrames()
	}
	if mt != websocket.TextMessage {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		return c.fail(&ProtocolError{Kind: KindBinaryFrame, Err: errors.New("binary frame: Telnyx sends JSON text frames")})
	}
	msg, err := c.readCapped(r)
	if err != nil {
		return err
	}
	if msg == nil {
		return c.fail(&ProtocolError{Kind: KindOversize, Err: fmt.Errorf("frame larger than %d bytes", c.cfg.MaxMessageBytes)})
	}
	if err := c.parser.Parse(msg, ev); err != nil {
		return c.fail(err)
	}
	return nil
}

const framesBatch = 50

func (c *Conn) flushFrames() {
	if c.metrics != nil && c.frames > 0 {
		c.metrics.framesIn.Add(float64(c.frames))
	}
	c.frames = 0
}

// readCapped reads one message into the connection's buffer, growing it up to
// the cap. It returns nil, nil when the message was over the cap (and drained).
func (c *Conn) readCapped(r io.Reader) ([]byte, error) {
	buf := c.buf[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) > c.cfg.MaxMessageBytes {
				if _, err := io.Copy(io.Discard, r); err != nil {
					return nil, err
				}
				return nil, nil
			}
			buf = append(buf, 0)[:len(buf)]
			c.buf = buf
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			if len(buf) > c.cfg.MaxMessageBytes {
				return nil, nil
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (c *Conn) fail(err error) error {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		c.metrics.ProtocolError(pe.Kind)
	}
	return err
}

// Ready says whether the connection takes a batch now: nil, or
// media.ErrOutputBusy while bytes flushed earlier have waited more than a
// frame (20 ms) for the socket to take them, or the error the connection
// failed with (ErrPeerStalled when the peer stopped reading). It never waits.
func (c *Conn) Ready() error { return c.w.ready() }

// WriteAudio queues one outbound media frame holding audio, a whole number of
// 20 ms frames of the stream's codec.
func (c *Conn) WriteAudio(audio []byte) error {
	c.borrowBatch()
	c.batch = appendFrameHeader(c.batch, opText, mediaLen(len(audio)))
	c.batch = AppendMedia(c.batch, audio)
	c.batchMsgs++
	return nil
}

// WriteMark queues a mark frame.
func (c *Conn) WriteMark(name string) error {
	c.mark = AppendMark(c.mark[:0], name)
	c.borrowBatch()
	c.batch = appendFrameHeader(c.batch, opText, len(c.mark))
	c.batch = append(c.batch, c.mark...)
	c.batchMsgs++
	return nil
}

// WriteClear queues a clear frame.
func (c *Conn) WriteClear() error {
	c.borrowBatch()
	c.batch = appendFrameHeader(c.batch, opText, len(clearFrame))
	c.batch = AppendClear(c.batch)
	c.batchMsgs++
	return nil
}

// Keepalive queues a WebSocket ping; a peer that is gone makes its write
// fail, and the pong resets nothing: only frames prove the call is alive.
func (c *Conn) Keepalive() error {
	c.borrowBatch()
	c.batch = appendFrameHeader(c.batch, opPing, 0)
	return nil
}

// Flush sends the frames queued since the last Flush, in order, with one
// write when the socket takes them at once; the rest is written in the
// background (see Ready). It never waits.
func (c *Conn) Flush() error {
	if len(c.batch) == 0 {
		return nil
	}
	if c.metrics != nil && c.batchMsgs > 0 {
		c.metrics.framesOut.Add(float64(c.batchMsgs))
	}
	// The writer gives back the batch, or a buffer of its own when it
	// keeps the batch to write later; either goes back to the pool.
	spare, err := c.w.send(c.batch)
	c.batchMsgs = 0
	batchBufs.Put(c.box, spare)
	c.batch, c.box = nil, nil
	return err
}

// batchBufs lends Conns their batch buffers: a call holds one from the
// first frame of a pacer tick to the Flush that writes them, not between
// ticks or while it listens. One grown by a rare big top-up is let go; a
// stream whose every chunk is big (L16 at 16 kHz: about 4.3 KB for
// 100 ms) fits.
var batchBufs = media.BufferPool{Max: 16 << 10}

// newBatch is the size of a new batch buffer: room for a pacer chunk of
// 100 ms of PCMU (a media message of about 1.2 KB) and a mark. A top-up
// (the whole lead at a reply's start or after a hold) grows it.
const newBatch = 2048

// borrowBatch gives the Conn a batch buffer if it has none.
func (c *Conn) borrowBatch() {
	if c.box == nil {
		c.box = batchBufs.Get(newBatch)
		c.batch = *c.box
	}
}

// Close sends a close frame with code and reason (RFC 6455 7.4) after what
// is queued, waits for them to be written (at most the write timeout: not
// at all when the peer has stalled) and closes the connection. Frames
// flushed after Close are dropped. It is idempotent; the first code wins.
func (c *Conn) Close(code int, reason string) error {
	var err error
	c.closeOnce.Do(func() {
		// Best effort: the peer may be gone.
		c.w.close(controlFrame(opClose, websocket.FormatCloseMessage(code, truncate(reason, 120))))
		err = c.ws.Close()
	})
	return err
}

// Close codes used by IACE (RFC 6455 7.4.1).
const (
	CloseNormal        = websocket.CloseNormalClosure
	CloseGoingAway     = websocket.CloseGoingAway
	CloseProtocolError = websocket.CloseProtocolError
	ClosePolicy        = websocket.ClosePolicyViolation
	CloseUnsupported   = websocket.CloseUnsupportedData
	CloseInternal      = websocket.CloseInternalServerErr
	CloseTryAgainLater = websocket.CloseTryAgainLater
)
