package telnyx

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/media"
)

// Acceptor runs the calls a Handler admits. The session engine implements it.
type Acceptor interface {
	// Admit is asked before the WebSocket upgrade; an error refuses the stream
	// with 503 (for example while draining).
	Admit() error
	// AcceptStream runs one call on an open stream whose start frame has been
	// read, and returns when the call has ended. It owns c from then on.
	AcceptStream(ctx context.Context, c *Conn, start *Start) error
}

// Handler terminates Telnyx media-stream WebSockets: it upgrades, reads the
// connected and start frames, checks the media format and hands the stream to
// its Acceptor.
type Handler struct {
	cfg      ConnConfig
	acceptor Acceptor
	log      *slog.Logger
	metrics  *Metrics
	upgrader websocket.Upgrader
}

// NewHandler returns a Handler serving streams to acc.
func NewHandler(cfg ConnConfig, acc Acceptor, m *Metrics, log *slog.Logger) *Handler {
	return &Handler{
		cfg:      cfg,
		acceptor: acc,
		log:      log,
		metrics:  m,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: cfg.HandshakeTimeout,
			// Small per-connection read buffers: a media frame is ~300 bytes.
			// Write buffers come from a pool and are held only while writing.
			ReadBufferSize:  1024,
			WriteBufferSize: 4096,
			WriteBufferPool: &sync.Pool{},
			// Telnyx connects server to server; there is no browser origin to check.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
}

// ServeHTTP upgrades the request and runs the stream to its end.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.acceptor.Admit(); err != nil {
		h.metrics.refuse("not_admitted")
		w.Header().Set("Retry-After", "5")
		http.Error(w, "not accepting new media streams", http.StatusServiceUnavailable)
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.metrics.refuse("upgrade")
		h.log.Debug("media stream upgrade failed", "err", err)
		return // the upgrader has answered the client
	}
	c := NewConn(ws, h.cfg, h.metrics)
	start, err := h.handshake(c)
	if err != nil {
		reason, code := "handshake", CloseProtocolError
		if errors.Is(err, media.ErrUnsupportedEncoding) {
			reason = "unsupported_format"
			code = CloseUnsupported
		}
		h.metrics.refuse(reason)
		h.log.Warn("media stream refused", "reason", reason, "remote", r.RemoteAddr, "err", err)
		_ = c.Close(code, reason) // the stream never began; nothing more to report
		return
	}
	if err := h.acceptor.AcceptStream(r.Context(), c, start); err != nil {
		h.metrics.refuse("not_accepted")
		h.log.Warn("media stream not accepted", "stream_id", start.StreamID, "err", err)
		_ = c.Close(CloseTryAgainLater, "not accepted")
	}
}

// handshake reads frames until start, tolerating connected and unknown frames
// before it, within the handshake timeout.
func (h *Handler) handshake(c *Conn) (*Start, error) {
	deadline := time.Now().Add(h.cfg.HandshakeTimeout)
	if err := c.ws.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	c.deadlineSet = deadline // keeps Read from moving the deadline during the handshake
	var ev Event
	for i := 0; i < 8; i++ {
		err := c.Read(&ev)
		var pe *ProtocolError
		if errors.As(err, &pe) {
			if ev.Kind == EventStart {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		switch ev.Kind {
		case EventStart:
			if _, err := ev.Start.MediaFormat.Format(); err != nil {
				return nil, err
			}
			c.deadlineSet = time.Time{} // the next Read sets the stream's own deadline
			return ev.Start, nil
		case EventConnected, EventUnknown:
			continue
		default:
			return nil, &ProtocolError{Kind: KindUnexpected, Err: errors.New(ev.Kind.String() + " before start")}
		}
	}
	return nil, ErrNoStart
}
