package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// served is iace serve running for one test, on loopback ports.
type served struct {
	*server
	logs *logBuffer
	url  string // the media WebSocket
	stop func(drain time.Duration) error
}

// serveFor starts iace serve with cfg for the test. stop drains and shuts
// it down once, checks that both listeners closed cleanly and returns the
// shutdown's error; the test's cleanup stops it if the test did not.
func serveFor(t *testing.T, cfg config) *served {
	t.Helper()
	logs := newLog()
	ctx, cancel := context.WithCancel(t.Context())
	s, err := newServer(ctx, cfg, logs)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	errc := s.start(ctx)
	var once sync.Once
	var stopErr error
	stop := func(drain time.Duration) error {
		once.Do(func() {
			stopErr = s.shutdown(ctx, drain, nil)
			cancel()
			for range 2 { // both listeners
				if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("serve: %v", err)
				}
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop(time.Second) })
	return &served{server: s, logs: logs, url: "ws://" + s.publicLn.Addr().String() + "/media/telnyx", stop: stop}
}

// agentsConfig is the loopback test configuration serving the agent of
// agentJSON (written to an agents file) with offline providers.
func agentsConfig(t *testing.T, agentJSON string) config {
	t.Helper()
	dir := t.TempDir()
	agents := filepath.Join(dir, "agents.json")
	if err := os.WriteFile(agents, []byte(agentJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", dir,
		"--agents-file", agents}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// login creates a user of org with role and returns an access token.
func login(t *testing.T, s *served, org store.OrgID, email string, role store.Role) string {
	t.Helper()
	const password = "a long enough password"
	if _, err := s.control.auth.CreateUser(t.Context(), org, email, password, role); err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	base := "http://" + s.publicLn.Addr().String() + "/api/v1"
	if code := apiCall(t, http.MethodPost, base+"/auth/login", "", map[string]string{"email": email, "password": password}, &tok); code != http.StatusOK {
		t.Fatalf("login %s: %d", email, code)
	}
	return tok.AccessToken
}
