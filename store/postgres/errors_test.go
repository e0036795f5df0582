package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/postgres"
)

// cutProxy forwards TCP to PostgreSQL until cut: then every connection
// through it is closed and new ones are refused, as when the database host
// goes away.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		var d net.Dialer
		u, err := d.DialContext(context.Background(), "tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(u, c); _ = u.Close() })
		p.wg.Go(func() { _, _ = io.Copy(c, u); _ = c.Close() })
	}
}

// cut closes the listener and every connection, and waits for the pumps.
func (p *cutProxy) cut() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestErrors(t *testing.T) {
	t.Run("a database that is not listening is ErrUnavailable", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), postgres.Config{URL: "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("open: %v, want ErrUnavailable", err)
		}
	})

	t.Run("a connection cut under the store is ErrUnavailable", func(t *testing.T) {
		schema := freshSchema(t)
		s := openTest(t, postgres.Config{Schema: schema}) // migrates it, directly
		u, err := url.Parse(testURL())
		if err != nil {
			t.Fatal(err)
		}
		proxy := newCutProxy(t, u.Host)
		u.Host = proxy.ln.Addr().String()
		via, err := postgres.Open(t.Context(), postgres.Config{URL: u.String(), Schema: schema, MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = via.Close() }()
		org, err := via.CreateOrg(t.Context(), store.Organization{Name: "before the cut"})
		if err != nil {
			t.Fatal(err)
		}
		proxy.cut()
		for i := range 3 { // the pooled connection, then new ones refused
			if _, err := via.GetOrg(t.Context(), org.ID); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("read %d after the cut: %v, want ErrUnavailable", i, err)
			}
		}
		_, err = via.CreateOrg(t.Context(), store.Organization{Name: "after the cut"})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("write after the cut: %v, want ErrUnavailable", err)
		}
		if _, err := s.GetOrg(t.Context(), org.ID); err != nil {
			t.Errorf("the write before the cut is there: %v", err)
		}
	})

	t.Run("a caller's cancellation is not ErrUnavailable", func(t *testing.T) {
		s := openTest(t, postgres.Config{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.GetOrg(ctx, "x")
		if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("a cancelled read: %v, want context.Canceled only", err)
		}
	})
}
