package main

import (
	"bufio"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/store"
)

// TestLiveEventStreamsOutliveTheirDeadlinesAndEndAtShutdown: through iace
// serve with its request deadlines cut to 300 ms, the organization's live
// list follows a call from start to end, seconds past those deadlines;
// the shutdown ends the stream (dropped, draining) instead of waiting for
// it, and closes the listener cleanly.
func TestLiveEventStreamsOutliveTheirDeadlinesAndEndAtShutdown(t *testing.T) {
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--http-read-timeout", "300ms", "--http-write-timeout", "300ms"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFor(t, cfg)
	ctx := t.Context()
	// Logged in through the service, not the API: an argon2id hash on a
	// loaded machine can take longer than the 300 ms this server gives a
	// response, and the test is about the stream, not the login.
	if _, err := s.control.auth.CreateUser(ctx, demoOrg, "viewer@demo.example", "a long enough password", store.RoleViewer); err != nil {
		t.Fatal(err)
	}
	toks, err := s.control.auth.Login(ctx, "viewer@demo.example", "a long enough password", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	token := toks.AccessToken
	base := "http://" + s.publicLn.Addr().String() + "/api/v1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/calls/live/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /calls/live/events: %d", res.StatusCode)
	}
	events := make(chan string, 64) // event name, then its data line
	go func() {                     // ends with the stream
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- name
			} else if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- data
			}
		}
	}()
	next := func() (name, data string) {
		t.Helper()
		for _, v := range []*string{&name, &data} {
			select {
			case got, ok := <-events:
				if !ok {
					t.Fatal("the stream ended")
				}
				*v = got
			case <-time.After(30 * time.Second):
				t.Fatal("no event")
			}
		}
		return name, data
	}
	if name, _ := next(); name != "snapshot" {
		t.Fatalf("first event %q, want snapshot", name)
	}

	start := time.Now()
	rep, err := sim.Run(ctx, sim.Config{URL: s.url, Calls: 1, Script: []string{"goodbye"}, CallTimeout: 60 * time.Second})
	if err != nil || rep.CallsCompleted != 1 {
		t.Fatalf("call: %v, %d completed", err, rep.CallsCompleted)
	}
	var seen []string
	for {
		name, _ := next()
		seen = append(seen, name)
		if name == "ended" {
			break
		}
	}
	if seen[0] != "started" || !slices.Contains(seen, "state") || !slices.Contains(seen, "prediction") {
		t.Errorf("the live list got %v, want the call started, its states and predictions, its end", seen)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the call took %v: too short to outlast the deadlines", took)
	}

	if err := s.stop(5 * time.Second); err != nil {
		t.Fatalf("shutdown with a live list open: %v", err)
	}
	if name, data := next(); name != "dropped" || !strings.Contains(data, `"reason":"draining"`) {
		t.Errorf("at shutdown the stream got %s %s, want dropped (draining)", name, data)
	}
	if _, open := <-events; open {
		t.Error("the stream goes on after its last event")
	}
}
