package main

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iace/iace/store/storetest"
)

// TestReadyzStaysReadyWhileTheStoreIsUnreachable: readiness is the node's
// own (draining, capacity). PostgreSQL going away, which every node shares,
// leaves /readyz at 200; /readyz?verbose=1 and iace_dependency_up say the
// store is down, and up again when it is back. The dependency pinger stops
// with the server.
func TestReadyzStaysReadyWhileTheStoreIsUnreachable(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	dbURL, err := url.Parse(storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	pg := newCutProxy(t, dbURL.Host)
	dbURL.Host = pg.addr()
	q := dbURL.Query()
	q.Set("search_path", storetest.FreshSchema(t)+",public")
	dbURL.RawQuery = q.Encode()
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "json",
		"--data-dir", t.TempDir(), "--cluster-prefix", "iace-test:" + rand.Text()[:10] + ":"},
		env(map[string]string{"IACE_DATABASE_URL": dbURL.String(), "IACE_REDIS_URL": "redis://127.0.0.1:6379/0"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFor(t, cfg)
	internal := "http://" + s.intLn.Addr().String()
	expect := func(when, path string, status int, lines ...string) {
		t.Helper()
		code, body := getStatus(t, internal+path)
		if code != status {
			t.Errorf("%s: %s answered %d, want %d\n%s", when, path, code, status, body)
		}
		for _, l := range lines {
			if !strings.Contains(body, l+"\n") {
				t.Errorf("%s: %s lacks %q:\n%s", when, path, l, body)
			}
		}
	}
	gauges := func(when string, store, redis string) {
		t.Helper()
		_, metrics := getStatus(t, internal+"/metrics")
		for _, want := range []string{`iace_dependency_up{name="store"} ` + store, `iace_dependency_up{name="redis"} ` + redis} {
			if !strings.Contains(metrics, want+"\n") {
				t.Errorf("%s: metrics lack %s", when, want)
			}
		}
	}

	expect("both up", "/readyz", http.StatusOK, "ready")
	expect("both up", "/readyz?verbose=1", http.StatusOK, "ready", "dependency store: up", "dependency redis: up")
	gauges("both up", "1", "1")

	pg.setCut(true)
	expect("store cut", "/readyz", http.StatusOK, "ready")
	expect("store cut", "/readyz?verbose=1", http.StatusOK, "ready", "dependency redis: up")
	if _, body := getStatus(t, internal+"/readyz?verbose=1"); !strings.Contains(body, "dependency store: down (") {
		t.Errorf("store cut: the report does not say the store is down:\n%s", body)
	}
	gauges("store cut", "0", "1")
	if !strings.Contains(s.logs.String(), `"msg":"dependency unreachable; this node stays ready","dependency":"store"`) {
		t.Error("the store's outage was not logged")
	}

	pg.setCut(false)
	// The pool still holds connections that died in the outage, younger
	// than the idle time past which it checks them before use (1 s): a
	// ping may get one, fail, and remove it. So each check either reaches
	// the database or leaves the pool one dead connection fewer, and the
	// pool holds at most max(4, CPUs) of them.
	for range 4 + runtime.NumCPU() {
		if _, body := getStatus(t, internal+"/readyz?verbose=1"); strings.Contains(body, "dependency store: up\n") {
			break
		}
	}
	expect("store back", "/readyz?verbose=1", http.StatusOK, "ready", "dependency store: up", "dependency redis: up")
	gauges("store back", "1", "1")
	if !strings.Contains(s.logs.String(), `"msg":"dependency reachable again","dependency":"store"`) {
		t.Error("the store's return was not logged")
	}

	// Draining is what takes the node out, verbose or not.
	if err := s.engine.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	expect("draining", "/readyz", http.StatusServiceUnavailable, "draining")
	expect("draining", "/readyz?verbose=1", http.StatusServiceUnavailable, "draining", "dependency store: up")

	if err := s.stop(time.Second); err != nil {
		t.Fatal(err)
	}
	pg.close()
	goleak.VerifyNone(t, ignore)
}

// getStatus GETs url and returns the status and the body.
func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// cutProxy forwards TCP connections to a target until it is cut: then it
// closes the connections open through it, and each new one as soon as it
// is accepted, as a database that went away.
type cutProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(c) })
	}
}

// track registers c, unless the proxy is cut.
func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (p *cutProxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *cutProxy) pipe(c net.Conn) {
	defer p.untrack(c)
	var d net.Dialer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	b, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil || !p.track(b) {
		if b != nil {
			_ = b.Close()
		}
		return
	}
	defer p.untrack(b)
	done := make(chan struct{})
	go func() { // ends when either side closes: both are closed below
		_, _ = io.Copy(b, c)
		_ = b.Close()
		close(done)
	}()
	_, _ = io.Copy(c, b)
	_ = c.Close()
	<-done
}

// setCut cuts the proxy, closing every connection through it, or lets
// new connections through again.
func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if !cut {
		return
	}
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// close cuts the proxy for good and waits for its goroutines.
func (p *cutProxy) close() {
	_ = p.ln.Close()
	p.setCut(true)
	p.wg.Wait()
}
