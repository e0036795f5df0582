package sim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is the part of a *websocket.Conn a call uses, so tests can run calls
// over an in-memory pipe under testing/synctest.
type wsConn interface {
	NextReader() (messageType int, r io.Reader, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

var _ wsConn = (*websocket.Conn)(nil)

// dialFunc opens one media stream to url.
type dialFunc func(ctx context.Context, url string) (wsConn, error)

// maxMessage bounds one message from the server: 30 s of PCMU (telnyx.md 2.1)
// is 240 kB, 320 kB in base64.
const maxMessage = 1 << 20

// websocketDialer dials the call's URL (cfg.URL, plus its stream token) and
// nothing else: no proxy from the environment, no redirects.
func websocketDialer(cfg *Config) dialFunc {
	d := &websocket.Dialer{
		HandshakeTimeout: cfg.DialTimeout,
		ReadBufferSize:   4096,
		// Outbound messages are ~420 bytes; a shared pool means an idle
		// call holds no write buffer.
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
	}
	return func(ctx context.Context, url string) (wsConn, error) {
		c, resp, err := d.DialContext(ctx, url, cfg.Header)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close() // gorilla has already read what it keeps
		}
		if err != nil {
			if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
				return nil, fmt.Errorf("dial %s: %w (HTTP %s)", cfg.URL, err, resp.Status)
			}
			return nil, fmt.Errorf("dial %s: %w", cfg.URL, err)
		}
		c.SetReadLimit(maxMessage)
		return c, nil
	}
}
