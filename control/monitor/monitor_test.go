package monitor_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: the TURN REST API scheme the server implements is HMAC-SHA1; the test checks it
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/control/monitor"
	"github.com/iace/iace/control/ratelimit"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/rtc"
	"github.com/iace/iace/media/rtc/rtctest"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// tokens is an authenticator that knows a few tokens.
type tokens map[string]auth.Principal

func (t tokens) Authenticate(_ context.Context, bearer string) (auth.Principal, error) {
	tok, _ := auth.BearerToken(bearer)
	if p, ok := t[tok]; ok {
		return p, nil
	}
	return auth.Principal{}, auth.ErrUnauthorized
}

var principals = tokens{
	"sup":    {OrgID: "acme", UserID: "u-sup", Role: store.RoleSupervisor},
	"sup2":   {OrgID: "acme", UserID: "u-sup2", Role: store.RoleSupervisor},
	"admin":  {OrgID: "acme", UserID: "u-admin", Role: store.RoleAdmin},
	"viewer": {OrgID: "acme", UserID: "u-viewer", Role: store.RoleViewer},
	"other":  {OrgID: "globex", UserID: "u-other", Role: store.RoleAdmin},
	"hasty":  {OrgID: "acme", UserID: "u-hasty", Role: store.RoleSupervisor},
}

// call is a live call that nobody feeds: a listener is answered, not heard.
// One supervisor may talk on it at a time, as on the session's calls.
type call struct {
	id     string
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	talker *mic
}

func (c *call) ID() string            { return c.id }
func (c *call) Format() media.Format  { return media.PCMU8k }
func (c *call) Done() <-chan struct{} { return c.done }
func (c *call) SetTap(rtc.Tap)        {}
func (c *call) RemoveTap(rtc.Tap)     {}
func (c *call) end()                  { c.once.Do(func() { close(c.done) }) }

// mic is a supervisor's microphone on a call; closing it frees the call.
type mic struct {
	*call
	closed chan struct{}
	once   sync.Once
}

func (m *mic) Audio([]byte) {}
func (m *mic) Close() {
	m.once.Do(func() {
		m.mu.Lock()
		if m.talker == m {
			m.talker = nil
		}
		m.mu.Unlock()
		close(m.closed)
	})
}

func (c *call) talk() (*mic, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.talker != nil {
		return nil, session.ErrVoiceTaken
	}
	c.talker = &mic{call: c, closed: make(chan struct{})}
	return c.talker, nil
}

func (c *call) currentTalker() *mic {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.talker
}

// calls has acme's live calls "live" and "ended" (gone by the time it is
// answered), "starting" whose media has not begun, and globex's "theirs".
type calls struct{ live, ended, theirs *call }

func (c calls) MonitorCall(org store.OrgID, id store.CallID) (rtc.Call, error) {
	switch {
	case org == "acme" && id == "live":
		return c.live, nil
	case org == "acme" && id == "ended":
		return c.ended, nil
	case org == "acme" && id == "starting":
		return nil, session.ErrNotStreaming
	case org == "globex" && id == "theirs":
		return c.theirs, nil
	}
	return nil, session.ErrCallNotFound
}

func (c calls) TalkCall(org store.OrgID, id store.CallID) (rtc.Mic, error) {
	lc, err := c.MonitorCall(org, id)
	if err != nil {
		return nil, err
	}
	return lc.(*call).talk() //nolint:forcetypeassert // MonitorCall's own *call
}

// records has acme's call "ringing", recorded by its webhook, whose stream
// has not reached this node, and "over", ended.
type records struct{}

func (records) GetCall(_ context.Context, org store.OrgID, id store.CallID) (store.CallDetail, error) {
	var d store.CallDetail
	switch {
	case org == "acme" && id == "ringing":
		d.Call = store.Call{ID: id, OrgID: org, Status: store.CallRinging}
	case org == "acme" && id == "over":
		d.Call = store.Call{ID: id, OrgID: org, Status: store.CallEnded}
	default:
		return d, store.ErrNotFound
	}
	return d, nil
}

type rig struct {
	url  string
	reg  *prometheus.Registry
	srv  *rtc.Server
	live *call
}

func newRig(t *testing.T, maxListeners int) *rig {
	t.Helper()
	cfg := rtc.DefaultConfig()
	cfg.ListenIP, cfg.Loopback, cfg.MaxListeners = netip.MustParseAddr("127.0.0.1"), true, maxListeners
	srv, err := rtc.NewServer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	live, ended, theirs := &call{id: "live", done: make(chan struct{})}, &call{id: "ended", done: make(chan struct{})}, &call{id: "theirs", done: make(chan struct{})}
	ended.end()
	hasty, err := ratelimit.NewLocal(ratelimit.Config{Name: "whep_test", Rate: ratelimit.Rate{N: 2, Per: time.Hour}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	mcfg := monitor.DefaultConfig()
	mcfg.ICEServers = []string{"stun:stun.example.com:3478"}
	mcfg.CORSOrigins = []string{"https://ops.example.com"}
	h, err := monitor.New(mcfg, monitor.Deps{
		Auth: principals, Calls: calls{live: live, ended: ended, theirs: theirs}, Records: records{},
		Listeners: srv, Limit: onlyFor("open:u-hasty", hasty), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
		live.end()
		theirs.end()
	})
	return &rig{url: hs.URL, reg: reg, srv: srv, live: live}
}

// onlyFor limits key with l and lets every other key through.
func onlyFor(key string, l ratelimit.Limiter) ratelimit.Limiter { return limitOne{key, l} }

type limitOne struct {
	key string
	l   ratelimit.Limiter
}

func (o limitOne) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if key != o.key {
		return true, 0, nil
	}
	return o.l.Allow(ctx, key)
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (r *rig) do(t *testing.T, method, path, token, contentType, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: string(b)}
}

func offer(t *testing.T, sections int) string {
	t.Helper()
	c, o, err := rtctest.NewClient(sections)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	return o
}

// TestEveryoneButTheCallsOwnSupervisorsIsRefused: the security cases, each
// with its status; the bodies are problem+json; another organization's
// call is answered exactly like one that does not exist.
func TestEveryoneButTheCallsOwnSupervisorsIsRefused(t *testing.T) {
	r := newRig(t, 100)
	good := offer(t, 1)
	const sdp = "application/sdp"
	for _, tc := range []struct {
		name        string
		path, token string
		ctype, body string
		status      int
		retryAfter  bool
	}{
		{"no token", "/whep/calls/live", "", sdp, good, http.StatusUnauthorized, false},
		{"a forged token", "/whep/calls/live", "forged", sdp, good, http.StatusUnauthorized, false},
		{"a viewer", "/whep/calls/live", "viewer", sdp, good, http.StatusForbidden, false},
		{"an unknown call", "/whep/calls/nope", "sup", sdp, good, http.StatusNotFound, false},
		{"another organization's call", "/whep/calls/theirs", "sup", sdp, good, http.StatusNotFound, false},
		{"an ended call", "/whep/calls/ended", "sup", sdp, good, http.StatusNotFound, false},
		{"an ended call of the store", "/whep/calls/over", "sup", sdp, good, http.StatusNotFound, false},
		{"a call whose media has not started", "/whep/calls/starting", "sup", sdp, good, http.StatusConflict, true},
		{"a call recorded but not yet streaming here", "/whep/calls/ringing", "sup", sdp, good, http.StatusConflict, true},
		{"not SDP", "/whep/calls/live", "sup", "application/json", `{"sdp":"v=0"}`, http.StatusUnsupportedMediaType, false},
		{"no content type", "/whep/calls/live", "sup", "", good, http.StatusUnsupportedMediaType, false},
		{"malformed SDP", "/whep/calls/live", "sup", sdp, "v=0\r\nthis is not sdp", http.StatusBadRequest, false},
		{"an offer without audio", "/whep/calls/live", "sup", sdp, strings.ReplaceAll(good, "m=audio", "m=video"), http.StatusBadRequest, false},
		{"two tracks asked of one audio section", "/whep/calls/live?tracks=sides", "sup", sdp, good, http.StatusBadRequest, false},
		{"an unknown tracks value", "/whep/calls/live?tracks=stereo", "sup", sdp, good, http.StatusBadRequest, false},
		{"an oversized offer", "/whep/calls/live", "sup", sdp, good + strings.Repeat("a=x:y\r\n", 10000), http.StatusRequestEntityTooLarge, false},
		{"GET on the endpoint", "/whep/calls/live", "sup", "", "", http.StatusMethodNotAllowed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			if strings.HasPrefix(tc.name, "GET") {
				method = http.MethodGet
			}
			a := r.do(t, method, tc.path, tc.token, tc.ctype, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want problem+json", ct)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal([]byte(a.body), &p); err != nil || p.Status != tc.status || p.Detail == "" {
				t.Errorf("problem %s (%v)", a.body, err)
			}
			if got := a.header.Get("Retry-After") != ""; got != tc.retryAfter {
				t.Errorf("Retry-After %q, want one: %v", a.header.Get("Retry-After"), tc.retryAfter)
			}
			if a.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if a.header.Get("Location") != "" {
				t.Error("a refusal with a Location")
			}
		})
	}
	unknown := r.do(t, http.MethodPost, "/whep/calls/nope", "sup", sdp, good)
	theirs := r.do(t, http.MethodPost, "/whep/calls/theirs", "sup", sdp, good)
	if unknown.body != theirs.body {
		t.Errorf("another organization's call is told apart from an unknown one:\n%s\n%s", unknown.body, theirs.body)
	}
	if n := r.srv.Listeners(); n != 0 {
		t.Errorf("%d listeners after refusals only", n)
	}
	for result, want := range map[string]float64{"unauthorized": 2, "forbidden": 1, "not_found": 6, "not_streaming": 2, "started": 0} {
		if got := sessions(t, r.reg, "listen", result); got != want {
			t.Errorf("sessions_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// sessions is iace_monitor_sessions_total{kind, result}.
func sessions(t *testing.T, reg *prometheus.Registry, kind, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "iace_monitor_sessions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series for kind %q result %q", kind, result)
	return 0
}

// TestASupervisorOpensAndClosesASession: 201 with a PCMU-only answer, the
// session's Location and the ICE servers; only its owner deletes it; a
// guessed session is 404; a second delete is 404.
func TestASupervisorOpensAndClosesASession(t *testing.T) {
	r := newRig(t, 100)
	for _, token := range []string{"sup", "admin"} {
		a := r.do(t, http.MethodPost, "/whep/calls/live", token, "application/sdp", offer(t, 1))
		if a.status != http.StatusCreated {
			t.Fatalf("%s: status %d: %s", token, a.status, a.body)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/sdp" {
			t.Errorf("Content-Type %q", ct)
		}
		if !strings.Contains(a.body, "PCMU/8000") || strings.Contains(a.body, "opus") || !strings.Contains(a.body, "a=sendonly") {
			t.Errorf("the answer is not sendonly PCMU:\n%s", a.body)
		}
		if link := a.header.Get("Link"); link != `<stun:stun.example.com:3478>; rel="ice-server"` {
			t.Errorf("Link %q", link)
		}
		loc := a.header.Get("Location")
		id, ok := strings.CutPrefix(loc, "/whep/sessions/")
		if !ok || len(id) != 32 {
			t.Fatalf("Location %q: want /whep/sessions/ and 128 random bits in hex", loc)
		}
		for _, other := range []string{"sup2", "other"} {
			if d := r.do(t, http.MethodDelete, loc, other, "", ""); d.status != http.StatusNotFound {
				t.Errorf("%s deleted %s's session: %d", other, token, d.status)
			}
		}
		if d := r.do(t, http.MethodDelete, loc, "", "", ""); d.status != http.StatusUnauthorized {
			t.Errorf("a delete without a token: %d", d.status)
		}
		if p := r.do(t, http.MethodPatch, loc, token, "application/trickle-ice-sdpfrag", "a=candidate:x"); p.status != http.StatusMethodNotAllowed {
			t.Errorf("PATCH (trickle): %d, want 405", p.status)
		}
		if d := r.do(t, http.MethodDelete, loc, token, "", ""); d.status != http.StatusOK {
			t.Errorf("the owner's delete: %d %s", d.status, d.body)
		}
		if d := r.do(t, http.MethodDelete, loc, token, "", ""); d.status != http.StatusNotFound {
			t.Errorf("a second delete: %d", d.status)
		}
	}
	if d := r.do(t, http.MethodDelete, "/whep/sessions/0123456789abcdef0123456789abcdef", "sup", "", ""); d.status != http.StatusNotFound {
		t.Errorf("a guessed session: %d", d.status)
	}
	a := r.do(t, http.MethodPost, "/whep/calls/live?tracks=sides", "sup", "application/sdp", offer(t, 2))
	if a.status != http.StatusCreated || strings.Count(a.body, "m=audio") != 2 || strings.Count(a.body, "a=sendonly") != 2 {
		t.Errorf("two tracks: %d\n%s", a.status, a.body)
	}
}

// TestOptionsRateLimitsAndCapacity: OPTIONS says what to POST; CORS
// preflights from allowed origins only; a user past their rate gets 429;
// a node at capacity 503, both with Retry-After.
func TestOptionsRateLimitsAndCapacity(t *testing.T) {
	r := newRig(t, 1)
	o := r.do(t, http.MethodOptions, "/whep/calls/live", "", "", "")
	if o.status != http.StatusNoContent || o.header.Get("Accept-Post") != "application/sdp" {
		t.Errorf("OPTIONS: %d, Accept-Post %q", o.status, o.header.Get("Accept-Post"))
	}
	pre := r.do(t, http.MethodOptions, "/whep/calls/live", "", "", "", "Origin", "https://ops.example.com", "Access-Control-Request-Method", "POST")
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://ops.example.com" ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	if bad := r.do(t, http.MethodOptions, "/whep/calls/live", "", "", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"); bad.status != http.StatusForbidden {
		t.Errorf("a preflight from another origin: %d", bad.status)
	}
	cross := r.do(t, http.MethodPost, "/whep/calls/live", "sup", "application/sdp", offer(t, 1), "Origin", "https://ops.example.com")
	if cross.status != http.StatusCreated || !strings.Contains(cross.header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("a cross-origin POST: %d, exposes %q", cross.status, cross.header.Get("Access-Control-Expose-Headers"))
	}
	full := r.do(t, http.MethodPost, "/whep/calls/live", "admin", "application/sdp", offer(t, 1))
	if full.status != http.StatusServiceUnavailable || full.header.Get("Retry-After") == "" {
		t.Errorf("at capacity: %d, Retry-After %q", full.status, full.header.Get("Retry-After"))
	}
	for i := range 3 { // hasty may act twice an hour
		a := r.do(t, http.MethodPost, "/whep/calls/nope", "hasty", "application/sdp", offer(t, 1))
		want := http.StatusNotFound
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if a.status != want || (want == http.StatusTooManyRequests) != (a.header.Get("Retry-After") != "") {
			t.Errorf("request %d: %d (Retry-After %q), want %d", i+1, a.status, a.header.Get("Retry-After"), want)
		}
	}
}

func talkOffer(t *testing.T) string {
	t.Helper()
	c, o, err := rtctest.NewTalker()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	return o
}

// TestASupervisorTalksOnACall is WHIP: the same refusals as listening,
// with a player's recvonly offer refused; a microphone gets 201 with a
// recvonly PCMU answer and its session's Location; a second supervisor
// on the same call is 409 until the first deletes theirs, which only they
// may do, and which closes the call's voice input.
func TestASupervisorTalksOnACall(t *testing.T) {
	r := newRig(t, 100)
	good := talkOffer(t)
	const sdp = "application/sdp"
	for _, tc := range []struct {
		name, path, token, body string
		status                  int
	}{
		{"no token", "/whip/calls/live", "", good, http.StatusUnauthorized},
		{"a viewer", "/whip/calls/live", "viewer", good, http.StatusForbidden},
		{"an unknown call", "/whip/calls/nope", "sup", good, http.StatusNotFound},
		{"another organization's call", "/whip/calls/theirs", "sup", good, http.StatusNotFound},
		{"an ended call", "/whip/calls/ended", "sup", good, http.StatusNotFound},
		{"a call whose media has not started", "/whip/calls/starting", "sup", good, http.StatusConflict},
		{"a player's offer", "/whip/calls/live", "sup", offer(t, 1), http.StatusBadRequest},
		{"a guessed session", "/whip/sessions/0123456789abcdef0123456789abcdef", "sup", "", http.StatusNotFound},
	} {
		method := http.MethodPost
		if strings.Contains(tc.path, "/sessions/") {
			method = http.MethodDelete
		}
		if a := r.do(t, method, tc.path, tc.token, sdp, tc.body); a.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, a.status, tc.status, a.body)
		}
	}
	if m := r.live.currentTalker(); m != nil {
		t.Fatal("a refused talker holds the call's microphone")
	}
	a := r.do(t, http.MethodPost, "/whip/calls/live", "sup", sdp, good)
	if a.status != http.StatusCreated || !strings.Contains(a.body, "a=recvonly") || !strings.Contains(a.body, "PCMU/8000") || strings.Contains(a.body, "opus") {
		t.Fatalf("talk: %d\n%s", a.status, a.body)
	}
	loc := a.header.Get("Location")
	if id, ok := strings.CutPrefix(loc, "/whip/sessions/"); !ok || len(id) != 32 {
		t.Fatalf("Location %q", loc)
	}
	m := r.live.currentTalker()
	if m == nil {
		t.Fatal("the call's microphone is not held")
	}
	busy := r.do(t, http.MethodPost, "/whip/calls/live", "sup2", sdp, talkOffer(t))
	if busy.status != http.StatusConflict || busy.header.Get("Retry-After") != "" {
		t.Errorf("a second talker: %d (Retry-After %q): %s", busy.status, busy.header.Get("Retry-After"), busy.body)
	}
	if d := r.do(t, http.MethodDelete, strings.Replace(loc, "/whip/", "/whep/", 1), "sup", "", ""); d.status != http.StatusNotFound {
		t.Errorf("a talking session deleted as a listening one: %d", d.status)
	}
	if d := r.do(t, http.MethodDelete, loc, "sup2", "", ""); d.status != http.StatusNotFound {
		t.Errorf("another supervisor deleted the session: %d", d.status)
	}
	if d := r.do(t, http.MethodDelete, loc, "sup", "", ""); d.status != http.StatusOK {
		t.Fatalf("the owner's delete: %d %s", d.status, d.body)
	}
	select {
	case <-m.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("deleting the session did not close the call's microphone")
	}
	if again := r.do(t, http.MethodPost, "/whip/calls/live", "sup2", sdp, talkOffer(t)); again.status != http.StatusCreated {
		t.Errorf("talking after the first left: %d %s", again.status, again.body)
	}
	for result, want := range map[string]float64{"started": 2, "busy": 1, "forbidden": 1, "not_found": 3, "bad_request": 1} {
		if got := sessions(t, r.reg, "talk", result); got != want {
			t.Errorf("sessions_total{kind=talk,result=%q} = %v, want %v", result, got, want)
		}
	}
}

// TestTURNCredentials: with a shared secret every session's Link for a
// TURN server carries its own credentials, the TURN REST API's (expiry and
// user, HMAC-SHA1 under the secret), on the 201 and on an authenticated
// OPTIONS, which a non-trickling player needs before its offer; STUN
// servers carry none; nobody else gets them.
func TestTURNCredentials(t *testing.T) {
	srv, err := rtc.NewServer(func() rtc.Config {
		c := rtc.DefaultConfig()
		c.ListenIP, c.Loopback = netip.MustParseAddr("127.0.0.1"), true
		return c
	}(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	live := &call{id: "live", done: make(chan struct{})}
	defer live.end()
	cfg := monitor.DefaultConfig()
	cfg.ICEServers = []string{"stun:stun.example.com:3478", "turn:turn.example.com:3478?transport=udp"}
	cfg.TURN = monitor.TURN{Secret: "a shared secret with coturn", TTL: time.Hour}
	h, err := monitor.New(cfg, monitor.Deps{Auth: principals, Calls: calls{live: live, ended: live, theirs: live}, Listeners: srv})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()
	r := &rig{url: hs.URL}

	check := func(what string, links []string) {
		t.Helper()
		if len(links) != 2 || links[0] != `<stun:stun.example.com:3478>; rel="ice-server"` {
			t.Fatalf("%s: Link %q", what, links)
		}
		var user, cred string
		for _, part := range strings.Split(links[1], "; ") {
			if v, ok := strings.CutPrefix(part, "username="); ok {
				user = strings.Trim(v, `"`)
			}
			if v, ok := strings.CutPrefix(part, "credential="); ok {
				cred = strings.Trim(v, `"`)
			}
		}
		expiry, who, ok := strings.Cut(user, ":")
		exp, err := strconv.ParseInt(expiry, 10, 64)
		if !ok || err != nil || who != "u-sup" || time.Until(time.Unix(exp, 0)) < 59*time.Minute || time.Until(time.Unix(exp, 0)) > time.Hour {
			t.Errorf("%s: TURN username %q, want an expiry an hour ahead and the user", what, user)
		}
		mac := hmac.New(sha1.New, []byte("a shared secret with coturn"))
		mac.Write([]byte(user))
		if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); cred != want || !strings.Contains(links[1], `credential-type="password"`) {
			t.Errorf("%s: TURN credential %q, want %q", what, cred, want)
		}
	}
	a := r.do(t, http.MethodPost, "/whep/calls/live", "sup", "application/sdp", offer(t, 1))
	if a.status != http.StatusCreated {
		t.Fatalf("listen: %d %s", a.status, a.body)
	}
	check("201", a.header.Values("Link"))
	check("OPTIONS", r.do(t, http.MethodOptions, "/whip/calls/live", "sup", "", "").header.Values("Link"))
	for _, token := range []string{"", "viewer", "forged"} {
		if l := r.do(t, http.MethodOptions, "/whep/calls/live", token, "", "").header.Values("Link"); len(l) != 0 {
			t.Errorf("OPTIONS with token %q got the ICE servers: %q", token, l)
		}
	}

	for name, bad := range map[string]monitor.TURN{
		"secret and password": {Secret: "s", Username: "u", Password: "p", TTL: time.Hour},
		"username alone":      {Username: "u", TTL: time.Hour},
		"a week":              {Secret: "s", TTL: 7 * 24 * time.Hour},
		"a quote":             {Username: `u"`, Password: "p", TTL: time.Hour},
	} {
		c := monitor.DefaultConfig()
		c.ICEServers, c.TURN = []string{"turn:turn.example.com"}, bad
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := monitor.DefaultConfig()
	c.ICEServers, c.TURN = []string{"stun:stun.example.com"}, monitor.TURN{Secret: "s", TTL: time.Hour}
	if err := c.Validate(); err == nil {
		t.Error("TURN credentials without a TURN server: accepted")
	}
}
