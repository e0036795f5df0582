package sim

import (
	"context"
	"fmt"
	"io"
	"net"
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

// maxMessage bounds one message from the server: 30 s of PCMU (docs/protocols/telnyx.md 2.1)
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
		NetDialContext:  dialTCP,
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

// dialTCP dials the server; for a slow caller (withReadRate), with small
// socket buffers and a connection that reads at its rate.
func dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	rate, slow := ctx.Value(readRateKey{}).(int)
	if !slow {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	d := net.Dialer{Control: slowSocket}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &trickleConn{Conn: c, rate: rate}, nil
}

type readRateKey struct{}

// withReadRate asks the dialer for a connection that reads rate bytes a second.
func withReadRate(ctx context.Context, rate int) context.Context {
	return context.WithValue(ctx, readRateKey{}, rate)
}

// trickleConn reads at most rate bytes a second, in pieces of a tenth of
// that, so that what the server writes backs up in the socket buffers: a
// caller whose side has stopped reading but for a trickle. Writes are not
// slowed.
type trickleConn struct {
	net.Conn
	rate int       // bytes a second
	next time.Time // when the next read may start
}

func (c *trickleConn) Read(p []byte) (int, error) {
	if wait := time.Until(c.next); wait > 0 {
		time.Sleep(wait)
	}
	n, err := c.Conn.Read(p[:min(len(p), max(c.rate/10, 1))])
	now := time.Now()
	if c.next.Before(now) {
		c.next = now // no credit for time spent waiting for data
	}
	c.next = c.next.Add(time.Duration(n) * time.Second / time.Duration(c.rate))
	return n, err
}
