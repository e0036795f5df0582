package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/control/api"
	"github.com/iace/iace/media"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/postgres"
	"github.com/iace/iace/store/storetest"
)

// embedder is the offline embedder the API searches patterns with.
var embedder, _ = local.NewHashEmbedder(store.EmbeddingDims)

// password is every seeded user's password.
const password = "correct horse battery staple"

// org is one seeded organization: its users and one row of each kind.
type org struct {
	id                          store.OrgID
	admin, supervisor, viewer   store.User
	agent                       store.Agent
	number                      store.PhoneNumber
	customer                    store.Customer
	call                        store.Call
	pattern                     store.Pattern
	adminTok, supTok, viewerTok string
}

// env is an API over a real store, with two organizations.
type env struct {
	t     *testing.T
	st    store.Store
	api   *api.API
	srv   *httptest.Server
	a, b  *org
	live  *fakeLive
	calls *recordingCalls
	super *fakeSupervision
	// engine runs the calls whose live events the API streams, with the
	// store's agents and offline providers; no call runs unless a test
	// opens a media stream to it.
	engine *session.Engine
}

// backends runs fn against the embedded store and against PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("embedded", func(t *testing.T) {
		st, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := postgres.Open(t.Context(), postgres.Config{URL: storetest.PostgresURL(), Schema: storetest.FreshSchema(t), Migrate: true, MaxConns: 8})
		if err != nil {
			t.Fatalf("open %s: %v", storetest.PostgresURL(), err)
		}
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
}

// fakeLive is the node's registry of live calls as the API sees it.
type fakeLive struct {
	calls  []session.CallInfo
	mu     sync.Mutex
	handed map[session.CallID]store.EscalationReason
}

func (f *fakeLive) List() []session.CallInfo { return f.calls }

func (f *fakeLive) Live(_ context.Context, org store.OrgID) ([]session.CallInfo, error) {
	var out []session.CallInfo
	for _, c := range f.calls {
		if c.OrgID == org {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeLive) Handed(_ context.Context, _ store.OrgID, id session.CallID, r store.EscalationReason) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.handed == nil {
		f.handed = map[session.CallID]store.EscalationReason{}
	}
	f.handed[id] = r
	return true, nil
}

// recordingCalls records the Call Control actions the API asks for.
type recordingCalls struct{ actions []string }

func (r *recordingCalls) Transfer(_ context.Context, ccid, to string, _ []byte) error {
	r.actions = append(r.actions, "transfer "+ccid+" "+to)
	return nil
}

func (r *recordingCalls) Hangup(_ context.Context, ccid string) error {
	r.actions = append(r.actions, "hangup "+ccid)
	return nil
}

// fakeSupervision plays the engine's supervision commands on the calls of
// a fakeLive, with the engine's checks and errors: another organization's
// call is not found. It records the commands it carried out.
type fakeSupervision struct {
	live *fakeLive
	mu   sync.Mutex
	busy bool     // every command finds the call busy
	got  []string // "org call role", "org call whisper: text"
}

func (f *fakeSupervision) find(org store.OrgID, id session.CallID) error {
	for _, c := range f.live.List() {
		if c.ID == id && c.OrgID == org {
			return nil
		}
	}
	return session.ErrCallNotFound
}

func (f *fakeSupervision) Supervise(_ context.Context, org store.OrgID, id session.CallID, role session.SupervisorRole) error {
	if !role.Valid() {
		return session.ErrInvalidRole
	}
	return f.do(org, id, string(role))
}

func (f *fakeSupervision) Whisper(_ context.Context, org store.OrgID, id session.CallID, text string) error {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > session.MaxWhisperBytes || !utf8.ValidString(text) {
		return session.ErrInvalidWhisper
	}
	return f.do(org, id, "whisper: "+text)
}

func (f *fakeSupervision) do(org store.OrgID, id session.CallID, what string) error {
	if err := f.find(org, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return session.ErrSupervisorBusy
	}
	f.got = append(f.got, string(org)+" "+string(id)+" "+what)
	return nil
}

// setBusy makes every command from now on find the call busy.
func (f *fakeSupervision) setBusy() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy = true
}

// commands are the commands carried out so far.
func (f *fakeSupervision) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// newEnv seeds two organizations in st and serves the API over it.
func newEnv(t *testing.T, st store.Store, tweak func(*api.Config, *api.Deps)) *env {
	t.Helper()
	e := &env{t: t, st: st, live: &fakeLive{}, calls: &recordingCalls{}}
	e.super = &fakeSupervision{live: e.live}
	pacer, err := media.NewPacer(media.DefaultPacerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pacer.Close)
	if e.engine, err = session.NewEngine(session.DefaultConfig(), session.Deps{
		Agents: st, Chat: local.NewRuleAgent(), Synth: local.NewTones(), Pacer: pacer,
	}); err != nil {
		t.Fatal(err)
	}
	auth := newAuth(t, st)
	e.a = e.seed(auth, "org-a", "+15550000001", "+15551110001")
	e.b = e.seed(auth, "org-b", "+15550000002", "+15551110002")
	cfg := api.Config{}
	deps := api.Deps{Store: st, Stats: st, Auth: auth, Live: e.live, Events: e.engine, Supervision: e.super, Calls: e.calls, Embed: embedder}
	if tweak != nil {
		tweak(&cfg, &deps)
	}
	a, err := api.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e.api = a
	e.srv = httptest.NewServer(a)
	t.Cleanup(e.srv.Close)
	for _, o := range []*org{e.a, e.b} {
		o.adminTok = e.login(o.admin.Email)
		o.supTok = e.login(o.supervisor.Email)
		o.viewerTok = e.login(o.viewer.Email)
	}
	return e
}

// seedEvents are the events of each organization's ended call, started at
// started: as its session would have kept them.
func seedEvents(started time.Time) []store.CallEvent {
	return []store.CallEvent{
		{At: started.Add(100 * time.Millisecond), Kind: "greeting"},
		{At: started.Add(5 * time.Second), Kind: "caller_turn"},
		{At: started.Add(5*time.Second + 500*time.Millisecond), Kind: "dtmf", Detail: "1"},
		{At: started.Add(6 * time.Second), Kind: "holding_phrase", Detail: "chat model"},
		{At: started.Add(7 * time.Second), Kind: "agent_turn"},
	}
}

func (e *env) seed(auth api.Authenticator, id store.OrgID, number, caller store.PhoneNumber) *org {
	t, ctx := e.t, e.t.Context()
	o := &org{id: id, number: number}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed %s: %v", id, err)
		}
	}
	_, err := e.st.CreateOrg(ctx, store.Organization{ID: id, Name: "Org " + string(id)})
	must(err)
	o.admin, err = auth.CreateUser(ctx, id, "admin@"+string(id)+".example", password, store.RoleAdmin)
	must(err)
	o.supervisor, err = auth.CreateUser(ctx, id, "sup@"+string(id)+".example", password, store.RoleSupervisor)
	must(err)
	o.viewer, err = auth.CreateUser(ctx, id, "viewer@"+string(id)+".example", password, store.RoleViewer)
	must(err)
	ag := store.DefaultAgent()
	ag.ID, ag.OrgID, ag.TransferNumber = "", id, "+15559990000"
	o.agent, err = e.st.CreateAgent(ctx, ag)
	must(err)
	must(e.st.AllotNumber(ctx, id, number)) // as an operator does
	must(e.st.AssignNumber(ctx, store.Number{OrgID: id, E164: number, AgentID: o.agent.ID}))
	o.customer, err = e.st.CreateCustomer(ctx, store.Customer{OrgID: id, Phone: caller, Name: "Customer of " + string(id)})
	must(err)
	started := time.Now().UTC().Add(-time.Hour)
	o.call, err = e.st.CreateCall(ctx, store.Call{OrgID: id, AgentID: o.agent.ID, CustomerID: o.customer.ID,
		CallControlID: "v3:cc-" + string(id), Direction: "incoming", From: caller, To: number, Status: store.CallActive, StartedAt: started})
	must(err)
	o.call, err = e.st.FinishCall(ctx, store.CallEnd{OrgID: id, CallID: o.call.ID, EndedAt: started.Add(time.Minute),
		Outcome: store.OutcomeResolved, EndReason: "hangup", Turns: []store.Turn{
			{Seq: 1, Speaker: store.SpeakerAgent, Text: "Hello, how can I help?", StartedAt: started, EndedAt: started.Add(2 * time.Second)},
			{Seq: 2, Speaker: store.SpeakerCaller, Text: "What are your opening hours?", StartedAt: started.Add(3 * time.Second), EndedAt: started.Add(5 * time.Second)},
			{Seq: 3, Speaker: store.SpeakerAgent, Text: "Nine to five.", StartedAt: started.Add(6 * time.Second), EndedAt: started.Add(7 * time.Second),
				Latency: &store.Latency{OverheadMs: 20, LLMFirstToken: 250}},
		},
		Events: seedEvents(started)})
	must(err)
	vec, err := embedder.Embed(ctx, []string{"when are you open"})
	must(err)
	o.pattern, err = e.st.CreatePattern(ctx, store.Pattern{OrgID: id, AgentID: o.agent.ID, Kind: "faq",
		Trigger: "when are you open", Response: "Nine to five.", Embedding: vec[0]})
	must(err)
	return o
}

// resp is an answer of the API.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends one request with token (none if "") and body (JSON unless it is
// a []byte or nil).
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: raw}
}

func (e *env) login(email string) string {
	e.t.Helper()
	r := e.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if r.status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.json(e.t, &tok)
	return tok.AccessToken
}
