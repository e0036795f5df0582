package webhook_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/storetest"
)

const (
	salesNumber   = "+15559870002"
	unknownNumber = "+15550000999"
	caller        = "+15551230001"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// liveCalls plays the session engine: it records which calls it was asked
// to end, and holds the calls marked live.
type liveCalls struct {
	mu        sync.Mutex
	live      map[session.CallID]bool
	ended     map[session.CallID]session.EndReason
	escalated map[session.CallID]store.EscalationReason
	streams   map[session.CallID]string // each live call's stream, where a test set one
}

func (l *liveCalls) Escalate(_ context.Context, id session.CallID, r store.EscalationReason) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.live[id] {
		return false, nil
	}
	l.ended[id] = session.EndTransfer
	if l.escalated == nil {
		l.escalated = map[session.CallID]store.EscalationReason{}
	}
	l.escalated[id] = r
	return true, nil
}

func (l *liveCalls) Hangup(_ context.Context, id session.CallID, r session.EndReason) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.live[id] {
		return false, nil
	}
	l.ended[id] = r
	return true, nil
}

func (l *liveCalls) StreamOf(_ context.Context, id session.CallID) (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.streams[id], l.live[id], nil
}

// setStream makes id live on stream.
func (l *liveCalls) setStream(id session.CallID, stream string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live[id] = true
	if l.streams == nil {
		l.streams = map[session.CallID]string{}
	}
	l.streams[id] = stream
}

// HoldsLocally: this test's node holds the calls set live.
func (l *liveCalls) HoldsLocally(id session.CallID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live[id]
}

func (l *liveCalls) setLive(id session.CallID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live[id] = true
}

func (l *liveCalls) endedWith(id session.CallID) session.EndReason {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ended[id]
}

type env struct {
	t       *testing.T
	st      store.Store
	fake    *callcontroltest.Server
	live    *liveCalls
	h       *webhook.Handler
	srv     *httptest.Server
	priv    ed25519.PrivateKey
	reg     *prometheus.Registry
	cfg     webhook.Config
	stopped chan error
	cancel  context.CancelFunc
}

type backend struct {
	name string
	open func(t *testing.T) store.Store
}

func embeddedStore(t *testing.T) store.Store {
	st, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func postgresStore(t *testing.T) store.Store {
	st, err := postgres.Open(t.Context(), postgres.Config{URL: storetest.PostgresURL(), Schema: storetest.FreshSchema(t), Migrate: true, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var backends = []backend{{"embedded", embeddedStore}, {"postgres", postgresStore}}

// newEnv seeds two organizations: org-a's agent "sales" answers
// salesNumber and transfers on DTMF 0; org-b's "fallback" answers nothing.
func newEnv(t *testing.T, st store.Store, mutate func(*webhook.Config)) *env {
	t.Helper()
	return newEnvWith(t, st, mutate, nil)
}

// newEnvWith is newEnv whose handler's deps are changed by withDeps (the
// deduper is the store's, the log discarded, unless it says otherwise).
func newEnvWith(t *testing.T, st store.Store, mutate func(*webhook.Config), withDeps func(*webhook.Deps)) *env {
	t.Helper()
	ctx := t.Context()
	for _, org := range []store.OrgID{"org-a", "org-b"} {
		if _, err := st.CreateOrg(ctx, store.Organization{ID: org, Name: string(org)}); err != nil {
			t.Fatal(err)
		}
	}
	sales := store.DefaultAgent()
	sales.ID, sales.OrgID, sales.Escalation.TransferOnDTMFZero, sales.TransferNumber = "sales", "org-a", true, "+15550001111"
	fallback := store.DefaultAgent()
	fallback.ID, fallback.OrgID = "fallback", "org-b"
	for _, a := range []store.Agent{sales, fallback} {
		if _, err := st.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AllotNumber(ctx, "org-a", salesNumber); err != nil {
		t.Fatal(err)
	}
	if err := st.AssignNumber(ctx, store.Number{OrgID: "org-a", E164: salesNumber, AgentID: "sales"}); err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := callcontroltest.NewServer("test-key")
	t.Cleanup(fake.Close)
	cc, err := callcontrol.New(callcontrol.Config{BaseURL: fake.BaseURL(), APIKey: "test-key", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Close)
	cfg := webhook.DefaultConfig()
	cfg.PublicKey, cfg.PublicURL, cfg.StreamSecret = pub, "https://iace.example.com", secret
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	live := &liveCalls{live: map[session.CallID]bool{}, ended: map[session.CallID]session.EndReason{}}
	deps := webhook.Deps{
		Agents: st, Calls: st, Control: cc, Live: live,
		Dedupe: webhook.NewStoreDeduper(st), Metrics: webhook.NewMetrics(reg),
	}
	if withDeps != nil {
		withDeps(&deps)
	}
	h, err := webhook.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, st: st, fake: fake, live: live, h: h, srv: srv, priv: priv, reg: reg, cfg: cfg}
	t.Cleanup(func() {
		if e.cancel != nil {
			e.stop()
		}
	})
	return e
}

// start runs the handler's workers.
func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.stopped = cancel, make(chan error, 1)
	go func() { e.stopped <- e.h.Run(ctx) }()
}

// stop ends Run, which returns once every queued event has been processed:
// the tests' only synchronisation point with the workers.
func (e *env) stop() {
	e.t.Helper()
	e.cancel()
	e.cancel = nil
	if err := <-e.stopped; err != nil {
		e.t.Errorf("run: %v", err)
	}
}

type ev struct {
	id, typ, ccid, to, clientState, digit, direction, stream string
}

func (v ev) body() []byte {
	p := map[string]any{
		"call_control_id": v.ccid, "call_leg_id": "leg-" + v.ccid, "call_session_id": "sess-" + v.ccid,
		"connection_id": "1234567890", "from": caller, "to": v.to, "state": "parked",
	}
	if v.to == "" {
		p["to"] = salesNumber
	}
	if v.clientState != "" {
		p["client_state"] = v.clientState
	} else {
		p["client_state"] = nil
	}
	if v.typ == webhook.TypeCallInitiated {
		p["direction"] = "incoming"
		if v.direction != "" {
			p["direction"] = v.direction
		}
	}
	if v.digit != "" {
		p["digit"] = v.digit
	}
	if v.stream != "" {
		p["stream_id"] = v.stream
	}
	if v.typ == webhook.TypeCallHangup {
		p["hangup_cause"], p["hangup_source"] = "normal_clearing", "caller"
	}
	b, _ := json.Marshal(map[string]any{
		"data": map[string]any{"record_type": "event", "event_type": v.typ, "id": v.id,
			"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "payload": p},
		"meta": map[string]any{"attempt": 1, "delivered_to": "https://iace.example.com/webhooks/telnyx"},
	})
	return b
}

// post signs body as Telnyx does, at time ts, and returns the status.
func (e *env) post(body []byte, ts time.Time) int {
	e.t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(e.priv, append([]byte(stamp+"|"), body...))
	return e.postRaw(body, stamp, sig)
}

func (e *env) postRaw(body []byte, stamp string, sig []byte) int {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.srv.URL+"/webhooks/telnyx", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("telnyx-timestamp", stamp)
	req.Header.Set("telnyx-signature-ed25519", b64(sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (e *env) send(v ev) {
	e.t.Helper()
	if code := e.post(v.body(), time.Now()); code != http.StatusOK {
		e.t.Fatalf("%s %s: status %d, want 200", v.typ, v.id, code)
	}
}

func (e *env) call(org store.OrgID, ccid string) store.Call {
	e.t.Helper()
	d, err := e.st.GetCall(e.t.Context(), org, webhook.CallIDFor(ccid))
	if err != nil {
		e.t.Fatalf("call of %s: %v", ccid, err)
	}
	return d.Call
}

func (e *env) commands(action string) []callcontroltest.Command {
	var out []callcontroltest.Command
	for _, c := range e.fake.Commands() {
		if c.Action == action && c.Applied {
			out = append(out, c)
		}
	}
	return out
}

func csOf(org string, ccid string) string {
	return b64([]byte(fmt.Sprintf("%s/%s", org, webhook.CallIDFor(ccid))))
}
