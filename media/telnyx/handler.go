package telnyx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.opentelemetry.io/otel/propagation"

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
	// streams are the goroutines running upgraded streams (see ServeHTTP).
	streams sync.WaitGroup
}

// NewHandler returns a Handler serving streams to acc. It says in the log,
// loudly, when streams without a token are let in, or when none can be.
func NewHandler(cfg ConnConfig, acc Acceptor, m *Metrics, log *slog.Logger) *Handler {
	switch {
	case cfg.AllowUnauthenticated:
		log.Warn("media streams WITHOUT a stream token are accepted: anyone who can reach /media/telnyx can place a call; development only")
	case len(cfg.StreamSecret) == 0:
		log.Error("no stream secret is configured: every media stream will be refused")
	}
	return &Handler{
		cfg:      cfg,
		acceptor: acc,
		log:      log,
		metrics:  m,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: cfg.HandshakeTimeout,
			// Small per-connection read buffers: a media frame is ~300 bytes.
			// The Conn frames and writes what it sends itself; gorilla writes
			// only the handshake and a close frame on a protocol error, with
			// a pooled buffer held only while writing.
			ReadBufferSize:  1024,
			WriteBufferSize: 4096,
			WriteBufferPool: &sync.Pool{},
			// ServeHTTP has checked the origin before the upgrade.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
}

// originAllowed reports whether r may open a stream as far as its origin
// goes: Telnyx sends no Origin header; a browser always does (RFC 6454
// section 7.3), and its page must be one the operator listed. Without this
// any web page a visitor opens could place calls from their browser.
func (h *Handler) originAllowed(r *http.Request) bool {
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return true
	}
	if len(origins) > 1 {
		return false
	}
	for _, o := range h.cfg.AllowedOrigins {
		if strings.EqualFold(o, origins[0]) {
			return true
		}
	}
	return false
}

// ServeHTTP upgrades the request and runs the stream to its end.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.originAllowed(r) {
		h.metrics.refuse("origin")
		h.log.Warn("media stream refused", "reason", "origin", "remote", r.RemoteAddr, "origin", truncate(r.Header.Get("Origin"), 100))
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	claims, err := h.authenticate(r)
	if err != nil {
		h.metrics.refuse("unauthorized")
		h.log.Warn("media stream refused", "reason", "unauthorized", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "missing or invalid stream token", http.StatusUnauthorized)
		return
	}
	if err := h.acceptor.Admit(); err != nil {
		h.metrics.refuse("not_admitted")
		w.Header().Set("Retry-After", "5")
		http.Error(w, "not accepting new media streams", http.StatusServiceUnavailable)
		return
	}
	// Counted before the upgrade, while net/http still tracks the
	// connection: once Shutdown has returned, every stream upgraded before
	// it is in the count Wait waits on.
	h.streams.Add(1)
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.streams.Done()
		h.metrics.refuse("upgrade")
		h.log.Debug("media stream upgrade failed", "err", err)
		return // the upgrader has answered the client
	}
	// The stream runs on a goroutine of its own, and this one returns to
	// net/http. Were the call run here, for its whole length, net/http
	// would keep what it holds for the request: the connection's 4 KiB
	// read and write buffers, the response's 2 KiB one, the request, and
	// its own frames under the reader's on the stack, about 10 KiB a call
	// that a hijacked connection never uses again. The request's context
	// ends when ServeHTTP returns: the stream keeps its values (the
	// trace), not its end; the session bounds the call itself.
	ctx := context.WithoutCancel(r.Context())
	remote := r.RemoteAddr
	go func() { // owned by h: Wait waits for it
		defer h.streams.Done()
		h.serveStream(ctx, ws, remote, claims)
	}()
}

// Wait waits for the streams ServeHTTP started to end. Run it after the
// session engine has drained: until then it waits for live calls.
func (h *Handler) Wait() { h.streams.Wait() }

// serveStream reads the stream's connected and start frames and hands it
// to the Acceptor, which runs the call on this goroutine.
func (h *Handler) serveStream(ctx context.Context, ws *websocket.Conn, remote string, claims *StreamClaims) {
	c := NewConn(ws, h.cfg, h.metrics)
	start, err := h.handshake(c)
	if err != nil {
		reason, code := "handshake", CloseProtocolError
		if errors.Is(err, media.ErrUnsupportedEncoding) {
			reason = "unsupported_format"
			code = CloseUnsupported
		}
		h.metrics.refuse(reason)
		h.log.Warn("media stream refused", "reason", reason, "remote", remote, "err", err)
		_ = c.Close(code, reason) // the stream never began; nothing more to report
		return
	}
	if claims != nil {
		// A token admits the one call it was minted for.
		if start.CallControlID != claims.CallControlID {
			h.metrics.refuse("token_mismatch")
			h.log.Warn("media stream refused", "reason", "token_mismatch", "remote", remote, "call_id", claims.CallID)
			_ = c.Close(ClosePolicy, "token is for another call")
			return
		}
		start.Claims = claims
	}
	if claims != nil && claims.TraceParent != "" {
		// The call continues the trace of the webhook that answered it
		// (W3C Trace Context; a malformed value is ignored).
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": claims.TraceParent})
	}
	if err := h.acceptor.AcceptStream(ctx, c, start); err != nil {
		if errors.Is(err, ErrStreamForbidden) {
			h.metrics.refuse("forbidden")
			h.log.Warn("media stream refused", "reason", "forbidden", "remote", remote, "stream_id", start.StreamID, "err", err)
			_ = c.Close(ClosePolicy, "stream not allowed")
			return
		}
		h.metrics.refuse("not_accepted")
		h.log.Warn("media stream not accepted", "stream_id", start.StreamID, "err", err)
		_ = c.Close(CloseTryAgainLater, "not accepted")
	}
}

// TokenParam is the query parameter of the stream URL holding the stream token.
const TokenParam = "token"

// authenticate checks the stream token of the upgrade request. It returns
// nil claims, and no error, for a stream without a token when
// unauthenticated streams are allowed.
func (h *Handler) authenticate(r *http.Request) (*StreamClaims, error) {
	q := r.URL.Query()
	tok := q.Get(TokenParam)
	if tok == "" {
		if h.cfg.AllowUnauthenticated {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: no %s parameter", ErrBadToken, TokenParam)
	}
	if len(q[TokenParam]) > 1 {
		return nil, fmt.Errorf("%w: more than one %s parameter", ErrBadToken, TokenParam)
	}
	if len(h.cfg.StreamSecret) == 0 {
		if h.cfg.AllowUnauthenticated {
			return nil, nil // nothing to check it with; the development switch lets it in
		}
		return nil, errors.New("no stream secret configured")
	}
	claims, err := Verify(h.cfg.StreamSecret, tok, time.Now())
	if err != nil {
		return nil, err
	}
	return &claims, nil
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
