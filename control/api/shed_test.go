package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
)

var discardLog = slog.New(slog.DiscardHandler)

// gate holds the requests that reach it until released: a test knows how
// many are running from entered, and lets them finish by closing release.
type gate struct {
	entered chan struct{}
	release chan struct{}
	// delay, if set, is how long a request takes once released, from how
	// many are running with it (a virtual time under synctest).
	delay   func(running int) time.Duration
	running atomic.Int32
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (g *gate) pass(ctx context.Context) error {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	select {
	case g.entered <- struct{}{}:
	default: // a test that does not count its requests
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if g.delay != nil {
		time.Sleep(g.delay(int(n)))
	}
	return nil
}

// waitEntered waits until n requests have reached the gate.
func (g *gate) waitEntered(t *testing.T, n int) {
	t.Helper()
	for range n {
		<-g.entered
	}
}

// gatedStore serves the agents list through a gate; nothing else.
type gatedStore struct {
	Store
	g *gate
}

func (s gatedStore) ListAgents(ctx context.Context, _ store.OrgID) ([]store.Agent, error) {
	return nil, s.g.pass(ctx)
}

// gatedAuth takes every token for a viewer's, and holds logins at a gate.
type gatedAuth struct {
	Authenticator
	g *gate
}

func (gatedAuth) Authenticate(context.Context, string) (auth.Principal, error) {
	return auth.Principal{OrgID: "org", UserID: "user", Role: store.RoleViewer}, nil
}

func (a gatedAuth) Login(ctx context.Context, _, _ string, _ netip.Addr) (auth.Tokens, error) {
	if err := a.g.pass(ctx); err != nil {
		return auth.Tokens{}, err
	}
	return auth.Tokens{AccessToken: "a", RefreshToken: "r", AccessExpiresAt: time.Now().Add(time.Hour)}, nil
}

// shedAPI is an API whose agents list and logins wait at gates, with its
// metrics registry.
func shedAPI(t *testing.T, cfg ShedConfig) (*API, *gate, *gate, *prometheus.Registry) {
	t.Helper()
	agents, logins := newGate(), newGate()
	reg := prometheus.NewRegistry()
	a, err := New(Config{Shed: cfg}, Deps{Store: gatedStore{g: agents}, Auth: gatedAuth{g: logins}, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return a, agents, logins, reg
}

func listAgents(a *API) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, Prefix+"/agents", nil)
	req.Header.Set("Authorization", "Bearer token")
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	return w
}

func login(a *API) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Prefix+"/auth/login", strings.NewReader(`{"email":"a@example.com","password":"p"}`))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	return w
}

// background serves n requests with do at once and returns their answers'
// statuses once all are done.
func background(n int, do func() *httptest.ResponseRecorder) func() []int {
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = do().Code })
	}
	return func() []int {
		wg.Wait()
		return statuses
	}
}

// metric is the value of the sample of name whose labels include labels;
// ok is false when there is none.
func metric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) (v float64, ok bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue samples
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func wantMetric(t *testing.T, reg prometheus.Gatherer, want float64, name string, labels ...string) {
	t.Helper()
	if v, ok := metric(t, reg, name, labels...); !ok || v != want {
		t.Errorf("%s%v = %v (found %v), want %v", name, labels, v, ok, want)
	}
}

func allOK(t *testing.T, statuses []int) {
	t.Helper()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: status %d, want 200", i, s)
		}
	}
}

// TestShedAnswers503WithRetryAfterBeyondTheLimit: with the limit's
// requests running, the next ones are answered at once with 503,
// Retry-After and a problem document, and counted; the running ones
// finish, and then requests are served again.
func TestShedAnswers503WithRetryAfterBeyondTheLimit(t *testing.T) {
	const limit = 3
	a, agents, _, reg := shedAPI(t, ShedConfig{MinLimit: limit, MaxLimit: limit, InitialLimit: limit})
	done := background(limit, func() *httptest.ResponseRecorder { return listAgents(a) })
	agents.waitEntered(t, limit)
	wantMetric(t, reg, limit, "iace_api_inflight")
	wantMetric(t, reg, limit, "iace_api_concurrency_limit")

	const excess = 5
	for range excess {
		w := listAgents(a)
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d beyond the limit, want 503 (%s)", w.Code, w.Body)
		}
		if ra := w.Header().Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q, want 1", ra)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type %q, want application/problem+json", ct)
		}
		if w.Header().Get("X-Request-Id") == "" {
			t.Error("a shed answer has no X-Request-Id")
		}
		var p problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != http.StatusServiceUnavailable ||
			p.Title != "Service Unavailable" || p.Instance != Prefix+"/agents" || p.Detail == "" {
			t.Errorf("problem %+v (%v), want a 503 for %s", p, err, Prefix+"/agents")
		}
	}
	wantMetric(t, reg, excess, "iace_api_shed_total")
	// Shed requests are counted under their route, as served ones are.
	wantMetric(t, reg, excess, "iace_api_requests_total", "route", "GET "+Prefix+"/agents", "status", "5xx")

	close(agents.release)
	allOK(t, done())
	wantMetric(t, reg, 0, "iace_api_inflight")
	if w := listAgents(a); w.Code != http.StatusOK {
		t.Errorf("status %d once the running requests finished, want 200", w.Code)
	}
	wantMetric(t, reg, excess, "iace_api_shed_total")
	wantMetric(t, reg, limit+1, "iace_api_requests_total", "route", "GET "+Prefix+"/agents", "status", "2xx")
}

// TestShedLeavesALightLoadAlone: with the defaults, thousands of requests
// one after another, each quick, shed nothing, and the limit they leave
// still takes a burst of MinLimit requests at once. Under synctest the
// requests take virtual time, so the limiter sees seconds of them and
// adapts as it would in service.
func TestShedLeavesALightLoadAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, agents, _, reg := shedAPI(t, ShedConfig{})
		agents.delay = func(int) time.Duration { return 3 * time.Millisecond }
		close(agents.release)
		for i := range 5000 { // 15 s
			if w := listAgents(a); w.Code != http.StatusOK {
				t.Fatalf("request %d: status %d, want 200", i, w.Code)
			}
		}
		if v, _ := metric(t, reg, "iace_api_concurrency_limit"); v < defaultShedMinLimit {
			t.Errorf("limit %v after a light load, want at least %d", v, defaultShedMinLimit)
		}

		slow := newGate()
		a.deps.Store = gatedStore{g: slow}
		done := background(defaultShedMinLimit, func() *httptest.ResponseRecorder { return listAgents(a) })
		slow.waitEntered(t, defaultShedMinLimit)
		wantMetric(t, reg, defaultShedMinLimit, "iace_api_inflight")
		close(slow.release)
		allOK(t, done())
		wantMetric(t, reg, 0, "iace_api_shed_total")
	})
}

// TestShedHoldsTheLatencyTargetUnderOverload: many clients, more than the
// limit, asking back to back of a node whose requests each wait 3 ms on
// the store and then share one core with every request running beside
// them, make the limit fall from where it started until accepted requests
// take about the latency target, and shed what is beyond it; clients that
// come back after Retry-After are served.
func TestShedHoldsTheLatencyTargetUnderOverload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := ShedConfig{Latency: 20 * time.Millisecond, MinLimit: 4, MaxLimit: 128, InitialLimit: 96}
		a, agents, _, reg := shedAPI(t, cfg)
		agents.delay = func(running int) time.Duration { return 3*time.Millisecond + time.Duration(running)*time.Millisecond }
		close(agents.release)
		start := time.Now()
		ctx, stop := context.WithTimeout(t.Context(), 60*time.Second)
		defer stop()
		var (
			mu                 sync.Mutex
			served, shed       int
			settled, settledOK time.Duration // the second half's accepted requests: total time, count as a duration
			wg                 sync.WaitGroup
		)
		for range 300 {
			wg.Go(func() {
				for ctx.Err() == nil {
					t0 := time.Now()
					w := listAgents(a)
					d := time.Since(t0)
					mu.Lock()
					switch w.Code {
					case http.StatusOK:
						served++
						if t0.Sub(start) > 30*time.Second {
							settled += d
							settledOK++
						}
					case http.StatusServiceUnavailable:
						shed++
					default:
						t.Errorf("status %d", w.Code)
					}
					mu.Unlock()
					if w.Code != http.StatusOK {
						time.Sleep(time.Second) // as Retry-After asks
					}
				}
			})
		}
		wg.Wait()
		limit, _ := metric(t, reg, "iace_api_concurrency_limit")
		mean := settled / max(settledOK, 1)
		t.Logf("served %d, shed %d, limit %v, accepted requests of the last 30 s: mean %v", served, shed, limit, mean)
		if limit >= float64(cfg.InitialLimit) || limit < float64(cfg.MinLimit) {
			t.Errorf("limit %v after a minute of overload, want it fallen from %d, not below %d", limit, cfg.InitialLimit, cfg.MinLimit)
		}
		if shed == 0 || served == 0 {
			t.Errorf("served %d, shed %d: want both", served, shed)
		}
		if mean > cfg.Latency*5/4 {
			t.Errorf("accepted requests took %v on average once settled, want about the target %v", mean, cfg.Latency)
		}
		wantMetric(t, reg, float64(shed), "iace_api_shed_total")
	})
}

// TestShedLoginIsShedButHoldsNoPermit: at the limit a login is shed like
// any request; below it, a login waiting (for the hasher) does not count
// against the limit.
func TestShedLoginIsShedButHoldsNoPermit(t *testing.T) {
	const limit = 2
	a, agents, logins, reg := shedAPI(t, ShedConfig{MinLimit: limit, MaxLimit: limit, InitialLimit: limit})

	loginDone := background(1, func() *httptest.ResponseRecorder { return login(a) })
	logins.waitEntered(t, 1)
	wantMetric(t, reg, 0, "iace_api_inflight")
	agentsDone := background(limit, func() *httptest.ResponseRecorder { return listAgents(a) })
	agents.waitEntered(t, limit) // the waiting login took no permit
	wantMetric(t, reg, limit, "iace_api_inflight")

	if w := login(a); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Errorf("login at the limit: status %d, Retry-After %q; want 503, 1", w.Code, w.Header().Get("Retry-After"))
	}
	wantMetric(t, reg, 1, "iace_api_shed_total")
	wantMetric(t, reg, 1, "iace_api_requests_total", "route", "POST "+Prefix+"/auth/login", "status", "5xx")

	close(logins.release)
	close(agents.release)
	allOK(t, loginDone())
	allOK(t, agentsDone())
	wantMetric(t, reg, 0, "iace_api_inflight")
}

// TestShedClasses: the event streams and the actions on a call in
// progress are never shed, password checks are shed but hold no permit,
// and everything else is limited, whatever the path's spelling.
func TestShedClasses(t *testing.T) {
	s, err := newShedder(ShedConfig{}, prometheus.NewRegistry(), discardLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		want         shedClass
	}{
		{http.MethodGet, "/calls/live/events", shedExempt},
		{http.MethodGet, "/calls/c1/events", shedExempt},
		{http.MethodPost, "/calls/c1/transfer", shedExempt},
		{http.MethodPost, "/calls/c1/hangup", shedExempt},
		{http.MethodPost, "/calls/c1/role", shedExempt},
		{http.MethodPost, "/calls/c1/whisper", shedExempt},
		{http.MethodPost, "/auth/login", shedAdmitOnly},
		{http.MethodPost, "/auth/password", shedAdmitOnly},
		{http.MethodPost, "/auth/refresh", shedLimited},
		{http.MethodGet, "/calls/live", shedLimited},
		{http.MethodGet, "/calls/c1", shedLimited},
		{http.MethodGet, "/calls", shedLimited},
		{http.MethodGet, "/calls/c1/transfer", shedLimited},
		{http.MethodGet, "/auth/login", shedLimited},
		{http.MethodGet, "/agents", shedLimited},
		{http.MethodGet, "/openapi.json", shedLimited},
		{http.MethodGet, "/calls/c1/events/more", shedLimited},
	} {
		if got := s.class(httptest.NewRequest(c.method, Prefix+c.path, nil)); got != c.want {
			t.Errorf("%s %s: class %d, want %d", c.method, c.path, got, c.want)
		}
	}
}

// TestShedRoutesAreOperations: every request shedRoutes treats apart is
// an operation of the API, so a renamed route cannot silently fall back
// to being limited.
func TestShedRoutesAreOperations(t *testing.T) {
	doc := Document()
	for pattern := range shedRoutes {
		method, path, _ := strings.Cut(pattern, " ")
		item := doc.Paths[strings.TrimPrefix(path, Prefix)]
		if item == nil {
			t.Errorf("%s: no such path in the API", pattern)
			continue
		}
		var o *huma.Operation
		switch method {
		case http.MethodGet:
			o = item.Get
		case http.MethodPost:
			o = item.Post
		}
		if o == nil {
			t.Errorf("%s: no such operation in the API", pattern)
		}
	}
}

// TestShedDisabledServesEverything: with shedding off, requests beyond
// any limit wait their turn, and only the shed counter is exported.
func TestShedDisabledServesEverything(t *testing.T) {
	a, agents, _, reg := shedAPI(t, ShedConfig{Disabled: true, MaxLimit: 1})
	const n = 3 * defaultShedMaxLimit
	done := background(n, func() *httptest.ResponseRecorder { return listAgents(a) })
	agents.waitEntered(t, n)
	close(agents.release)
	allOK(t, done())
	wantMetric(t, reg, 0, "iace_api_shed_total")
	if _, ok := metric(t, reg, "iace_api_concurrency_limit"); ok {
		t.Error("a disabled shedder exports a limit")
	}
}

// TestShedLimitsAreChecked: limits out of order are refused, not a panic.
func TestShedLimitsAreChecked(t *testing.T) {
	for _, cfg := range []ShedConfig{
		{MinLimit: 10, MaxLimit: 5},
		{MinLimit: 4, MaxLimit: 8, InitialLimit: 9},
		{MinLimit: -1},
		{Latency: -time.Millisecond},
	} {
		if _, err := New(Config{Shed: cfg}, Deps{Store: gatedStore{}, Auth: gatedAuth{}}); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	if c, err := (ShedConfig{MinLimit: 200}).withDefaults(); err != nil || c.MaxLimit != 200 || c.InitialLimit != 200 {
		t.Errorf("min 200 alone: %+v, %v; want max and initial 200", c, err)
	}
}

// TestShedPanicGivesThePermitBack: a handler that panics gives its permit
// back.
func TestShedPanicGivesThePermitBack(t *testing.T) {
	s, err := newShedder(ShedConfig{MinLimit: 1, MaxLimit: 1, InitialLimit: 1}, prometheus.NewRegistry(), discardLog)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/boom", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("/ok", func(http.ResponseWriter, *http.Request) {})
	h := s.wrap(mux)
	func() {
		defer func() {
			if err, _ := recover().(error); !errors.Is(err, http.ErrAbortHandler) {
				t.Errorf("recovered %v, want http.ErrAbortHandler", err)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/boom", nil))
	}()
	if n := s.limiter.Inflight(); n != 0 {
		t.Fatalf("%d in flight after a panic, want 0", n)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ok", nil))
	if w.Code != http.StatusOK {
		t.Errorf("status %d after a panic, want 200", w.Code)
	}
}

// TestRateMeterCountsWholeWindows: the rate is that of the last whole
// window, and an idle spell brings it down once a window closes.
func TestRateMeterCountsWholeWindows(t *testing.T) {
	var m rateMeter
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	if r := m.perSecond(t0); r != 0 {
		t.Fatalf("rate %v before anything finished, want 0", r)
	}
	for i := range 100 { // 200 a second over one window
		m.done(t0.Add(time.Duration(i) * rateWindow / 100))
	}
	if r := m.perSecond(t0.Add(rateWindow - time.Millisecond)); r != 0 {
		t.Errorf("rate %v within the first window, want 0 until it is whole", r)
	}
	if r := m.perSecond(t0.Add(rateWindow)); r != 100/rateWindow.Seconds() {
		t.Errorf("rate %v after the first window, want %v", r, 100/rateWindow.Seconds())
	}
	// Nothing finishes for three windows: the next one to close counts 0.
	if r := m.perSecond(t0.Add(4 * rateWindow)); r != 0 {
		t.Errorf("rate %v after an idle spell, want 0", r)
	}
}
