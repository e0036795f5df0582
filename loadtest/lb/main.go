// Command lb is the small load balancer of the chaos suite
// (loadtest/chaos): it spreads HTTP requests and WebSocket streams
// round-robin over the IACE nodes that say they are ready, as a cloud load
// balancer or a Kubernetes Service does in front of them.
//
//	go run ./loadtest/lb -listen 127.0.0.1:18300 \
//	    -backends 127.0.0.1:18301,127.0.0.1:18302 -ready 127.0.0.1:19301,127.0.0.1:19302
//
// Every -interval (500 ms) it asks each node's internal /readyz; only the
// nodes that answered 200 get new requests. A node whose connection is
// refused is taken out at once and the request goes to the next one (the
// request had not been sent: nothing is sent twice), as HAProxy's redispatch
// and nginx's proxy_next_upstream do. With no node ready a request gets
// 503. WebSocket upgrades pass through httputil.ReverseProxy; a stream
// stays on its node until one side closes it.
//
// On SIGINT or SIGTERM it prints, per node, the requests and WebSocket
// streams it sent there, and exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:18300", "address to serve on")
	backends := fs.String("backends", "", "comma-separated public addresses (host:port) of the nodes")
	ready := fs.String("ready", "", "comma-separated internal addresses (host:port) of the same nodes, in the same order: GET /readyz")
	interval := fs.Duration("interval", 500*time.Millisecond, "how often each node's /readyz is asked")
	statsFile := fs.String("stats", "", "also write the counts as JSON to this file at exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p, err := newPool(splitList(*backends), splitList(*ready))
	if err != nil {
		fmt.Fprintln(stderr, "lb:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "lb:", err)
		return 2
	}
	checker := &http.Client{Timeout: *interval}
	p.checkAll(ctx, checker) // the first answer before the first request
	go p.watch(ctx, checker, *interval, log)
	srv := &http.Server{Handler: newBalancer(p, log), ReadHeaderTimeout: 10 * time.Second}
	go func() { // ends when the listener is closed below
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
			stop()
		}
	}()
	log.Info("lb serving", "addr", ln.Addr().String(), "backends", len(p.backends))
	<-ctx.Done()
	// Streams in progress are hijacked connections, which Shutdown does not
	// wait for: the process ends them by exiting.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	st := p.stats()
	st.print(stdout)
	if *statsFile != "" {
		b, _ := json.MarshalIndent(st, "", "  ")
		if err := os.WriteFile(*statsFile, append(b, '\n'), 0o600); err != nil {
			fmt.Fprintln(stderr, "lb:", err)
			return 1
		}
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// backend is one node.
type backend struct {
	addr  string // public listener, where requests go
	ready string // internal listener, where /readyz is
	up    atomic.Bool
	// Counts since the start.
	requests   atomic.Int64 // requests sent (WebSocket upgrades included)
	websockets atomic.Int64 // upgrades the node accepted (101)
	refused    atomic.Int64 // connections refused: the request went elsewhere
	failed     atomic.Int64 // other proxy errors (502 to the client)
	downs      atomic.Int64 // times it went from ready to not ready
}

// Kinds of request, each with its own round-robin cursor: a call brings a
// fixed sequence of requests (its webhooks, then its stream), which one
// cursor for all would deal out to the nodes in step, so that every
// stream landed on the same node; a load balancer in front of IACE
// balances the streams, which hold the calls, apart.
const (
	kindHTTP = iota
	kindWebSocket
	kinds
)

// pool is the nodes and the round-robin cursors.
type pool struct {
	backends  []*backend
	next      [kinds]atomic.Uint64
	noBackend atomic.Int64 // requests answered 503: no node ready
}

func newPool(addrs, ready []string) (*pool, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no -backends")
	}
	if len(ready) != len(addrs) {
		return nil, fmt.Errorf("%d -backends but %d -ready addresses: give one internal address per node", len(addrs), len(ready))
	}
	p := &pool{}
	for i, a := range addrs {
		p.backends = append(p.backends, &backend{addr: a, ready: ready[i]})
	}
	return p, nil
}

// pick returns the next ready node for a request of kind in round-robin
// order that skip does not exclude, or nil when there is none.
func (p *pool) pick(kind int, skip func(*backend) bool) *backend {
	n := uint64(len(p.backends))
	start := p.next[kind].Add(1) - 1
	for i := range n {
		b := p.backends[(start+i)%n]
		if b.up.Load() && (skip == nil || !skip(b)) {
			return b
		}
	}
	return nil
}

// setUp records a node's readiness; it reports whether it changed.
func (b *backend) setUp(up bool) bool {
	was := b.up.Swap(up)
	if was && !up {
		b.downs.Add(1)
	}
	return was != up
}

// checkAll asks every node's /readyz once, at the same time.
func (p *pool) checkAll(ctx context.Context, c *http.Client) []bool {
	changed := make([]bool, len(p.backends))
	done := make(chan struct{}, len(p.backends))
	for i, b := range p.backends {
		go func() { // ends within c's timeout
			defer func() { done <- struct{}{} }()
			changed[i] = b.setUp(ready(ctx, c, b.ready))
		}()
	}
	for range p.backends {
		<-done
	}
	return changed
}

// ready reports whether GET http://addr/readyz answers 200.
func ready(ctx context.Context, c *http.Client, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return false
	}
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// watch checks the nodes every interval until ctx ends, logging changes.
func (p *pool) watch(ctx context.Context, c *http.Client, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, ch := range p.checkAll(ctx, c) {
			if ch && ctx.Err() == nil {
				b := p.backends[i]
				log.Info("backend readiness changed", "backend", b.addr, "ready", b.up.Load())
			}
		}
	}
}

// balancer is the proxy.
type balancer struct {
	pool  *pool
	proxy *httputil.ReverseProxy
	log   *slog.Logger
}

// attempt is one try at a node, carried in the request's context to the
// proxy's hooks.
type attempt struct {
	b   *backend
	err error
}

type attemptKey struct{}

func newBalancer(p *pool, log *slog.Logger) *balancer {
	bl := &balancer{pool: p, log: log}
	bl.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			a, _ := pr.In.Context().Value(attemptKey{}).(*attempt)
			pr.SetURL(&url.URL{Scheme: "http", Host: a.b.addr})
			pr.Out.Host = pr.In.Host // the public name, as a cloud load balancer passes it
			pr.SetXForwarded()
		},
		ModifyResponse: func(res *http.Response) error {
			if a, ok := res.Request.Context().Value(attemptKey{}).(*attempt); ok && res.StatusCode == http.StatusSwitchingProtocols {
				a.b.websockets.Add(1)
			}
			return nil
		},
		// The error is kept for ServeHTTP, which retries a refused
		// connection elsewhere or answers 502.
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			if a, ok := r.Context().Value(attemptKey{}).(*attempt); ok {
				a.err = err
			}
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return bl
}

// countingBody is a request body that counts what was read and that the
// transport cannot close, so that a request whose connection was refused
// before a byte of it was sent can go to another node.
type countingBody struct {
	r io.Reader
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingBody) Close() error { return nil }

func (bl *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{r: r.Body}
	}
	kind := kindHTTP
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		kind = kindWebSocket
	}
	tried := map[*backend]bool{}
	for {
		b := bl.pool.pick(kind, func(b *backend) bool { return tried[b] })
		if b == nil {
			bl.pool.noBackend.Add(1)
			http.Error(w, "no ready backend", http.StatusServiceUnavailable)
			return
		}
		tried[b] = true
		a := &attempt{b: b}
		out := r.WithContext(context.WithValue(r.Context(), attemptKey{}, a))
		if body != nil {
			out.Body = body
		}
		b.requests.Add(1)
		bl.proxy.ServeHTTP(w, out)
		if a.err == nil {
			return
		}
		if refused(a.err) && (body == nil || body.n == 0) {
			b.refused.Add(1)
			if b.setUp(false) {
				bl.log.Info("backend refused a connection: out until its next ready check", "backend", b.addr)
			}
			continue
		}
		b.failed.Add(1)
		if !errors.Is(a.err, context.Canceled) {
			bl.log.Warn("proxy error", "backend", b.addr, "err", a.err)
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	}
}

// refused reports whether err is a failure to connect, before the request
// was written.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Stats are the counts printed at exit.
type Stats struct {
	Backends  []BackendStats `json:"backends"`
	NoBackend int64          `json:"no_backend"`
}

// BackendStats are one node's counts.
type BackendStats struct {
	Addr       string `json:"addr"`
	Ready      bool   `json:"ready"`
	Requests   int64  `json:"requests"`
	WebSockets int64  `json:"websockets"`
	Refused    int64  `json:"refused"`
	Failed     int64  `json:"failed"`
	Downs      int64  `json:"downs"`
}

func (p *pool) stats() Stats {
	s := Stats{NoBackend: p.noBackend.Load()}
	for _, b := range p.backends {
		s.Backends = append(s.Backends, BackendStats{Addr: b.addr, Ready: b.up.Load(), Requests: b.requests.Load(),
			WebSockets: b.websockets.Load(), Refused: b.refused.Load(), Failed: b.failed.Load(), Downs: b.downs.Load()})
	}
	return s
}

func (s Stats) print(w io.Writer) {
	fmt.Fprintf(w, "%-22s %5s %9s %10s %7s %6s %5s\n", "backend", "ready", "requests", "websockets", "refused", "failed", "downs")
	for _, b := range s.Backends {
		fmt.Fprintf(w, "%-22s %5t %9d %10d %7d %6d %5d\n", b.Addr, b.Ready, b.Requests, b.WebSockets, b.Refused, b.Failed, b.Downs)
	}
	fmt.Fprintf(w, "no ready backend: %d requests answered 503\n", s.NoBackend)
}
