package telnyx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace"
)

// recorder is an Acceptor that reads the stream to its end and keeps what it saw.
type recorder struct {
	mu      sync.Mutex
	admit   error
	started []*Start
	traces  []trace.SpanContext // the span context each stream's call runs under
	kinds   []EventKind
	errs    []string
}

func (r *recorder) Admit() error { return r.admit }

func (r *recorder) AcceptStream(ctx context.Context, c *Conn, s *Start) error {
	r.mu.Lock()
	r.started = append(r.started, s)
	r.traces = append(r.traces, trace.SpanContextFromContext(ctx))
	r.mu.Unlock()
	var ev Event
	for {
		err := c.Read(&ev)
		var pe *ProtocolError
		if errors.As(err, &pe) {
			r.mu.Lock()
			r.errs = append(r.errs, pe.Kind)
			r.mu.Unlock()
			continue
		}
		if err != nil {
			return nil //nolint:nilerr // the peer went away: the stream is over, not failed
		}
		r.mu.Lock()
		r.kinds = append(r.kinds, ev.Kind)
		r.mu.Unlock()
		if ev.Kind == EventStop {
			_ = c.Close(CloseNormal, "stop")
			return nil
		}
	}
}

func serveRecorder(t *testing.T, rec *recorder, cfg ConnConfig) (string, *Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	srv := httptest.NewServer(NewHandler(cfg, rec, m, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), m, reg
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func write(t *testing.T, ws *websocket.Conn, typ int, msg string) {
	t.Helper()
	if err := ws.WriteMessage(typ, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// waitClosed reads until the server closes and returns its close code.
func waitClosed(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("read: %v (want a close frame)", err)
		}
	}
}

func TestBadFramesAreSkippedAndCounted(t *testing.T) {
	rec := &recorder{}
	cfg := devConnConfig()
	cfg.MaxMessageBytes = 4096
	url, _, reg := serveRecorder(t, rec, cfg)
	ws := dial(t, url)
	write(t, ws, websocket.TextMessage, `{"event":"connected","version":"1.0.0"}`)
	write(t, ws, websocket.TextMessage, startJSON)
	write(t, ws, websocket.TextMessage, `{"event":"media",`)
	write(t, ws, websocket.BinaryMessage, "\x00\x01")
	write(t, ws, websocket.TextMessage, `{"event":"media","media":{"payload":"`+strings.Repeat("A", 8000)+`"}}`)
	write(t, ws, websocket.TextMessage, `{"event":"media","media":{"payload":"!!"}}`)
	write(t, ws, websocket.TextMessage, `{"event":"something_new"}`)
	write(t, ws, websocket.TextMessage, mediaFrame("2", "1", make([]byte, 160)))
	write(t, ws, websocket.TextMessage, stopFrame)
	if code := waitClosed(t, ws); code != CloseNormal {
		t.Errorf("close code %d", code)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := strings.Join(rec.errs, ","); got != "malformed_json,binary_frame,oversize,bad_base64" {
		t.Errorf("errors %s", got)
	}
	if len(rec.kinds) != 3 || rec.kinds[0] != EventUnknown || rec.kinds[1] != EventMedia || rec.kinds[2] != EventStop {
		t.Errorf("events %v: want unknown, media, stop", rec.kinds)
	}
	want := `
# HELP iace_telnyx_protocol_errors_total Frames that broke the Telnyx media-stream protocol, by kind; the frame was skipped.
# TYPE iace_telnyx_protocol_errors_total counter
iace_telnyx_protocol_errors_total{kind="bad_base64"} 1
iace_telnyx_protocol_errors_total{kind="bad_field"} 0
iace_telnyx_protocol_errors_total{kind="binary_frame"} 1
iace_telnyx_protocol_errors_total{kind="malformed_json"} 1
iace_telnyx_protocol_errors_total{kind="oversize"} 1
iace_telnyx_protocol_errors_total{kind="unexpected_event"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "iace_telnyx_protocol_errors_total"); err != nil {
		t.Error(err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	tests := []struct {
		name   string
		frames []string
		code   int
	}{
		{"unsupported codec", []string{`{"event":"connected"}`, strings.Replace(startJSON, `"PCMU"`, `"OPUS"`, 1)}, CloseUnsupported},
		{"media before start", []string{mediaFrame("1", "1", []byte{1})}, CloseProtocolError},
		{"start without call control id", []string{`{"event":"start","stream_id":"s","start":{}}`}, CloseProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			url, _, _ := serveRecorder(t, rec, devConnConfig())
			ws := dial(t, url)
			for _, f := range tt.frames {
				write(t, ws, websocket.TextMessage, f)
			}
			if code := waitClosed(t, ws); code != tt.code {
				t.Errorf("close code %d, want %d", code, tt.code)
			}
			if len(rec.started) != 0 {
				t.Error("the stream was accepted")
			}
		})
	}
}

func TestHandshakeTimesOut(t *testing.T) {
	cfg := devConnConfig()
	cfg.HandshakeTimeout = 100 * time.Millisecond
	url, _, _ := serveRecorder(t, &recorder{}, cfg)
	ws := dial(t, url)
	write(t, ws, websocket.TextMessage, `{"event":"connected"}`)
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("the server kept a stream that never started")
	}
}

func TestNotAdmittedIs503(t *testing.T) {
	url, _, _ := serveRecorder(t, &recorder{admit: errors.New("draining")}, devConnConfig())
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil {
		t.Fatal("upgrade succeeded while not admitting")
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestReadTimeoutEndsADeadStream(t *testing.T) {
	cfg := devConnConfig()
	cfg.ReadTimeout = 150 * time.Millisecond
	done := make(chan error, 1)
	acc := acceptFunc(func(c *Conn) error {
		var ev Event
		for {
			if err := c.Read(&ev); err != nil {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					done <- err
					return nil
				}
			}
		}
	})
	srv := httptest.NewServer(NewHandler(cfg, acc, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	ws := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"))
	write(t, ws, websocket.TextMessage, startJSON)
	select {
	case err := <-done:
		var ne interface{ Timeout() bool }
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read ended with %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a silent peer was not noticed")
	}
}

// devConnConfig is the default configuration with unauthenticated streams
// allowed, for the tests that are not about stream tokens.
func devConnConfig() ConnConfig {
	cfg := DefaultConnConfig()
	cfg.AllowUnauthenticated = true
	return cfg
}

type acceptFunc func(*Conn) error

func (acceptFunc) Admit() error { return nil }
func (f acceptFunc) AcceptStream(_ context.Context, c *Conn, _ *Start) error {
	return f(c)
}

// TestTheStreamLeavesTheRequestGoroutine: net/http's goroutine returns once
// the stream is upgraded, letting go of the request and its buffers, while
// the call goes on; Wait waits for the stream.
func TestTheStreamLeavesTheRequestGoroutine(t *testing.T) {
	rec := &recorder{}
	h := NewHandler(devConnConfig(), rec, NewMetrics(nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	returned := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	ws := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"))
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeHTTP still runs after the upgrade: the request goroutine holds the call")
	}
	// The stream is served all the same, after ServeHTTP has returned.
	write(t, ws, websocket.TextMessage, startJSON)
	write(t, ws, websocket.TextMessage, mediaFrame("2", "1", make([]byte, 160)))
	write(t, ws, websocket.TextMessage, stopFrame)
	if code := waitClosed(t, ws); code != CloseNormal {
		t.Errorf("close code %d", code)
	}
	h.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.started) != 1 || len(rec.kinds) != 2 || rec.kinds[0] != EventMedia || rec.kinds[1] != EventStop {
		t.Errorf("started %d streams, events %v: want one stream with media, stop", len(rec.started), rec.kinds)
	}
}
