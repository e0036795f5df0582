package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeAPI speaks the route list of mix.go: logins, rotating refresh tokens
// (reuse is refused), bearer auth, cursor-paged call lists whose ids and
// cursors it checks when they come back, and a /metrics of agent cache
// counters that count the agent reads.
type fakeAPI struct {
	mu            sync.Mutex
	n             int
	access        map[string]bool
	refresh       map[string]bool // false: rotated
	logins        int
	refreshes     int
	reused        int
	cursorsIssued map[string]bool
	cursorsUsed   int
	callIDs       map[string]bool
	callGets      int
	agentGets     int
	unknown       []string // requests the fake did not expect
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{access: map[string]bool{}, refresh: map[string]bool{}, cursorsIssued: map[string]bool{}, callIDs: map[string]bool{}}
}

func (f *fakeAPI) issue(w http.ResponseWriter) {
	f.n++
	a, r := fmt.Sprintf("access-%d", f.n), fmt.Sprintf("refresh-%d", f.n)
	f.access[a], f.refresh[r] = true, true
	writeJSONBody(w, tokens{AccessToken: a, RefreshToken: r, TokenType: "Bearer", ExpiresIn: 1800})
}

func writeJSONBody(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Email, Password string }
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Email != "load@example.com" || in.Password != "correct horse" {
			http.Error(w, "bad login", http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.logins++
		f.issue(w)
	})
	mux.HandleFunc("POST /api/v1/auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		defer f.mu.Unlock()
		live, known := f.refresh[in.RefreshToken]
		if !known || !live {
			f.reused++
			http.Error(w, "refresh token reused", http.StatusUnauthorized)
			return
		}
		f.refresh[in.RefreshToken] = false
		f.refreshes++
		f.issue(w)
	})
	authed := func(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			ok := f.access[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			f.mu.Unlock()
			if !ok {
				http.Error(w, "no token", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	type item struct {
		ID string `json:"id"`
	}
	mux.HandleFunc("GET /api/v1/calls", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		page := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			if !f.cursorsIssued[c] {
				http.Error(w, "unknown cursor", http.StatusBadRequest)
				return
			}
			f.cursorsUsed++
			_, _ = fmt.Sscanf(c, "page-%d", &page)
		}
		var body struct {
			Items      []item `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		for i := range 3 {
			id := fmt.Sprintf("call-%d-%d", page, i)
			f.callIDs[id] = true
			body.Items = append(body.Items, item{id})
		}
		body.NextCursor = fmt.Sprintf("page-%d", page+1)
		f.cursorsIssued[body.NextCursor] = true
		writeJSONBody(w, body)
	}))
	mux.HandleFunc("GET /api/v1/calls/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.callIDs[r.PathValue("id")] {
			http.NotFound(w, r)
			return
		}
		f.callGets++
		writeJSONBody(w, item{r.PathValue("id")})
	}))
	mux.HandleFunc("GET /api/v1/agents", authed(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONBody(w, map[string][]item{"items": {{"agent-1"}, {"agent-2"}}})
	}))
	mux.HandleFunc("GET /api/v1/agents/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != "agent-1" && id != "agent-2" {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		f.agentGets++
		f.mu.Unlock()
		writeJSONBody(w, item{r.PathValue("id")})
	}))
	ok := authed(func(w http.ResponseWriter, _ *http.Request) { writeJSONBody(w, map[string]any{"items": []item{}}) })
	for _, p := range []string{pathMe, pathLive, pathCust, pathPatterns, pathSimilar} {
		mux.Handle("GET "+p, ok)
	}
	mux.HandleFunc("GET /api/v1/analytics", authed(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, err1 := time.Parse(time.RFC3339, q.Get("from"))
		to, err2 := time.Parse(time.RFC3339, q.Get("to"))
		if err1 != nil || err2 != nil || !from.Before(to) || (q.Get("bucket") != "hour" && q.Get("bucket") != "day") {
			http.Error(w, "bad analytics query", http.StatusUnprocessableEntity)
			return
		}
		writeJSONBody(w, map[string]any{"buckets": []any{}})
	}))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		// Every agent read: the first two from the database, the rest local.
		local := max(f.agentGets-2, 0)
		fmt.Fprintf(w, "iace_cache_hits_total{cache=\"agent\",layer=\"local\"} %d\n", local)
		fmt.Fprintf(w, "iace_cache_hits_total{cache=\"agent\",layer=\"redis\"} 0\n")
		fmt.Fprintf(w, "iace_cache_misses_total{cache=\"agent\",layer=\"local\"} %d\n", f.agentGets-local)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.unknown = append(f.unknown, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		http.NotFound(w, r)
	})
	return mux
}

func TestRunAgainstTheRouteList(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFakeAPI()
	srv := httptest.NewServer(f.handler())
	defer srv.Close()

	const clients = 8
	rep, err := run(t.Context(), config{
		url: srv.URL + "/", email: "load@example.com", password: "correct horse", clients: clients,
		duration: 800 * time.Millisecond, ramp: 100 * time.Millisecond, think: 2 * time.Millisecond,
		timeout: 5 * time.Second, metrics: srv.URL + "/metrics", seed: 7,
	}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.print(&out)
	t.Log("\n" + out.String())

	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.unknown) > 0 {
		t.Errorf("requests outside the route list: %v", f.unknown)
	}
	if rep.Errors != 0 || rep.LoginFailures != 0 {
		t.Errorf("%d errors, %d login failures", rep.Errors, rep.LoginFailures)
	}
	if f.logins != clients {
		t.Errorf("%d logins for %d clients, want one each", f.logins, clients)
	}
	if f.reused != 0 || f.refreshes == 0 {
		t.Errorf("%d refreshes, %d reused refresh tokens: want some refreshes, each with the newest token", f.refreshes, f.reused)
	}
	if f.cursorsUsed == 0 || f.callGets == 0 {
		t.Errorf("cursors followed %d, calls read %d: want both", f.cursorsUsed, f.callGets)
	}
	byName := map[string]endpointStats{}
	for _, e := range rep.Endpoints {
		byName[e.Name] = e
	}
	if got := byName["POST "+pathLogin].Count; got != clients {
		t.Errorf("the report counts %d logins", got)
	}
	// A request in flight when the run ends is cut and not reported, so the
	// server may count up to one more per client.
	if got := byName["GET "+pathCalls+"/{id}"].Count; got > f.callGets || got < f.callGets-clients {
		t.Errorf("the report counts %d call reads, the server %d", got, f.callGets)
	}
	if rep.Requests < 200 {
		t.Errorf("only %d requests", rep.Requests)
	}
	if rep.Cache == nil || rep.Cache.Reads != int64(f.agentGets) || rep.Cache.LocalHits != int64(max(f.agentGets-2, 0)) {
		t.Errorf("agent cache %+v, the server read %d agents", rep.Cache, f.agentGets)
	}
}

func TestRunRefusesBadSettings(t *testing.T) {
	_, err := run(t.Context(), config{url: "127.0.0.1:8080", clients: 0, duration: time.Second, ramp: 2 * time.Second}, t.Logf)
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, want := range []string{"-url", "password", "-clients", "-duration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %s: %v", want, err)
		}
	}
}
