package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/iace/iace/media/telnyx"
)

// claimsRecorder admits streams and keeps their start frames, then ends them.
type claimsRecorder struct {
	mu     sync.Mutex
	starts []telnyx.Start
}

func (*claimsRecorder) Admit() error { return nil }

func (r *claimsRecorder) AcceptStream(_ context.Context, c *telnyx.Conn, s *telnyx.Start) error {
	r.mu.Lock()
	r.starts = append(r.starts, *s)
	r.mu.Unlock()
	return c.Close(telnyx.CloseNormal, "test over")
}

func TestCallsCarryATokenMintedWithTheSecret(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	t.Setenv(streamSecretEnv, secret)
	rec := &claimsRecorder{}
	cfg := telnyx.DefaultConnConfig()
	cfg.StreamSecret = telnyx.Secret(secret)
	srv := httptest.NewServer(telnyx.NewHandler(cfg, rec, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	var stdout, stderr bytes.Buffer
	run([]string{"-url", url, "-calls", "2", "-quiet", "-greeting-timeout", "200ms",
		"-token-org", "org-a", "-token-agent", "sales", "-token-call", "call-x", "-call-control-id", "v3:ccid-x"}, &stdout, &stderr)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.starts) != 2 {
		t.Fatalf("%d streams admitted, want 2; stderr %s", len(rec.starts), stderr.String())
	}
	seen := map[string]bool{}
	for _, s := range rec.starts {
		c := s.Claims
		if c == nil || c.OrgID != "org-a" || c.AgentID != "sales" || c.CallControlID != s.CallControlID {
			t.Errorf("start %s with claims %+v", s.CallControlID, c)
			continue
		}
		seen[c.CallID+" "+c.CallControlID] = true
	}
	if !seen["call-x v3:ccid-x"] || !seen["call-x-2 v3:ccid-x-2"] {
		t.Errorf("calls %v: want call-x on v3:ccid-x and call-x-2 on v3:ccid-x-2", seen)
	}
}

func TestWithoutTheSecretCallsCarryNoToken(t *testing.T) {
	t.Setenv(streamSecretEnv, "")
	rec := &claimsRecorder{}
	cfg := telnyx.DefaultConnConfig()
	cfg.StreamSecret = telnyx.Secret("0123456789abcdef0123456789abcdef")
	srv := httptest.NewServer(telnyx.NewHandler(cfg, rec, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", "ws" + strings.TrimPrefix(srv.URL, "http"), "-quiet"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stdout.String()+stderr.String(), "401") {
		t.Errorf("exit %d, output %s %s: want the call refused with 401", code, stdout.String(), stderr.String())
	}
	if len(rec.starts) != 0 {
		t.Error("a stream without a token was admitted")
	}
}
