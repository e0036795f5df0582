package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpConfig bounds the connections of the listeners, so that idle or
// slow clients cannot hold the server's connections or goroutines.
type httpConfig struct {
	// IdleTimeout closes a keep-alive connection that sends no new request.
	IdleTimeout time.Duration
	// ReadTimeout and WriteTimeout bound reading a request (with its body)
	// and writing its response, per request, for every handler but the
	// media streams: a stream lives as long as its call and bounds each of
	// its reads and writes itself (--media-timeout, --write-timeout).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxConns caps the public listener's open connections, media streams
	// included: a call is one connection, so this is above the calls a node
	// can hold. Past it, new connections wait in the kernel's backlog.
	MaxConns int
}

// internalMaxConns caps the internal listener (metrics, probes, pprof).
const internalMaxConns = 64

func defaultHTTPConfig() httpConfig {
	return httpConfig{IdleTimeout: 120 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, MaxConns: 20000}
}

func (c httpConfig) validate() error {
	var errs []error
	if c.IdleTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 {
		errs = append(errs, errors.New("http idle, read and write timeouts must be > 0"))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("max connections %d: want >= 1", c.MaxConns))
	}
	return errors.Join(errs...)
}

// withDeadlines bounds h's reading of the request body and writing of the
// response. http.Server's own ReadTimeout and WriteTimeout would apply to
// every connection, media streams included, so they are set per handler.
func withDeadlines(h http.Handler, read, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		// Errors mean the writer cannot take deadlines (a test recorder).
		_ = rc.SetReadDeadline(now.Add(read))
		_ = rc.SetWriteDeadline(now.Add(write))
		h.ServeHTTP(w, r)
	})
}

// isLoopback reports whether a listen address ("127.0.0.1:8080",
// "[::1]:8080", "localhost:8080") takes connections from this machine
// only. ":8080" listens on every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// connMetrics count a listener's connections.
type connMetrics struct {
	open  *prometheus.GaugeVec
	waits *prometheus.CounterVec
	limit *prometheus.GaugeVec
}

func newConnMetrics(reg prometheus.Registerer) *connMetrics {
	m := &connMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "http", Name: "open_connections",
			Help: "Connections open on a listener, media streams included."}, []string{"listener"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "http", Name: "connection_limit_waits_total",
			Help: "Times a listener was at its connection cap and a new connection had to wait."}, []string{"listener"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "http", Name: "max_connections",
			Help: "A listener's connection cap."}, []string{"listener"}),
	}
	reg.MustRegister(m.open, m.waits, m.limit)
	return m
}

// limitListener accepts at most cap(sem) connections at once. Accept waits
// for a connection to close rather than refusing: the kernel's backlog
// holds the waiting clients, and the count of waits says it happened.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	open      prometheus.Gauge
	waits     prometheus.Counter
}

func limitListen(ln net.Listener, name string, n int, m *connMetrics) *limitListener {
	m.limit.WithLabelValues(name).Set(float64(n))
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{}),
		open: m.open.WithLabelValues(name), waits: m.waits.WithLabelValues(name)}
}

// Accept waits for a free place, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	default:
		l.waits.Inc()
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	l.open.Inc()
	return &limitConn{Conn: c, l: l}, nil
}

// Close stops Accept, waiting or not.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its place back once, however often it is closed.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

// SyscallConn gives the socket under the connection, so that a media
// stream writes to it without blocking (media/telnyx): without it every
// write of the pacer would take a goroutine.
func (c *limitConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errNoSyscallConn
	}
	return sc.SyscallConn()
}

// errNoSyscallConn: the accepted connection is not a socket.
var errNoSyscallConn = errors.New("listener: the connection has no socket")

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Dec()
		<-c.l.sem
	})
	return err
}

// pprofHandler serves the Go profiles. With a token, only to requests that
// carry it as a bearer token; without one (--pprof), to anyone who reaches
// the internal listener, which config validation has kept on loopback.
func pprofHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	if token == "" {
		return mux
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pprof"`)
			http.Error(w, "pprof needs its token", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
