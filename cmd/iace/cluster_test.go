package main

import (
	"bufio"
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
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/loadtest/callsim/audio"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/storetest"
)

// TestMain lets a test start this binary as a separate iace process
// (childServeEnv): a node that a test can kill with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv(childServeEnv) == "1" {
		os.Exit(cli(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// childServeEnv makes the test binary run iace with its arguments.
const childServeEnv = "IACE_TEST_CHILD_PROCESS"

// clusterRig is a deployment of two nodes sharing the test PostgreSQL and
// Redis behind one public URL: a in this process, b a child process.
type clusterRig struct {
	tx     *callcontroltest.Server
	priv   ed25519.PrivateKey
	env    map[string]string
	args   []string
	a      *server
	aLogs  *logBuffer
	aBase  string
	b      *exec.Cmd
	bBase  string
	bLogs  *logBuffer
	admin  string // the acme admin's API token
	number string
}

// Fast heartbeats: a lost node is detected within a second and a beat.
const (
	rigHeartbeat = 100 * time.Millisecond
	rigLostAfter = time.Second
)

// newClusterRig starts nodes a and b, both with extra flags.
func newClusterRig(t *testing.T, extra ...string) *clusterRig {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &clusterRig{tx: callcontroltest.NewServer("telnyx-test-key"), priv: priv, number: "+15550002000"}
	t.Cleanup(r.tx.Close)
	dbURL, err := url.Parse(storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := dbURL.Query()
	q.Set("search_path", storetest.FreshSchema(t)+",public")
	dbURL.RawQuery = q.Encode()
	r.env = map[string]string{
		"IACE_DATABASE_URL": dbURL.String(), "IACE_REDIS_URL": "redis://127.0.0.1:6379/0",
		"IACE_TELNYX_API_KEY": "telnyx-test-key", "IACE_STREAM_SECRET": "stream-secret-0123456789abcdef0123",
		"IACE_AUTH_SECRET": "auth-secret-0123456789abcdef012345",
	}
	r.args = []string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "json", "--default-agent", "",
		"--public-url", "https://iace.example.com", "--telnyx-public-key", base64.StdEncoding.EncodeToString(pub),
		"--telnyx-api-url", r.tx.BaseURL(), "--cluster-prefix", "iace-test:" + rand.Text()[:10] + ":",
		"--cluster-heartbeat", rigHeartbeat.String(), "--cluster-lost-after", rigLostAfter.String(),
		// The test polls the API faster than a user would.
		"--rate-limit-ip", "0", "--rate-limit-user", "0",
		// One call at a time for each organization, across the nodes.
		"--org-max-calls", "1"}
	r.args = append(r.args, extra...)

	// Node a, in this process.
	cfg, err := loadConfig(append([]string{"--data-dir", t.TempDir(), "--node-name", "node-a"}, r.args...), env(r.env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r.aLogs = newLog()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	if r.a, err = newServer(ctx, cfg, r.aLogs); err != nil {
		t.Fatal(err)
	}
	errc := r.a.start(ctx)
	t.Cleanup(func() {
		_ = r.a.shutdown(ctx, time.Second, nil)
		for range 2 { // both listeners
			if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
		}
		cancel()
	})
	r.aBase = "http://" + r.a.publicLn.Addr().String()
	r.startB(t)

	// Organization acme, its admin, an agent and the number it answers.
	if _, err := r.a.stores.backend.CreateOrg(ctx, store.Organization{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.a.control.auth.CreateUser(ctx, "acme", "admin@acme.example", "a long enough password", store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if code := apiCall(t, http.MethodPost, r.aBase+"/api/v1/auth/login", "", map[string]string{"email": "admin@acme.example", "password": "a long enough password"}, &tok); code != 200 {
		t.Fatalf("login: %d", code)
	}
	r.admin = tok.AccessToken
	var agent struct{ ID string }
	if code := apiCall(t, http.MethodPost, r.aBase+"/api/v1/agents", r.admin, map[string]any{
		"name": "Front desk", "greeting": "Hello, thanks for calling Acme.", "fallback": "Sorry, could you say that again?",
		"transfer_number": "+15550009999",
	}, &agent); code != http.StatusCreated {
		t.Fatalf("create agent: %d", code)
	}
	if err := r.a.stores.backend.AllotNumber(ctx, "acme", store.PhoneNumber(r.number)); err != nil {
		t.Fatal(err)
	}
	if code := apiCall(t, http.MethodPost, r.aBase+"/api/v1/numbers", r.admin, map[string]any{"e164": r.number, "agent_id": agent.ID}, nil); code != 200 {
		t.Fatalf("assign number: %d", code)
	}
	return r
}

// startB starts node b as a child process and waits until it serves.
func (r *clusterRig) startB(t *testing.T) {
	t.Helper()
	args := append([]string{"serve", "--data-dir", t.TempDir(), "--node-name", "node-b"}, r.args...)
	cmd := exec.Command(os.Args[0], args...) //nolint:gosec // G204: this test binary, with the test's own arguments
	cmd.Env = append(os.Environ(), childServeEnv+"=1")
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.b, r.bLogs = cmd, newLog()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() { // ends when b's stderr closes: b exits
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = r.bLogs.Write(append(line, '\n'))
			var l struct{ Msg, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "serving" {
				addr <- l.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		r.bBase = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("node b did not start:\n%s", r.bLogs.String())
	}
}

// heldCall is a Telnyx media stream the test holds open: it sends
// silence, or the caller's words when told to, until the server closes it.
type heldCall struct {
	id     store.CallID
	ccid   string
	closed chan struct{}
	conn   *websocket.Conn
	speech chan []byte // μ-law frames to send instead of silence
	// stop, closed, makes Telnyx's side stop the stream (a stop frame,
	// then the socket closes), as streaming_stop does.
	stop chan struct{}
	// heard counts the agent's audio messages; lastHeard is when the last
	// one came (unix ns).
	heard, lastHeard atomic.Int64
}

// waitQuiet waits until the agent has said something and then been
// silent for a while (its greeting or reply has been sent whole).
func (c *heldCall) waitQuiet(t *testing.T, what string) {
	t.Helper()
	eventually(t, 15*time.Second, what, func() bool {
		return c.heard.Load() > 0 && time.Since(time.Unix(0, c.lastHeard.Load())) > 500*time.Millisecond
	})
}

// place has Telnyx offer a call to node a (call.initiated, answered) and
// streams it to base with the token a gave.
func (r *clusterRig) place(t *testing.T, ccid, base string) *heldCall {
	t.Helper()
	hook := r.aBase + "/webhooks/telnyx"
	if code := postSigned(t, hook, r.priv, telnyxEvent("evt-i-"+ccid, "call.initiated", ccid, r.number, map[string]any{"direction": "incoming"}), time.Now()); code != 200 {
		t.Fatalf("call.initiated: %d", code)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	answer, err := r.tx.WaitApplied(wctx, "answer", ccid)
	if err != nil {
		t.Fatalf("no answer reached Telnyx: %v", err)
	}
	if code := postSigned(t, hook, r.priv, telnyxEvent("evt-a-"+ccid, "call.answered", ccid, r.number, nil), time.Now()); code != 200 {
		t.Fatalf("call.answered: %d", code)
	}
	return r.stream(t, ccid, fmt.Sprint(answer.Body["stream_url"]), base, "s-"+ccid, "")
}

// stream opens the media stream Telnyx would open to streamURL (its
// token), at node base instead of the public URL, as stream streamID;
// script is the simulated transcriber's lines for its caller.
func (r *clusterRig) stream(t *testing.T, ccid, streamURL, base, streamID, script string) *heldCall {
	t.Helper()
	su, err := url.Parse(streamURL)
	if err != nil {
		t.Fatal(err)
	}
	u := "ws" + strings.TrimPrefix(base, "http") + "/media/telnyx?token=" + url.QueryEscape(su.Query().Get("token"))
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), u, nil)
	if err != nil {
		t.Fatalf("media stream to %s: %v", base, err)
	}
	_ = resp.Body.Close()
	c := &heldCall{id: webhook.CallIDFor(ccid), ccid: ccid, closed: make(chan struct{}), conn: conn, speech: make(chan []byte, 4096),
		stop: make(chan struct{})}
	t.Cleanup(func() { _ = conn.Close() })
	params, _ := json.Marshal(map[string]string{"sim_script": script})
	start := fmt.Sprintf(`{"event":"start","sequence_number":"1","stream_id":%q,"start":{"call_control_id":%q,"from":%q,"to":%q,`+
		`"custom_parameters":%s,"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}`, streamID, ccid, caller, r.number, params)
	for _, m := range []string{`{"event":"connected","version":"1.0.0"}`, start} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	go func() { // ends when the server closes the stream
		defer close(c.closed)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if bytes.Contains(msg, []byte(`"event":"media"`)) {
				c.heard.Add(1)
				c.lastHeard.Store(time.Now().UnixNano())
			}
		}
	}()
	go func() { // ends with the stream: 20 ms a frame, as Telnyx sends
		silence := []byte(strings.Repeat("\xff", 160))
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := 2; ; seq++ {
			select {
			case <-c.closed:
				return
			case <-c.stop:
				_ = conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"event":"stop","sequence_number":"%d","stream_id":%q,"stop":{"call_control_id":%q}}`,
					seq, streamID, ccid))
				_ = conn.Close()
				return
			case <-tick.C:
			}
			frame := silence
			select {
			case frame = <-c.speech:
			default:
			}
			msg := fmt.Sprintf(`{"event":"media","sequence_number":"%d","stream_id":%q,"media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":%q}}`,
				seq, streamID, seq-1, (seq-1)*20, base64.StdEncoding.EncodeToString(frame))
			if conn.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
				return
			}
		}
	}()
	return c
}

// say queues a recorded utterance of the simulator's library (its WAV,
// 8 kHz) as the caller's speech.
func (c *heldCall) say(t *testing.T, clip string) {
	t.Helper()
	f, err := audio.FS.Open(clip + ".wav")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	pcm, rate, err := media.ReadWAV(f)
	if err != nil || rate != 8000 {
		t.Fatalf("clip %s: %v (rate %d)", clip, err, rate)
	}
	for len(pcm) >= 160 {
		frame := make([]byte, 160)
		media.EncodeULawTo(frame, pcm[:160])
		c.speech <- frame
		pcm = pcm[160:]
	}
}

// liveOn lists acme's live calls through node base's API.
func (r *clusterRig) liveOn(t *testing.T, base string) map[string]string {
	t.Helper()
	var live struct {
		Items []struct {
			ID             string `json:"id"`
			SupervisorRole string `json:"supervisor_role"`
		} `json:"items"`
	}
	if code := apiCall(t, http.MethodGet, base+"/api/v1/calls/live", r.admin, nil, &live); code != http.StatusOK {
		t.Fatalf("GET /calls/live: %d", code)
	}
	out := map[string]string{}
	for _, c := range live.Items {
		out[c.ID] = c.SupervisorRole
	}
	return out
}

// eventually polls cond (a record written asynchronously, a registry
// written with the next heartbeat) until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond) //nolint:forbidigo // polling state other nodes write asynchronously
	}
}

// record reads a call's record through node a's API.
func (r *clusterRig) record(t *testing.T, id store.CallID) (status, outcome, endReason, escalation string) {
	t.Helper()
	var c struct {
		Status, Outcome  string
		EndReason        string `json:"end_reason"`
		EscalationReason string `json:"escalation_reason"`
	}
	apiCall(t, http.MethodGet, r.aBase+"/api/v1/calls/"+string(id), r.admin, nil, &c)
	return c.Status, c.Outcome, c.EndReason, c.EscalationReason
}

func waitClosed(t *testing.T, c *heldCall, why string) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the call's stream was not closed", why)
	}
}

// TestTwoNodesAreOneSystem runs two nodes sharing PostgreSQL and Redis,
// with Telnyx's webhooks and the API on node a and the calls' media on
// node b: the live list on a shows b's calls, and a's event streams
// follow them (the list's and one call's); a supervisor's role switch,
// whisper and transfer through a reach the call on b; a call.hangup
// webhook on a ends the call on b; the organization's one-call limit
// refuses a second call offered to a while b holds one; and when b is killed
// (SIGKILL), a records its call as ended, node_lost, within the bound, and
// the organization may call again.
func TestTwoNodesAreOneSystem(t *testing.T) {
	r := newClusterRig(t)
	run := rand.Text()[:8]

	// A call held on b is listed by a, in its live list and its stream,
	// and supervised through a.
	list := sseEvents(t, r.aBase+"/api/v1/calls/live/events", r.admin)
	expectEvent(t, list, "snapshot", "")
	one := r.place(t, "v3:cluster-one-"+run, r.bBase)
	expectEvent(t, list, "started", one.id)
	eventually(t, 5*time.Second, "a lists b's call", func() bool { _, ok := r.liveOn(t, r.aBase)[string(one.id)]; return ok })
	events := sseEvents(t, r.aBase+"/api/v1/calls/"+string(one.id)+"/events", r.admin)
	expectEvent(t, events, "snapshot", one.id)
	if code := apiCall(t, http.MethodPost, r.aBase+"/api/v1/calls/"+string(one.id)+"/role", r.admin, map[string]any{"role": "whisper"}, nil); code != http.StatusOK {
		t.Fatalf("role switch through a: %d\n%s", code, r.aLogs.String())
	}
	if role := r.liveOn(t, r.bBase)[string(one.id)]; role != "whisper" {
		t.Errorf("the call on b has role %q after a switch through a", role)
	}
	if ev := expectEvent(t, events, "supervisor_role", one.id); ev["role"] != "whisper" {
		t.Errorf("the call's stream on a shows role %v", ev["role"])
	}
	if code := apiCall(t, http.MethodPost, r.aBase+"/api/v1/calls/"+string(one.id)+"/whisper", r.admin, map[string]any{"text": "offer the discount"}, nil); code != http.StatusAccepted {
		t.Errorf("whisper through a: %d", code)
	}
	if code := apiCall(t, http.MethodPost, r.aBase+"/api/v1/calls/"+string(one.id)+"/role", r.admin, map[string]any{"role": "monitor"}, nil); code != http.StatusOK {
		t.Errorf("role switch back through a: %d", code)
	}
	// Transferred through a: Telnyx gets the transfer, the call on b ends
	// as handed over by a supervisor.
	if code := apiCall(t, http.MethodPost, r.aBase+"/api/v1/calls/"+string(one.id)+"/transfer", r.admin, map[string]any{}, nil); code != http.StatusOK {
		t.Fatalf("transfer through a: %d", code)
	}
	waitClosed(t, one, "transfer through a")
	if ev := expectEvent(t, events, "ended", one.id); ev["reason"] != "transfer" {
		t.Errorf("the call's stream on a ended with %v", ev["reason"])
	}
	expectEvent(t, list, "ended", one.id)
	eventually(t, 10*time.Second, "the transferred call's record", func() bool { s, _, _, _ := r.record(t, one.id); return s == "ended" })
	if _, outcome, reason, esc := r.record(t, one.id); outcome != "escalated" || reason != "transfer" || esc != "supervisor" {
		t.Errorf("transferred call recorded as %s/%s/%s, want escalated/transfer/supervisor", outcome, reason, esc)
	}

	// Telnyx's call.hangup reaches a; the call on b ends.
	two := r.place(t, "v3:cluster-two-"+run, r.bBase)
	eventually(t, 5*time.Second, "a lists the second call", func() bool { _, ok := r.liveOn(t, r.aBase)[string(two.id)]; return ok })
	if code := postSigned(t, r.aBase+"/webhooks/telnyx", r.priv, telnyxEvent("evt-h-"+two.ccid, "call.hangup", two.ccid, r.number,
		map[string]any{"hangup_cause": "normal_clearing", "hangup_source": "caller"}), time.Now()); code != 200 {
		t.Fatalf("call.hangup: %d", code)
	}
	waitClosed(t, two, "call.hangup on a")
	eventually(t, 10*time.Second, "the hung-up call's record", func() bool { s, _, _, _ := r.record(t, two.id); return s == "ended" })
	if _, _, reason, _ := r.record(t, two.id); reason != "hangup" {
		t.Errorf("hung-up call recorded with end reason %q", reason)
	}

	// Each node says which it is where the others look when it seems
	// lost (its address may have gone to a new pod).
	for base, want := range map[string]string{r.aBase: "node-a", r.bBase: "node-b"} {
		var id struct{ Node string }
		if code := apiCall(t, http.MethodGet, base+cluster.IdentityPath, "", nil, &id); code != http.StatusOK || id.Node != want {
			t.Errorf("%s%s: %d %q, want %q", base, cluster.IdentityPath, code, id.Node, want)
		}
	}

	// b dies with a call: a records it as node_lost within the bound.
	three := r.place(t, "v3:cluster-three-"+run, r.bBase)
	eventually(t, 5*time.Second, "a lists the third call", func() bool { _, ok := r.liveOn(t, r.aBase)[string(three.id)]; return ok })
	// acme may have one call at a time: a second one, offered to a while
	// b holds the first, is refused (hung up, recorded as refused).
	four := "v3:cluster-four-" + run
	if code := postSigned(t, r.aBase+"/webhooks/telnyx", r.priv, telnyxEvent("evt-i-"+four, "call.initiated", four, r.number,
		map[string]any{"direction": "incoming"}), time.Now()); code != 200 {
		t.Fatalf("call.initiated: %d", code)
	}
	hctx, hcancel := context.WithTimeout(t.Context(), 10*time.Second)
	if _, err := r.tx.WaitApplied(hctx, "hangup", four); err != nil {
		t.Errorf("a call over the organization's limit was not hung up: %v", err)
	}
	hcancel()
	if n := len(r.tx.Applied("answer", four)); n != 0 {
		t.Errorf("a call over the organization's limit was answered")
	}
	eventually(t, 5*time.Second, "the refused call's record", func() bool {
		_, outcome, reason, _ := r.record(t, webhook.CallIDFor(four))
		return outcome == "failed" && reason == "refused_org_limit"
	})
	if err := r.b.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// Lost after rigLostAfter without a heartbeat, found at a's next beat,
	// and written through the spool: allow a few beats more.
	eventually(t, rigLostAfter+20*rigHeartbeat+2*time.Second, "b's call recorded as node_lost", func() bool {
		s, _, reason, _ := r.record(t, three.id)
		return s == "ended" && reason == "node_lost"
	})
	t.Logf("b's call recorded as node_lost %v after b was killed", time.Since(killed).Round(10*time.Millisecond))
	if _, outcome, _, _ := r.record(t, three.id); outcome != "failed" {
		t.Errorf("a lost node's call recorded as %s, want failed", outcome)
	}
	if _, ok := r.liveOn(t, r.aBase)[string(three.id)]; ok {
		t.Error("a still lists the lost node's call")
	}
	// Nobody speaks on the lost call's line: a hangs it up at Telnyx.
	lctx, lcancel := context.WithTimeout(t.Context(), 10*time.Second)
	if _, err := r.tx.WaitApplied(lctx, "hangup", three.ccid); err != nil {
		t.Errorf("the lost node's call was not hung up: %v", err)
	}
	lcancel()
	// The lost node's call no longer counts against acme's limit.
	five := r.place(t, "v3:cluster-five-"+run, r.aBase)
	eventually(t, 5*time.Second, "a call after the lost node's", func() bool { _, ok := r.liveOn(t, r.aBase)[string(five.id)]; return ok })
	if !strings.Contains(r.aLogs.String(), `"lost_node":"node-b"`) {
		t.Errorf("a's log does not name the lost node:\n%s", r.aLogs.String())
	}
	for _, secret := range []string{"offer the discount", caller} {
		if strings.Contains(r.aLogs.String(), secret) || strings.Contains(r.bLogs.String(), secret) {
			t.Errorf("a log shows %q", secret)
		}
	}
}

// stateOn is the state of call id in node base's live list ("" when not
// listed).
func (r *clusterRig) stateOn(t *testing.T, base string, id store.CallID) string {
	t.Helper()
	var live struct {
		Items []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"items"`
	}
	if code := apiCall(t, http.MethodGet, base+"/api/v1/calls/live", r.admin, nil, &live); code != http.StatusOK {
		t.Fatalf("GET /calls/live: %d", code)
	}
	for _, c := range live.Items {
		if c.ID == string(id) {
			return c.State
		}
	}
	return ""
}

// TestADrainedNodeMovesItsCalls drains node b (SIGTERM) while it holds a
// call in conversation: b hands the call's state over, asks Telnyx (the
// fake Call Control) for a new stream with streaming_start, the new stream
// reaches node a, which goes on with the conversation without greeting
// the caller again, and b stops the old stream (streaming_stop) and exits
// without cutting the call. The record, written by a at the end, holds
// the whole conversation. Telnyx's guide allows one bidirectional stream
// per call: with the fake refusing a second one, b stops the old stream
// first and asks again.
func TestADrainedNodeMovesItsCalls(t *testing.T) {
	t.Run("streams overlap", func(t *testing.T) { drainMoves(t, false) })
	t.Run("one stream per call", func(t *testing.T) { drainMoves(t, true) })
}

func drainMoves(t *testing.T, oneStream bool) {
	r := newClusterRig(t)
	r.tx.OneStreamPerCall(oneStream)
	ccid := "v3:cluster-move-" + rand.Text()[:8]
	first := r.askOnB(t, ccid)
	wctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// A supervisor on a follows the call, which b holds.
	events := sseEvents(t, r.aBase+"/api/v1/calls/"+string(first.id)+"/events", r.admin)
	expectEvent(t, events, "snapshot", "")

	// b drains: the call moves once b's answer has been said.
	if err := r.b.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if oneStream {
		// Telnyx refuses the second stream; b stops the first, and Telnyx
		// ends it (stop frame) before the new one opens.
		stop, err := r.tx.WaitApplied(wctx, "streaming_stop", ccid)
		if err != nil {
			t.Fatalf("b did not stop the old stream after the refusal: %v\n%s", err, r.bLogs.String())
		}
		if stop.Body["stream_id"] != "s1-"+ccid {
			t.Errorf("streaming_stop stopped %v, want the old stream", stop.Body["stream_id"])
		}
		close(first.stop)
	}
	start, err := r.tx.WaitApplied(wctx, "streaming_start", ccid)
	if err != nil {
		t.Fatalf("b did not ask Telnyx for a new stream: %v\n%s", err, r.bLogs.String())
	}
	refused := 0
	for _, c := range r.tx.Commands() {
		if c.Action == "streaming_start" && c.CallControlID == ccid && c.Status == http.StatusUnprocessableEntity {
			refused++
		}
	}
	if want := map[bool]int{false: 0, true: 1}[oneStream]; refused != want {
		t.Errorf("%d streaming_start refused, want %d", refused, want)
	}
	for k, want := range map[string]any{"stream_track": "inbound_track", "stream_bidirectional_mode": "rtp",
		"stream_bidirectional_codec": "PCMU", "stream_bidirectional_target_legs": "self"} {
		if start.Body[k] != want {
			t.Errorf("streaming_start %s = %v, want %v", k, start.Body[k], want)
		}
	}
	// Telnyx opens the new stream to the public URL; the load balancer
	// sends it to a node that is ready: a.
	second := r.stream(t, ccid, fmt.Sprint(start.Body["stream_url"]), r.aBase, "s2-"+ccid, "how much does it cost")
	stop, err := r.tx.WaitApplied(wctx, "streaming_stop", ccid)
	if err != nil {
		t.Fatalf("b did not stop the old stream: %v", err)
	}
	if stop.Body["stream_id"] != "s1-"+ccid {
		t.Errorf("streaming_stop stopped %v, want the old stream", stop.Body["stream_id"])
	}
	waitClosed(t, first, "the old stream after the move")
	exited := make(chan error, 1)
	go func() { exited <- r.b.Wait() }() // ends when b exits
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("b exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("b did not finish draining")
	}
	if n := len(r.tx.Applied("hangup", ccid)); n != 0 {
		t.Errorf("the drain hung the moved call up (%d hang-ups)", n)
	}
	if n := len(r.tx.Applied("streaming_stop", ccid)); n != 1 {
		t.Errorf("%d streams stopped, want the old one once", n)
	}

	// a goes on with the conversation.
	eventually(t, 5*time.Second, "a holds the moved call", func() bool { return r.stateOn(t, r.aBase, second.id) == "listening" })
	second.say(t, "how_much_does_it_cost")
	eventually(t, 10*time.Second, "a answers the caller", func() bool { return r.stateOn(t, r.aBase, second.id) == "thinking" })
	eventually(t, 10*time.Second, "a's answer is said", func() bool { return r.stateOn(t, r.aBase, second.id) == "listening" })
	detail := r.hangUpAndRead(t, second)
	transcript := detail.transcript
	if strings.Count(transcript, "Hello, thanks for calling Acme.") != 1 {
		t.Errorf("the caller was not greeted exactly once:\n%s", transcript)
	}
	for _, line := range []string{"caller: what are your opening hours", "caller: how much does it cost"} {
		if !strings.Contains(transcript, line) {
			t.Errorf("the record lacks %q:\n%s", line, transcript)
		}
	}
	if detail.EndReason != "hangup" {
		t.Errorf("the moved call ended with %q, want hangup", detail.EndReason)
	}
	// The supervisor's stream followed the call to a: a second snapshot,
	// the caller's question there, and the call's own end.
	var seen []string
	for ev := range events {
		e := fmt.Sprint(ev["type"])
		for _, k := range []string{"reason", "text"} {
			if v, ok := ev[k]; ok {
				e += " " + fmt.Sprint(v)
			}
		}
		seen = append(seen, e)
	}
	snapshots, asked := 0, false
	for _, e := range seen {
		snapshots += strings.Count(e, "snapshot")
		asked = asked || snapshots == 1 && e == "caller_turn how much does it cost"
	}
	if snapshots != 1 || !asked || len(seen) == 0 || seen[len(seen)-1] != "ended hangup" {
		t.Errorf("the supervisor's stream after the move: %d snapshots (want 1 more), the question asked on a: %v, last %q; all:\n%s",
			snapshots, asked, seen[len(seen)-1:], strings.Join(seen, "\n"))
	}
	if !strings.Contains(r.bLogs.String(), "call moved to another node") || !strings.Contains(r.aLogs.String(), "call resumed here after a move") {
		t.Errorf("the logs do not tell the move:\nb:\n%s", r.bLogs.String())
	}
}

// askOnB has Telnyx offer call ccid to a (call.initiated), streams it to
// b with the token of a's answer, and has the caller ask a question once
// b has greeted them; it returns once b is answering.
func (r *clusterRig) askOnB(t *testing.T, ccid string) *heldCall {
	t.Helper()
	if code := postSigned(t, r.aBase+"/webhooks/telnyx", r.priv, telnyxEvent("evt-i-"+ccid, "call.initiated", ccid, r.number,
		map[string]any{"direction": "incoming"}), time.Now()); code != 200 {
		t.Fatalf("call.initiated: %d", code)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	answer, err := r.tx.WaitApplied(wctx, "answer", ccid)
	if err != nil {
		t.Fatal(err)
	}
	first := r.stream(t, ccid, fmt.Sprint(answer.Body["stream_url"]), r.bBase, "s1-"+ccid, "what are your opening hours")
	first.waitQuiet(t, "b's greeting")
	first.say(t, "what_are_your_opening_hours")
	eventually(t, 10*time.Second, "b answers the caller", func() bool { return r.stateOn(t, r.bBase, first.id) == "thinking" })
	return first
}

// endedCall is what a call's record (GET /calls/{id}) says once it ended.
type endedCall struct {
	EndReason  string
	transcript string   // "speaker: text" a turn, a line each
	events     []string // their types
}

// hangUpAndRead has Telnyx tell a that the caller of c hung up, and
// returns the call's record once it is written.
func (r *clusterRig) hangUpAndRead(t *testing.T, c *heldCall) endedCall {
	t.Helper()
	if code := postSigned(t, r.aBase+"/webhooks/telnyx", r.priv, telnyxEvent("evt-h-"+c.ccid, "call.hangup", c.ccid, r.number,
		map[string]any{"hangup_cause": "normal_clearing", "hangup_source": "caller"}), time.Now()); code != 200 {
		t.Fatalf("call.hangup: %d", code)
	}
	waitClosed(t, c, "call.hangup")
	var detail struct {
		Status    string
		EndReason string `json:"end_reason"`
		Turns     []struct{ Speaker, Text string }
		Events    []struct{ Type string }
	}
	eventually(t, 10*time.Second, "the call's record", func() bool {
		apiCall(t, http.MethodGet, r.aBase+"/api/v1/calls/"+string(c.id), r.admin, nil, &detail)
		return detail.Status == "ended"
	})
	out := endedCall{EndReason: detail.EndReason}
	var said []string
	for _, turn := range detail.Turns {
		said = append(said, turn.Speaker+": "+turn.Text)
	}
	out.transcript = strings.Join(said, "\n")
	for _, e := range detail.Events {
		out.events = append(out.events, e.Type)
	}
	return out
}

// TestALostNodesCallIsTakenUp kills node b (SIGKILL) in the middle of a
// conversation, with --recover-lost-calls: Telnyx's streaming.failed
// webhook for the dead stream reaches a, which finds b gone and asks
// Telnyx for a new stream with the state of b's last turn; the new stream
// reaches a, which asks the caller whether they are still there and goes
// on with the conversation. The record, written by a at the end, holds the
// whole conversation and no node_lost; when the reaper finds b lost later,
// it leaves the call alone. With Telnyx refusing a second stream (it still
// counts the dead one), a stops the dead stream and asks again.
func TestALostNodesCallIsTakenUp(t *testing.T) {
	t.Run("streams overlap", func(t *testing.T) { takeUpLostCall(t, false) })
	t.Run("one stream per call", func(t *testing.T) { takeUpLostCall(t, true) })
}

func takeUpLostCall(t *testing.T, oneStream bool) {
	r := newClusterRig(t, "--recover-lost-calls")
	r.tx.OneStreamPerCall(oneStream)
	ccid := "v3:cluster-lost-" + rand.Text()[:8]
	hook := r.aBase + "/webhooks/telnyx"
	first := r.askOnB(t, ccid)
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	eventually(t, 10*time.Second, "b's answer is said", func() bool { return r.stateOn(t, r.bBase, first.id) == "listening" })

	if err := r.b.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, first, "b's stream when b dies")
	// Telnyx tells of the dead stream at once; the webhook reaches a.
	if code := postSigned(t, hook, r.priv, telnyxEvent("evt-f-"+ccid, "streaming.failed", ccid, r.number,
		map[string]any{"stream_id": "s1-" + ccid, "failure_reason": "connection closed"}), time.Now()); code != 200 {
		t.Fatalf("streaming.failed: %d", code)
	}
	start, err := r.tx.WaitApplied(wctx, "streaming_start", ccid)
	if err != nil {
		t.Fatalf("a did not ask Telnyx for a new stream: %v\n%s", err, r.aLogs.String())
	}
	stops := r.tx.Applied("streaming_stop", ccid)
	if want := map[bool]int{false: 0, true: 1}[oneStream]; len(stops) != want {
		t.Errorf("%d streams stopped before the new one, want %d", len(stops), want)
	} else if oneStream && stops[0].Body["stream_id"] != "s1-"+ccid {
		t.Errorf("streaming_stop stopped %v, want the dead stream", stops[0].Body["stream_id"])
	}
	second := r.stream(t, ccid, fmt.Sprint(start.Body["stream_url"]), r.aBase, "s2-"+ccid, "how much does it cost")
	eventually(t, 10*time.Second, "a holds the call", func() bool { return r.stateOn(t, r.aBase, second.id) != "" })
	second.waitQuiet(t, "a's question to the caller")
	second.say(t, "how_much_does_it_cost")
	eventually(t, 10*time.Second, "a answers the caller", func() bool { return r.stateOn(t, r.aBase, second.id) == "thinking" })
	eventually(t, 10*time.Second, "a's answer is said", func() bool { return r.stateOn(t, r.aBase, second.id) == "listening" })
	// The reaper finds b lost, and leaves the call that a holds.
	eventually(t, rigLostAfter+20*rigHeartbeat+2*time.Second, "b found lost", func() bool {
		return strings.Contains(r.aLogs.String(), `"lost_node":"node-b"`) && strings.Contains(r.aLogs.String(), "node lost")
	})
	if r.stateOn(t, r.aBase, second.id) == "" {
		t.Fatalf("the reaper ended the call taken up:\n%s", r.aLogs.String())
	}
	if n := len(r.tx.Applied("hangup", ccid)); n != 0 {
		t.Errorf("the call taken up was hung up (%d hang-ups)", n)
	}
	detail := r.hangUpAndRead(t, second)
	transcript := detail.transcript
	for line, want := range map[string]int{"Hello, thanks for calling Acme.": 1, "caller: what are your opening hours": 1,
		"agent: Are you still there?": 1, "caller: how much does it cost": 1} {
		if got := strings.Count(transcript, line); got != want {
			t.Errorf("the record has %q %d times, want %d:\n%s", line, got, want, transcript)
		}
	}
	if detail.EndReason != "hangup" {
		t.Errorf("the call taken up ended with %q, want hangup", detail.EndReason)
	}
	if !slices.Contains(detail.events, "recovered") {
		t.Errorf("the record's events do not say the call was taken up: %+v", detail.events)
	}
	if !strings.Contains(r.aLogs.String(), "call recovered here") {
		t.Errorf("a's log does not tell the recovery:\n%s", r.aLogs.String())
	}
	if strings.Contains(r.aLogs.String(), "opening hours") {
		t.Error("a's log shows the transcript")
	}
}

// sseEvents reads a Server-Sent Events stream of the API: each event's
// type and data, in order, until the stream ends.
func sseEvents(t *testing.T, u, token string) <-chan map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	out := make(chan map[string]any, 256)
	t.Cleanup(func() { _ = resp.Body.Close() })
	go func() { // ends with the stream
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev map[string]any
			if json.Unmarshal([]byte(data), &ev) == nil {
				out <- ev
			}
		}
	}()
	return out
}

// expectEvent reads events until one of type typ (and call id, if given)
// comes, and returns it.
func expectEvent(t *testing.T, events <-chan map[string]any, typ string, id store.CallID) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before a %s event", typ)
			}
			if ev["type"] == typ && (id == "" || ev["call_id"] == string(id)) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event of call %s", typ, id)
		}
	}
}
