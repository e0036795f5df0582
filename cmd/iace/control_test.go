package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/storetest"
)

// caller is the calling number: the simulator's first call says it in its
// start frame too.
const caller = "+15550000001"

// telnyxEvent is a webhook as Telnyx posts it.
func telnyxEvent(id, typ, ccid, to string, extra map[string]any) []byte {
	p := map[string]any{
		"call_control_id": ccid, "call_leg_id": "leg-" + ccid, "call_session_id": "sess-" + ccid,
		"connection_id": "1234567890", "from": caller, "to": to, "state": "parked", "client_state": nil,
	}
	for k, v := range extra {
		p[k] = v
	}
	b, _ := json.Marshal(map[string]any{
		"data": map[string]any{"record_type": "event", "event_type": typ, "id": id,
			"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "payload": p},
		"meta": map[string]any{"attempt": 1, "delivered_to": "https://iace.example.com/webhooks/telnyx"},
	})
	return b
}

// postSigned posts body to url signed with priv at ts, as Telnyx signs.
func postSigned(t *testing.T, u string, priv ed25519.PrivateKey, body []byte, ts time.Time) int {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(priv, append([]byte(stamp+"|"), body...))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("telnyx-timestamp", stamp)
	req.Header.Set("telnyx-signature-ed25519", base64.StdEncoding.EncodeToString(sig))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// apiCall sends one control API request and decodes its JSON answer into out.
func apiCall(t *testing.T, method, u, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, u, err, raw)
		}
	}
	return res.StatusCode
}

// TestTelnyxWebhookCallThroughToTheAPI is the control plane end to end, on
// PostgreSQL and Redis: a signed call.initiated reaches IACE, which records
// the call and answers it through (fake) Telnyx Call Control with a stream
// URL carrying a per-call token; the simulated caller streams with that
// token and holds a conversation; a signed call.hangup arrives; the call,
// its transcript and outcome are then readable through the API by the
// organization, and not by another one.
func TestTelnyxWebhookCallThroughToTheAPI(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tx := callcontroltest.NewServer("telnyx-test-key")
	defer tx.Close()
	dbURL, err := url.Parse(storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := dbURL.Query()
	q.Set("search_path", storetest.FreshSchema(t)+",public")
	dbURL.RawQuery = q.Encode()

	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "json",
		"--data-dir", t.TempDir(), "--default-agent", "", "--public-url", "https://iace.example.com",
		"--telnyx-public-key", base64.StdEncoding.EncodeToString(pub), "--telnyx-api-url", tx.BaseURL()},
		env(map[string]string{
			"IACE_DATABASE_URL": dbURL.String(), "IACE_REDIS_URL": "redis://127.0.0.1:6379/0",
			"IACE_TELNYX_API_KEY": "telnyx-test-key", "IACE_STREAM_SECRET": "stream-secret-0123456789abcdef0123",
			"IACE_AUTH_SECRET": "auth-secret-0123456789abcdef012345",
		}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLog()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := newServer(ctx, cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	errc := s.start(ctx)
	defer func() {
		_ = s.shutdown(ctx, time.Second, nil)
		for range 2 { // both listeners
			if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
		}
	}()
	base := "http://" + s.publicLn.Addr().String()

	// Two organizations: A answers +15550001000 with the demo agent.
	const number = "+15550001000"
	orgs := map[store.OrgID]string{}
	for _, org := range []store.OrgID{"acme", "globex"} {
		if _, err := s.stores.backend.CreateOrg(ctx, store.Organization{ID: org, Name: string(org)}); err != nil {
			t.Fatal(err)
		}
		email := "admin@" + string(org) + ".example"
		if _, err := s.control.auth.CreateUser(ctx, org, email, "a long enough password", store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if code := apiCall(t, http.MethodPost, base+"/api/v1/auth/login", "", map[string]string{"email": email, "password": "a long enough password"}, &tok); code != 200 {
			t.Fatalf("login %s: %d", org, code)
		}
		orgs[org] = tok.AccessToken
	}
	var agent struct{ ID string }
	if code := apiCall(t, http.MethodPost, base+"/api/v1/agents", orgs["acme"], map[string]any{
		"name": "Front desk", "greeting": "Hello, thanks for calling Acme. How can I help you today?", "fallback": "Sorry, could you say that again?",
		"intents": []map[string]any{
			{"name": "hours", "keywords": []string{"hours", "open"}, "reply": "We are open Monday to Friday, nine to five."},
			{"name": "bye", "keywords": []string{"goodbye", "bye"}, "reply": "Thanks for calling. Goodbye!", "action": "end_call"},
		},
	}, &agent); code != http.StatusCreated {
		t.Fatalf("create agent: %d", code)
	}
	// An operator provisions the number for A, whose admin routes it.
	if err := s.stores.backend.AllotNumber(ctx, "acme", number); err != nil {
		t.Fatal(err)
	}
	if code := apiCall(t, http.MethodPost, base+"/api/v1/numbers", orgs["acme"], map[string]any{"e164": number, "agent_id": agent.ID}, nil); code != 200 {
		t.Fatalf("assign number: %d", code)
	}

	// Telnyx: a call to the number is initiated.
	// Event ids are unique per run: Redis remembers delivered ones for a day.
	run := rand.Text()[:8]
	ccid := "v3:webhook-e2e-" + run
	hook := base + "/webhooks/telnyx"
	initiated := telnyxEvent("evt-1-"+run, "call.initiated", ccid, number, map[string]any{"direction": "incoming"})
	if code := postSigned(t, hook, priv, initiated, time.Now()); code != 200 {
		t.Fatalf("call.initiated: %d", code)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	answer, err := tx.WaitApplied(wctx, "answer", ccid)
	if err != nil {
		t.Fatalf("no answer reached Telnyx: %v", err)
	}
	for k, want := range map[string]any{"stream_track": "inbound_track", "stream_bidirectional_mode": "rtp",
		"stream_bidirectional_codec": "PCMU", "stream_bidirectional_target_legs": "self"} {
		if answer.Body[k] != want {
			t.Errorf("answer %s = %v, want %v", k, answer.Body[k], want)
		}
	}
	streamURL, err := url.Parse(fmt.Sprint(answer.Body["stream_url"]))
	if err != nil || streamURL.Scheme != "wss" || streamURL.Host != "iace.example.com" || streamURL.Path != "/media/telnyx" {
		t.Fatalf("stream_url %v (%v)", answer.Body["stream_url"], err)
	}
	token := streamURL.Query().Get("token")
	// A replayed call.initiated has no second effect; a forged one is refused.
	if code := postSigned(t, hook, priv, initiated, time.Now()); code != 200 {
		t.Fatalf("redelivered call.initiated: %d", code)
	}
	_, forged, _ := ed25519.GenerateKey(rand.Reader)
	if code := postSigned(t, hook, forged, telnyxEvent("evt-9-"+run, "call.initiated", "v3:forged-"+run, number, nil), time.Now()); code != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d, want 401", code)
	}
	if code := postSigned(t, hook, priv, telnyxEvent("evt-8-"+run, "call.initiated", "v3:stale-"+run, number, nil), time.Now().Add(-10*time.Minute)); code != http.StatusUnauthorized {
		t.Fatalf("stale webhook: %d, want 401", code)
	}
	if code := postSigned(t, hook, priv, telnyxEvent("evt-2-"+run, "call.answered", ccid, number, nil), time.Now()); code != 200 {
		t.Fatalf("call.answered: %d", code)
	}

	// The media stream: refused without the token, held with it.
	media := "ws://" + s.publicLn.Addr().String() + "/media/telnyx"
	if rep, _ := sim.Run(ctx, sim.Config{URL: media, To: number, CallControlID: ccid}); rep.CallsCompleted != 0 {
		t.Fatal("a stream without a token was admitted")
	}
	rep, err := sim.Run(ctx, sim.Config{
		URL: media, To: number, CallControlID: ccid,
		Script:      []string{"what are your opening hours", "goodbye"},
		StreamToken: func(int, string) (string, error) { return token, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CallsCompleted != 1 || rep.Failed() || rep.TurnsAnswered != 2 {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Fatalf("the call with its token: %s", b.String())
	}
	if code := postSigned(t, hook, priv, telnyxEvent("evt-3-"+run, "call.hangup", ccid, number,
		map[string]any{"hangup_cause": "normal_clearing", "hangup_source": "callee"}), time.Now()); code != 200 {
		t.Fatalf("call.hangup: %d", code)
	}

	// The record, through the API: A sees the call with its transcript.
	var calls struct {
		Items []struct {
			ID, Status, Outcome string
			Agent               *struct{ Name string }
			Customer            *struct{ Phone string }
		} `json:"items"`
	}
	var detail struct {
		Status, Outcome string
		Turns           []struct{ Speaker, Text string }
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code := apiCall(t, http.MethodGet, base+"/api/v1/calls", orgs["acme"], nil, &calls); code != 200 {
			t.Fatalf("list calls: %d", code)
		}
		if len(calls.Items) == 1 && calls.Items[0].Status == "ended" {
			apiCall(t, http.MethodGet, base+"/api/v1/calls/"+calls.Items[0].ID, orgs["acme"], nil, &detail)
			if len(detail.Turns) >= 4 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call's record did not arrive: %+v, %+v", calls, detail)
		}
		time.Sleep(50 * time.Millisecond) // polling a record written asynchronously, not a race
	}
	call := calls.Items[0]
	if call.Outcome != "resolved" || call.Agent == nil || call.Agent.Name != "Front desk" || call.Customer == nil || call.Customer.Phone != caller {
		t.Errorf("call %+v", call)
	}
	said := ""
	for _, turn := range detail.Turns {
		said += turn.Speaker + ": " + turn.Text + "\n"
	}
	if !strings.Contains(said, "caller: what are your opening hours") || !strings.Contains(said, "agent: We are open Monday to Friday") {
		t.Errorf("transcript:\n%s", said)
	}
	if n := len(tx.Applied("answer", ccid)); n != 1 {
		t.Errorf("%d answers for one call", n)
	}
	// The token was spent by the call's stream: replayed, it opens nothing.
	replay, _ := sim.Run(ctx, sim.Config{URL: media, To: number, CallControlID: ccid, CallTimeout: 5 * time.Second,
		StreamToken: func(int, string) (string, error) { return token, nil }})
	if replay.CallsCompleted != 0 || replay.GreetingsHeard != 0 {
		t.Error("the call's stream token opened a second stream")
	}
	// B sees nothing of it.
	if code := apiCall(t, http.MethodGet, base+"/api/v1/calls/"+call.ID, orgs["globex"], nil, nil); code != http.StatusNotFound {
		t.Errorf("another organization reads the call: %d", code)
	}
	var other struct{ Items []any }
	apiCall(t, http.MethodGet, base+"/api/v1/calls", orgs["globex"], nil, &other)
	if len(other.Items) != 0 {
		t.Errorf("another organization lists %d calls", len(other.Items))
	}
	if strings.Contains(logs.String(), caller) {
		t.Error("the caller's number is in the log")
	}
}
