package telnyx

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ConnConfig bounds one media-stream connection.
type ConnConfig struct {
	// MaxMessageBytes caps one frame; a larger frame is skipped and counted. A
	// media frame is about 300 bytes; 64 KiB leaves room for a large start frame.
	MaxMessageBytes int
	// ReadTimeout ends a stream that sends nothing for this long: Telnyx sends a
	// media frame every 20 ms while the call is up, so silence means a dead peer.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write so a stuck peer cannot stall the pacer.
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
// goroutine writes (WriteAudio, WriteMark, WriteClear: the pacer); Keepalive
// and Close may be called from anywhere.
type Conn struct {
	ws      *websocket.Conn
	cfg     ConnConfig
	metrics *Metrics

	parser      Parser
	buf         []byte
	deadlineSet time.Time
	frames      int // read but not yet added to the metric

	wbuf      []byte
	closeOnce sync.Once
}

// NewConn wraps an established WebSocket.
func NewConn(ws *websocket.Conn, cfg ConnConfig, m *Metrics) *Conn {
	ws.SetReadLimit(hardReadLimit)
	return &Conn{ws: ws, cfg: cfg, metrics: m, buf: make([]byte, 0, 1024)}
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

// WriteAudio sends one outbound media frame holding audio, a whole number of
// 20 ms frames of the stream's codec.
func (c *Conn) WriteAudio(audio []byte) error {
	c.wbuf = AppendMedia(c.wbuf[:0], audio)
	return c.write()
}

// WriteMark sends a mark frame.
func (c *Conn) WriteMark(name string) error {
	c.wbuf = AppendMark(c.wbuf[:0], name)
	return c.write()
}

// WriteClear sends a clear frame.
func (c *Conn) WriteClear() error {
	c.wbuf = AppendClear(c.wbuf[:0])
	return c.write()
}

func (c *Conn) write() error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout)); err != nil {
		return err
	}
	if c.metrics != nil {
		c.metrics.framesOut.Inc()
	}
	return c.ws.WriteMessage(websocket.TextMessage, c.wbuf)
}

// Keepalive sends a WebSocket ping; a peer that is gone makes it fail, and the
// pong resets nothing: only frames prove the call is alive.
func (c *Conn) Keepalive() error {
	return c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout))
}

// Close sends a close frame with code and reason (RFC 6455 7.4) and closes the
// connection. It is idempotent; the first code wins.
func (c *Conn) Close(code int, reason string) error {
	var err error
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(code, truncate(reason, 120))
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.cfg.WriteTimeout)) // best effort: the peer may be gone
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
