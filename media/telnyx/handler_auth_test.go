package telnyx

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func securedConfig() ConnConfig {
	cfg := DefaultConnConfig()
	cfg.StreamSecret = testSecret
	return cfg
}

// dialStatus tries the upgrade (with header, if any) and returns the HTTP
// status when it is refused.
func dialStatus(t *testing.T, u string, header ...http.Header) int {
	t.Helper()
	var h http.Header
	if len(header) > 0 {
		h = header[0]
	}
	ws, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err == nil {
		_ = ws.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestStreamWithoutValidTokenIs401(t *testing.T) {
	rec := &recorder{}
	base, _, _ := serveRecorder(t, rec, securedConfig())
	expired := mint(t, testSecret, testClaims, time.Now().Add(-time.Hour), time.Minute)
	foreign := mint(t, otherSecret, testClaims, time.Now(), time.Minute)
	for name, u := range map[string]string{
		"no token":               base,
		"an empty token":         base + "?token=",
		"a garbled token":        base + "?token=v1.abc.def",
		"an expired token":       base + "?token=" + expired,
		"another secret's token": base + "?token=" + foreign,
	} {
		t.Run("a stream with "+name+" is refused before the upgrade", func(t *testing.T) {
			if got := dialStatus(t, u); got != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", got)
			}
		})
	}
	if len(rec.started) != 0 {
		t.Error("a stream without a valid token reached the acceptor")
	}
}

// TestAStreamContinuesTheTraceItsTokenNames: the webhook that answered
// the call put its trace context in the token; the call runs under it.
func TestAStreamContinuesTheTraceItsTokenNames(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	rec := &recorder{}
	base, _, _ := serveRecorder(t, rec, securedConfig())
	claims := testClaims
	claims.TraceParent = parent
	ws := dial(t, base+"?token="+url.QueryEscape(mint(t, testSecret, claims, time.Now(), 2*time.Minute)))
	write(t, ws, websocket.TextMessage, startJSON)
	write(t, ws, websocket.TextMessage, stopFrame)
	if code := waitClosed(t, ws); code != CloseNormal {
		t.Fatalf("close code %d", code)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.traces) != 1 {
		t.Fatalf("%d streams", len(rec.traces))
	}
	sc := rec.traces[0]
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" || !sc.IsRemote() || !sc.IsSampled() {
		t.Errorf("the call runs under %+v, want the token's trace parent", sc)
	}
}

func TestStreamWithValidTokenCarriesItsClaims(t *testing.T) {
	rec := &recorder{}
	base, _, _ := serveRecorder(t, rec, securedConfig())
	tok := mint(t, testSecret, testClaims, time.Now(), 2*time.Minute)
	ws := dial(t, base+"?token="+url.QueryEscape(tok))
	write(t, ws, websocket.TextMessage, startJSON)
	write(t, ws, websocket.TextMessage, stopFrame)
	if code := waitClosed(t, ws); code != CloseNormal {
		t.Fatalf("close code %d", code)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.started) != 1 || rec.started[0].Claims == nil {
		t.Fatalf("started %v: want one stream with claims", rec.started)
	}
	if c := *rec.started[0].Claims; c.CallID != testClaims.CallID || c.OrgID != testClaims.OrgID || c.AgentID != testClaims.AgentID {
		t.Errorf("claims %+v", c)
	}
}

func TestTokenForAnotherCallIsRefused(t *testing.T) {
	rec := &recorder{}
	base, _, _ := serveRecorder(t, rec, securedConfig())
	other := testClaims
	other.CallControlID = "v3:someOtherCall"
	ws := dial(t, base+"?token="+mint(t, testSecret, other, time.Now(), time.Minute))
	write(t, ws, websocket.TextMessage, startJSON)
	if code := waitClosed(t, ws); code != ClosePolicy {
		t.Errorf("close code %d, want %d", code, ClosePolicy)
	}
	if len(rec.started) != 0 {
		t.Error("the stream was accepted")
	}
}

func TestAllowUnauthenticatedAdmitsStreamsWithoutToken(t *testing.T) {
	rec := &recorder{}
	cfg := securedConfig()
	cfg.AllowUnauthenticated = true
	base, _, _ := serveRecorder(t, rec, cfg)
	ws := dial(t, base)
	write(t, ws, websocket.TextMessage, startJSON)
	write(t, ws, websocket.TextMessage, stopFrame)
	if code := waitClosed(t, ws); code != CloseNormal {
		t.Fatalf("close code %d", code)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.started) != 1 || rec.started[0].Claims != nil {
		t.Errorf("started %v: want one stream without claims", rec.started)
	}
	// A token that is present is still checked.
	if got := dialStatus(t, base+"?token=v1.forged.token"); got != http.StatusUnauthorized {
		t.Errorf("a forged token: status %d, want 401", got)
	}
}

func TestSecretIsNotPrinted(t *testing.T) {
	cfg := securedConfig()
	for _, s := range []string{cfg.StreamSecret.String(), cfg.StreamSecret.GoString(), cfg.StreamSecret.LogValue().String()} {
		if strings.Contains(s, string(testSecret)) || !strings.Contains(s, "redacted") {
			t.Errorf("secret printed as %q", s)
		}
	}
}

func TestStreamFromABrowserPageIsRefusedUnlessItsOriginIsAllowed(t *testing.T) {
	rec := &recorder{}
	cfg := securedConfig()
	cfg.AllowedOrigins = []string{"https://ops.example.com"}
	base, _, _ := serveRecorder(t, rec, cfg)
	tok := mint(t, testSecret, testClaims, time.Now(), 2*time.Minute)
	u := base + "?token=" + url.QueryEscape(tok)
	dial := func(origin string) int {
		t.Helper()
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return dialStatus(t, u, h)
	}
	if got := dial("https://evil.example"); got != http.StatusForbidden {
		t.Errorf("a page of another origin: status %d, want 403", got)
	}
	if got := dial("https://ops.example.com"); got != http.StatusSwitchingProtocols {
		t.Errorf("a page of an allowed origin: status %d, want 101", got)
	}
	if got := dial(""); got != http.StatusSwitchingProtocols {
		t.Errorf("Telnyx (no Origin): status %d, want 101", got)
	}
}
