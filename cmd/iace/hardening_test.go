package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
)

func TestUnauthenticatedStreamsAutoMeansALoopbackQuickStartOnly(t *testing.T) {
	quick := config{UnauthenticatedStreams: "auto", Addr: "127.0.0.1:8080"}
	for _, tc := range []struct {
		name  string
		edit  func(*config)
		allow bool
	}{
		{"a loopback quick start", func(*config) {}, true},
		{"IPv6 loopback", func(c *config) { c.Addr = "[::1]:8080" }, true},
		{"localhost", func(c *config) { c.Addr = "localhost:8080" }, true},
		{"every interface", func(c *config) { c.Addr = ":8080" }, false},
		{"a public address", func(c *config) { c.Addr = "192.0.2.10:8080" }, false},
		{"a Telnyx key", func(c *config) { c.TelnyxKey = "k" }, false},
		{"a stream secret", func(c *config) { c.StreamSecret = strings.Repeat("s", 32) }, false},
		{"PostgreSQL", func(c *config) { c.DatabaseURL = "postgres://db/iace" }, false},
		{"false on a quick start", func(c *config) { c.UnauthenticatedStreams = "false" }, false},
		{"true in production", func(c *config) { c.UnauthenticatedStreams, c.Addr, c.TelnyxKey = "true", ":8080", "k" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quick
			tc.edit(&cfg)
			allow, why := allowUnauthenticated(cfg)
			if allow != tc.allow || why == "" {
				t.Errorf("allowed %v (%q), want %v and a reason", allow, why, tc.allow)
			}
		})
	}
}

// productionEmbedded is iace serve as the audit ran it: the embedded store,
// Telnyx webhooks and Call Control on, a stream secret, on loopback.
func productionEmbedded(t *testing.T, tx *callcontroltest.Server, extra ...string) (*server, *logBuffer) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "json",
		"--data-dir", t.TempDir(), "--public-url", "https://iace.example.com",
		"--telnyx-public-key", base64.StdEncoding.EncodeToString(pub), "--telnyx-api-url", tx.BaseURL()}, extra...)
	cfg, err := loadConfig(args, env(map[string]string{
		"IACE_TELNYX_API_KEY": "telnyx-test-key", "IACE_STREAM_SECRET": "stream-secret-0123456789abcdef0123",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFor(t, cfg)
	return s.server, s.logs
}

func TestAForgedStreamCannotDriveCallControl(t *testing.T) {
	tx := callcontroltest.NewServer("telnyx-test-key")
	defer tx.Close()
	s, logs := productionEmbedded(t, tx)
	if !strings.Contains(logs.String(), "media streams without a token are refused") {
		t.Errorf("the start log does not say that streams without a token are refused:\n%s", logs)
	}
	// The audit's attack: a stream with no token names a victim's call
	// control id and asks for a human, which would transfer that call.
	rep, _ := sim.Run(t.Context(), sim.Config{
		URL: "ws://" + s.publicLn.Addr().String() + "/media/telnyx", Calls: 1, CallControlID: "v3:victims-call",
		Transfer: 1, Script: []string{"I want to talk to a human"}, CallTimeout: 5 * time.Second,
	})
	if rep.CallsCompleted != 0 || rep.GreetingsHeard != 0 {
		t.Errorf("a stream without a token was served: %d calls, %d greetings", rep.CallsCompleted, rep.GreetingsHeard)
	}
	if cmds := tx.Commands(); len(cmds) != 0 {
		t.Errorf("Call Control requests left the server: %+v", cmds)
	}
}

func TestIdleAndSlowConnectionsAreCut(t *testing.T) {
	tx := callcontroltest.NewServer("telnyx-test-key")
	defer tx.Close()
	s, _ := productionEmbedded(t, tx, "--http-idle-timeout", "300ms", "--http-read-timeout", "300ms")
	addr := s.publicLn.Addr().String()

	t.Run("an idle keep-alive connection is closed", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: iace\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		// The server closes the idle connection: the read ends with EOF well
		// before this bound (the test's own limit, not a wait for a race).
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Errorf("idle connection: read %v, want EOF", err)
		}
	})

	t.Run("a webhook body sent a byte at a time is cut off", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		fmt.Fprintf(c, "POST /webhooks/telnyx HTTP/1.1\r\nHost: iace\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a body that never ends: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("status %d for a body that never arrived", resp.StatusCode)
		}
	})
}

func TestThePublicListenerCapsItsConnections(t *testing.T) {
	tx := callcontroltest.NewServer("telnyx-test-key")
	defer tx.Close()
	s, _ := productionEmbedded(t, tx, "--max-connections", "2")
	addr := s.publicLn.Addr().String()
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		held = append(held, c)
	}
	// A third client gets no answer while two connections are open...
	third, err := net.Dial("tcp", addr) // the kernel's backlog takes it
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = third.Close() }()
	fmt.Fprintf(third, "GET / HTTP/1.1\r\nHost: iace\r\n\r\n")
	metrics := "http://" + s.intLn.Addr().String() + "/metrics"
	waitMetric(t, metrics, `iace_http_connection_limit_waits_total{listener="public"} 1`)
	if !strings.Contains(get(t, metrics), `iace_http_open_connections{listener="public"} 2`) {
		t.Error("open connections not counted")
	}
	// ...and is served as soon as one of them closes.
	_ = held[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("the waiting client was not served once a place freed: %v", err)
	}
	_ = resp.Body.Close()
}

// waitMetric polls /metrics until it shows line (the counter moves on the
// server's accept loop, asynchronously to the test).
func waitMetric(t *testing.T, u, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(get(t, u), line) {
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %q", line)
		}
		time.Sleep(20 * time.Millisecond) // polling a counter, not a race
	}
}

func TestPprofNeedsItsTokenOrAnExplicitLoopbackFlag(t *testing.T) {
	tx := callcontroltest.NewServer("telnyx-test-key")
	defer tx.Close()
	status := func(s *server, token string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.intLn.Addr().String()+"/debug/pprof/cmdline", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	off, _ := productionEmbedded(t, tx)
	if got := status(off, ""); got != http.StatusNotFound {
		t.Errorf("pprof by default: %d, want 404", got)
	}
	on, _ := productionEmbedded(t, tx, "--pprof")
	if got := status(on, ""); got != http.StatusOK {
		t.Errorf("pprof with --pprof on loopback: %d, want 200", got)
	}
	if _, err := loadConfig([]string{"--pprof", "--internal-addr", ":9090"}, env(nil), io.Discard); err == nil {
		t.Error("--pprof on every interface was accepted")
	}
	token := strings.Repeat("p", 32)
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", t.TempDir()},
		env(map[string]string{"IACE_PPROF_TOKEN": token}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFor(t, cfg).server
	if got := status(s, ""); got != http.StatusUnauthorized {
		t.Errorf("pprof without its token: %d, want 401", got)
	}
	if got := status(s, "wrong"+token[5:]); got != http.StatusUnauthorized {
		t.Errorf("pprof with a wrong token: %d, want 401", got)
	}
	if got := status(s, token); got != http.StatusOK {
		t.Errorf("pprof with its token: %d, want 200", got)
	}
}
