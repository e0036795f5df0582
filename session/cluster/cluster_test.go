package cluster_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store"
)

// The tests run nodes of one cluster in this process, each with a real
// engine behind a real media-stream listener, sharing the test Redis
// (127.0.0.1:6379) under a prefix of their own.

const beat = 50 * time.Millisecond

func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("the tests need Redis on 127.0.0.1:6379: %v", err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// testNode is one node: its cluster member, its engine and the URL of its
// media streams; recorded gets the calls of lost nodes it records.
type testNode struct {
	node     *cluster.Node
	engine   *session.Engine
	url      string
	mu       sync.Mutex
	recorded []session.CallSummary
	hungUp   []string // call_control_ids of lost calls hung up at Telnyx
}

func (n *testNode) lost() []session.CallSummary {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]session.CallSummary(nil), n.recorded...)
}

func (n *testNode) hangUps() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.hungUp...)
}

func startNode(t *testing.T, rdb *redis.Client, prefix, name string, orgLimit int) *testNode {
	t.Helper()
	return startNodeWith(t, rdb, prefix, name, orgLimit, nil)
}

// secret signs the stream tokens of moved calls in these tests.
var secret = []byte("a test stream secret of 32 bytes!")

// nodeOpt changes a test node's configuration.
type nodeOpt func(*cluster.Config, *session.Config)

// recovering nodes take up lost nodes' calls (Config.Recover).
func recovering(c *cluster.Config, _ *session.Config) { c.Recover = true }

// startNodeWith starts a node that moves its calls through tx when tx is
// not nil; opts change its configuration.
func startNodeWith(t *testing.T, rdb *redis.Client, prefix, name string, orgLimit int, tx cluster.StreamControl, opts ...nodeOpt) *testNode {
	t.Helper()
	tn := &testNode{}
	cfg := cluster.Config{Node: name, Prefix: prefix, Heartbeat: beat, LostAfter: 4 * beat,
		CommandTimeout: 300 * time.Millisecond, OrgMaxCalls: orgLimit}
	scfg := session.DefaultConfig()
	for _, o := range opts {
		o(&cfg, &scfg)
	}
	node, err := cluster.New(cfg, rdb,
		func(_ context.Context, sum session.CallSummary) {
			tn.mu.Lock()
			defer tn.mu.Unlock()
			tn.recorded = append(tn.recorded, sum)
		}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	node.HangUpLost(func(_ context.Context, ccid string) error {
		tn.mu.Lock()
		defer tn.mu.Unlock()
		tn.hungUp = append(tn.hungUp, ccid)
		return nil
	})
	var (
		mover session.Mover
		ckpts session.Checkpointer
	)
	if tx != nil {
		node.EnableMoves(tx, secret)
		mover = node
	}
	if node.Recovers() {
		ckpts = node
	}
	pacer, err := media.NewPacer(media.DefaultPacerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	agent := store.DefaultAgent()
	agent.OrgID = "demo"
	agents, err := store.NewStaticAgents([]store.Agent{agent})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := session.NewEngine(scfg, session.Deps{Agents: agents, STT: local.NewSimTranscriber(),
		Chat: local.NewRuleAgent(), Synth: local.NewTones(), Pacer: pacer, Directory: node, Mover: mover, Checkpoints: ckpts})
	if err != nil {
		t.Fatal(err)
	}
	node.Attach(eng)
	conn := telnyx.DefaultConnConfig()
	conn.AllowUnauthenticated = true // the test's peers play Telnyx without a token
	conn.StreamSecret = secret       // but for the moved calls' streams
	srv := httptest.NewServer(telnyx.NewHandler(conn, eng, telnyx.NewMetrics(nil), slog.New(slog.DiscardHandler)))
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() { // ends when the test's cleanup cancels it
		defer close(done)
		_ = node.Run(ctx)
	}()
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
		if !eng.Draining() {
			_ = eng.Drain(dctx)
		}
		dcancel()
		srv.Close()
		cancel()
		<-done
		pacer.Close()
	})
	tn.node, tn.engine, tn.url = node, eng, "ws"+strings.TrimPrefix(srv.URL, "http")
	return tn
}

// stream is a media stream the test holds open as Telnyx would: sending
// silence until the server closes it, or the test stops it.
type stream struct {
	id     string
	closed chan struct{}
	conn   *websocket.Conn
	mu     sync.Mutex
}

// stop sends Telnyx's stop frame and closes the stream.
func (s *stream) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.conn.WriteMessage(websocket.TextMessage, []byte(`{"event":"stop","sequence_number":"999","stream_id":"`+s.id+`","stop":{}}`))
	_ = s.conn.Close()
}

// open opens a stream of call ccid to url (a token in it or not).
func open(t *testing.T, url, ccid, streamID string) *stream {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Errorf("stream to %s: %v", url, err)
		return nil
	}
	_ = resp.Body.Close()
	s := &stream{id: streamID, closed: make(chan struct{}), conn: conn}
	t.Cleanup(func() { _ = conn.Close() })
	for _, m := range []string{`{"event":"connected","version":"1.0.0"}`,
		fmt.Sprintf(`{"event":"start","sequence_number":"1","stream_id":%q,"start":{"call_control_id":%q,"from":"+15550001111","to":"+15550002222",`+
			`"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}`, streamID, ccid)} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Error(err)
			return nil
		}
	}
	go func() { // ends when the server closes the stream
		defer close(s.closed)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return s
}

// call holds a new call's media stream to url open; the channel is closed
// when the server closes it.
func call(t *testing.T, url string) (closed <-chan struct{}) {
	t.Helper()
	id := rand.Text()[:8]
	s := open(t, url, "v3:"+id, "s-"+id)
	if s == nil {
		t.FailNow()
	}
	return s.closed
}

// fakeTelnyx plays Telnyx's side of streaming_start and streaming_stop:
// a new stream of the call opens to target (where the load balancer would
// send it), and a stopped stream gets its stop frame.
type fakeTelnyx struct {
	t      *testing.T
	target string
	// gate, when set, holds every streaming_start until it is closed;
	// entered is told of each one held.
	gate, entered chan struct{}
	mu            sync.Mutex
	streams       map[string]*stream
	started       chan *stream
	stopped       chan string
}

func newFakeTelnyx(t *testing.T) *fakeTelnyx {
	return &fakeTelnyx{t: t, streams: map[string]*stream{}, started: make(chan *stream, 4), stopped: make(chan string, 4)}
}

func (f *fakeTelnyx) add(s *stream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams[s.id] = s
}

func (f *fakeTelnyx) StartStream(_ context.Context, ccid, token string) error {
	if f.gate != nil {
		f.entered <- struct{}{}
		<-f.gate
	}
	s := open(f.t, f.target+"?token="+token, ccid, "s2-"+rand.Text()[:6])
	if s == nil {
		return errors.New("fake telnyx: the new stream did not open")
	}
	f.add(s)
	f.started <- s
	return nil
}

func (f *fakeTelnyx) StopStream(_ context.Context, _, streamID string) error {
	f.mu.Lock()
	s := f.streams[streamID]
	f.mu.Unlock()
	if s == nil {
		return errors.New("fake telnyx: no such stream")
	}
	s.stop()
	f.stopped <- streamID
	return nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 5*time.Second, what, cond)
}

func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond) //nolint:forbidigo // polling what another node writes asynchronously
	}
}

func prefix() string { return "iace-test:" + rand.Text()[:10] + ":" }

// TestTwoNodesShareTheirCallsAndCommands: a call on b is listed by a,
// ended by a hang-up sent to a, and gone from the list after.
func TestTwoNodesShareTheirCallsAndCommands(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a, b := startNode(t, rdb, p, "a", 0), startNode(t, rdb, p, "b", 0)
	closed := call(t, b.url)
	var id session.CallID
	eventually(t, "a lists b's call", func() bool {
		calls, err := a.node.Live(t.Context(), "demo")
		if err != nil || len(calls) != 1 {
			return false
		}
		id = calls[0].ID
		return true
	})
	if loc, err := a.node.Locate(t.Context(), "demo", id); err != nil || loc.Node != "b" || loc.Local {
		t.Errorf("a locates b's call at %+v (%v)", loc, err)
	}
	if _, err := a.node.Locate(t.Context(), "other-org", id); !errors.Is(err, session.ErrCallNotFound) {
		t.Errorf("another organization locates the call: %v", err)
	}
	if err := a.node.Supervise(t.Context(), "demo", id, session.RoleWhisper); err != nil {
		t.Errorf("role switch through a: %v", err)
	}
	eventually(t, "the role is b's", func() bool {
		c, ok := b.engine.Call(id)
		return ok && c.SupervisorRole == session.RoleWhisper
	})
	found, err := a.node.Hangup(t.Context(), id, session.EndOperator)
	if err != nil || !found {
		t.Fatalf("hang-up through a: found %v, %v", found, err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the call on b did not end")
	}
	eventually(t, "the call leaves the list", func() bool {
		calls, err := a.node.Live(t.Context(), "demo")
		return err == nil && len(calls) == 0
	})
	if found, err := a.node.Hangup(t.Context(), id, session.EndOperator); found || err != nil {
		t.Errorf("a hang-up of an ended call: found %v, %v", found, err)
	}
}

// TestTheOrganizationLimitCountsEveryNode: with a limit of one call, a
// second call of the organization is refused on the other node, and
// admitted once the first has ended.
func TestTheOrganizationLimitCountsEveryNode(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a, b := startNode(t, rdb, p, "a", 1), startNode(t, rdb, p, "b", 1)
	first := call(t, b.url)
	eventually(t, "b holds the call", func() bool { return b.engine.Registry().Len() == 1 })
	if err := a.node.AdmitNew(t.Context(), "demo"); !errors.Is(err, session.ErrOrgAtLimit) {
		t.Errorf("a new call at the limit: %v", err)
	}
	refused := call(t, a.url)
	select {
	case <-refused:
	case <-time.After(5 * time.Second):
		t.Fatal("a stream over the limit was held")
	}
	if n := a.engine.Registry().Len(); n != 0 {
		t.Errorf("a holds %d calls over the limit", n)
	}
	var calls []session.CallInfo
	eventually(t, "a lists b's call", func() bool {
		calls, _ = a.node.Live(t.Context(), "demo")
		return len(calls) == 1
	})
	if found, err := a.node.Hangup(t.Context(), calls[0].ID, session.EndOperator); !found || err != nil {
		t.Fatalf("hang-up: %v %v", found, err)
	}
	<-first
	eventually(t, "the organization may call again", func() bool { return a.node.AdmitNew(t.Context(), "demo") == nil })
}

// TestALostNodesCallsAreRecorded: a node that stops heartbeating with a
// call (its entries left as a crash leaves them) is claimed by a survivor,
// which records the call as ended, node_lost, at the lost node's last
// heartbeat, and removes it from the registry. It hangs the call up at
// Telnyx unless the lost node still accepts connections at its address
// (alive, cut off from Redis: its call may go on).
func TestALostNodesCallsAreRecorded(t *testing.T) {
	t.Run("dead", func(t *testing.T) { lostNode(t, "", false) })
	t.Run("cut off from Redis", func(t *testing.T) { lostNode(t, "ghost", true) })
	t.Run("cut off from Redis, no identity", func(t *testing.T) { lostNode(t, "-", true) })
	t.Run("its address given to another node", func(t *testing.T) { lostNode(t, "other", false) })
}

// lostNode has a lost node "ghost" with a call, and at its address
// nothing (at ""), a listener that says no name ("-"), or a node of the
// name at, which says so at cluster.IdentityPath; alive is whether a
// takes the ghost for alive (its call then recorded, not hung up).
func lostNode(t *testing.T, at string, alive bool) {
	rdb := testRedis(t)
	p := prefix()
	a := startNode(t, rdb, p, "a", 0)
	ctx := t.Context()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	switch at {
	case "":
		_ = ln.Close() // nothing answers there any more
	case "-":
		t.Cleanup(func() { _ = ln.Close() }) // accepts, says nothing
	default:
		there, err := cluster.New(cluster.Config{Node: at}, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(there.IdentityHandler())
		srv.Listener = ln
		srv.Start()
		t.Cleanup(srv.Close)
	}
	last := time.Now().Add(-time.Minute)
	entry, _ := json.Marshal(map[string]any{"node": "ghost", "org": "demo", "agent": "demo", "ccid": "v3:ghost", "started": last.Add(-time.Minute).UnixMilli()})
	if err := errors.Join(
		rdb.Set(ctx, p+"call:ghost-call", entry, 0).Err(),
		rdb.SAdd(ctx, p+"org:demo", "ghost-call").Err(),
		rdb.SAdd(ctx, p+"nodecalls:ghost", "ghost-call").Err(),
		rdb.HSet(ctx, p+"node:ghost", "addr", addr).Err(),
		rdb.ZAdd(ctx, p+"nodes", redis.Z{Score: float64(last.UnixMilli()), Member: "ghost"}).Err(),
	); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ghost's call recorded", func() bool { return len(a.lost()) == 1 })
	eventually(t, "the ghost forgotten", func() bool { n, _ := rdb.Exists(ctx, p+"node:ghost").Result(); return n == 0 })
	if got, want := a.hangUps(), map[bool][]string{false: {"v3:ghost"}, true: nil}[alive]; !slices.Equal(got, want) {
		t.Errorf("hung up %q, want %q", got, want)
	}
	sum := a.lost()[0]
	if sum.EndReason != session.EndNodeLost || sum.Info.ID != "ghost-call" || sum.Info.OrgID != "demo" || sum.Info.CallControlID != "v3:ghost" ||
		!sum.EndedAt.Equal(time.UnixMilli(last.UnixMilli())) {
		t.Errorf("recorded %+v", sum)
	}
	if n, _ := rdb.Exists(ctx, p+"call:ghost-call", p+"nodecalls:ghost").Result(); n != 0 {
		t.Errorf("%d of the ghost's keys left", n)
	}
	if ok, _ := rdb.SIsMember(ctx, p+"org:demo", "ghost-call").Result(); ok {
		t.Error("the ghost's call still counts against its organization")
	}
	if _, err := rdb.ZScore(ctx, p+"nodes", "ghost").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("the ghost is still a node: %v", err)
	}
}

// startSurvivor starts node a taking up lost nodes' calls; the new
// streams Telnyx opens for them reach a.
func startSurvivor(t *testing.T, rdb *redis.Client, p string) (*testNode, *fakeTelnyx) {
	t.Helper()
	tx := newFakeTelnyx(t)
	a := startNodeWith(t, rdb, p, "a", 0, tx, recovering)
	tx.target = a.url
	return a, tx
}

// putCall writes call id of node into the registry as node would: its
// entry (on stream "s-<id>"), its organization's and node's sets and,
// with greeted, the checkpoint of the call after its greeting.
func putCall(t *testing.T, rdb *redis.Client, p, node, id, ccid string, started time.Time, greeted bool) {
	t.Helper()
	ctx := t.Context()
	agent := store.DefaultAgent()
	entry, _ := json.Marshal(map[string]any{"node": node, "org": "demo", "agent": string(agent.ID), "ccid": ccid, "stream": "s-" + id,
		"started": started.UnixMilli()})
	errs := []error{
		rdb.Set(ctx, p+"call:"+id, entry, 0).Err(),
		rdb.SAdd(ctx, p+"org:demo", id).Err(),
		rdb.SAdd(ctx, p+"nodecalls:"+node, id).Err(),
	}
	if greeted {
		ckpt, _ := json.Marshal(session.Resume{CallID: session.CallID(id), OrgID: "demo", AgentID: agent.ID, CallControlID: ccid,
			StreamID: "s-" + id, StartedAt: started, History: []ai.Message{{Role: ai.RoleAssistant, Content: agent.Greeting}},
			Record:   []session.Turn{{Speaker: ai.RoleAssistant, Text: agent.Greeting, StartedAt: started, EndedAt: started.Add(5 * time.Second)}},
			NextTurn: 1})
		errs = append(errs, rdb.Set(ctx, p+"ckpt:"+id, ckpt, time.Minute).Err())
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestALostNodesCallsAreTakenUp: with Recover on, the calls of a lost
// node that have a checkpoint are taken up by a survivor: a asks Telnyx
// for the call's new stream, which reaches a, and a holds the call from its
// checkpoint; nothing of it is recorded as lost or hung up. A call of the
// lost node without a checkpoint (no turn had ended) is recorded as lost
// and hung up, as without Recover.
func TestALostNodesCallsAreTakenUp(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a, tx := startSurvivor(t, rdb, p)
	ctx := t.Context()
	last := time.Now().Add(-time.Minute)
	putCall(t, rdb, p, "ghost", "ghost-call", "v3:ghost", last.Add(-time.Minute), true)
	putCall(t, rdb, p, "ghost", "early-call", "v3:early", last.Add(-time.Minute), false)
	if err := errors.Join(
		rdb.HSet(ctx, p+"node:ghost", "addr", "127.0.0.1:1").Err(), // nothing answers there
		rdb.ZAdd(ctx, p+"nodes", redis.Z{Score: float64(last.UnixMilli()), Member: "ghost"}).Err(),
	); err != nil {
		t.Fatal(err)
	}
	takenUp(t, a, tx, rdb, p, "ghost-call", "v3:ghost", 5*time.Second)
	// The reaper forgets the node once it has hung up what it could not
	// take up: just after the hang-up the test waits for.
	eventually(t, "the lost node forgotten", func() bool { n, _ := rdb.Exists(ctx, p+"node:ghost").Result(); return n == 0 })
}

// takenUp waits for a to ask tx for call id's new stream, and checks the
// outcome of taking up a lost process's two calls: id (Call Control id
// ccid) held by a on that stream, in the registry at a, still counted
// against its organization, its recovery's keys gone; and the call
// "early-call" ("v3:early", no checkpoint) recorded as lost within
// within, hung up, its entry gone.
func takenUp(t *testing.T, a *testNode, tx *fakeTelnyx, rdb *redis.Client, p, id, ccid string, within time.Duration) {
	t.Helper()
	ctx := t.Context()
	var taken *stream
	select {
	case taken = <-tx.started:
	case <-time.After(10 * time.Second):
		t.Fatal("a asked Telnyx for no new stream")
	}
	eventuallyWithin(t, within, "the early call recorded as lost", func() bool { return len(a.lost()) == 1 })
	if got := a.lost()[0]; got.Info.ID != "early-call" || got.EndReason != session.EndNodeLost {
		t.Errorf("recorded %+v, want the early call, node_lost", got)
	}
	if got := a.hangUps(); !slices.Equal(got, []string{"v3:early"}) {
		t.Errorf("hung up %q, want the early call only", got)
	}
	c, ok := a.engine.Call(session.CallID(id))
	if !ok || c.StreamID != taken.id || c.CallControlID != ccid {
		t.Fatalf("a does not hold the call taken up on its new stream: %+v %v", c, ok)
	}
	if loc, err := a.node.Locate(ctx, "demo", session.CallID(id)); err != nil || loc.Node != "a" {
		t.Errorf("the registry puts the call at %+v (%v)", loc, err)
	}
	if n, _ := rdb.Exists(ctx, p+"resume:"+id, p+"recover:"+id, p+"call:early-call").Result(); n != 0 {
		t.Errorf("%d of the recovery's keys or the lost call's entry left", n)
	}
	if ok, _ := rdb.SIsMember(ctx, p+"org:demo", id).Result(); !ok {
		t.Error("the call taken up no longer counts against its organization")
	}
}

// TestARestartedNodeTakesUpItsPredecessorsCalls: a process that died and
// was started again under its node's name (a container restarted in its
// pod) before the others took the node for lost finds its predecessor's
// calls in the registry, and no survivor will ever reap them. With Recover
// on, the call that has a checkpoint is taken up on a new stream, which
// here reaches the restarted process itself; the call without one is
// recorded as lost and hung up.
func TestARestartedNodeTakesUpItsPredecessorsCalls(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	ctx := t.Context()
	started := time.Now().Add(-time.Minute)
	putCall(t, rdb, p, "a", "old-call", "v3:old", started, true)
	putCall(t, rdb, p, "a", "early-call", "v3:early", started, false)
	// The predecessor's last heartbeat is recent: nobody took it for lost.
	if err := rdb.ZAdd(ctx, p+"nodes", redis.Z{Score: float64(time.Now().UnixMilli()), Member: "a"}).Err(); err != nil {
		t.Fatal(err)
	}
	// The restarted node asks for new streams as it starts: they are held
	// until the fake Telnyx knows where to open them.
	tx := newFakeTelnyx(t)
	tx.gate, tx.entered = make(chan struct{}), make(chan struct{}, 4)
	a := startNodeWith(t, rdb, p, "a", 0, tx, recovering)
	tx.target = a.url
	close(tx.gate)
	// The take-up is seen as soon as the call's entry names the new
	// stream, although it names the same node: the early call is recorded
	// well before the move's 5 s timeout would have ended the wait.
	takenUp(t, a, tx, rdb, p, "old-call", "v3:old", 2*time.Second)
	// A Telnyx webhook for the dead stream, late, changes nothing.
	if taken, err := a.node.RecoverStream(ctx, "old-call", "s-old-call"); taken || err != nil {
		t.Errorf("the old stream's webhook took the call up again: %v, %v", taken, err)
	}
	if n := len(tx.started); n != 0 {
		t.Errorf("%d more new streams asked for", n)
	}
}

// TestAFailedStreamIsTakenUpOnlyWhenItsNodeIsGone: Telnyx's word that a
// call's stream failed has a the call taken up at once only when the
// process holding it is gone: its node listens for commands in Redis no
// more and accepts no TCP at its address, or does both as a new process
// of the same name (its heartbeat names another incarnation than the
// call's entry). A node that still does either, as the process that
// wrote the entry, is alive, and the stream's failure is the call's own
// business.
func TestAFailedStreamIsTakenUpOnlyWhenItsNodeIsGone(t *testing.T) {
	for _, tc := range []struct {
		name                string
		subscribed, listens bool
		restarted           bool
		taken               bool
	}{
		{name: "gone", taken: true},
		{name: "still accepting connections", listens: true},
		{name: "still listening in Redis", subscribed: true},
		{name: "alive as the same process", subscribed: true, listens: true},
		{name: "restarted under its name", subscribed: true, listens: true, restarted: true, taken: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := testRedis(t)
			p := prefix()
			a, _ := startSurvivor(t, rdb, p)
			ctx := t.Context()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			if tc.listens {
				t.Cleanup(func() { _ = ln.Close() })
			} else {
				_ = ln.Close()
			}
			if tc.subscribed {
				sub := rdb.Subscribe(ctx, p+"cmd:b")
				if _, err := sub.Receive(ctx); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = sub.Close() })
			}
			putCall(t, rdb, p, "b", "b-call", "v3:b-call", time.Now().Add(-time.Minute), true)
			// The entry names the process that wrote it; the node's hash,
			// the process that heartbeats now.
			var e map[string]any
			raw, _ := rdb.Get(ctx, p+"call:b-call").Bytes()
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			e["inc"] = "first"
			raw, _ = json.Marshal(e)
			now := map[bool]string{false: "first", true: "second"}[tc.restarted]
			if err := errors.Join(rdb.Set(ctx, p+"call:b-call", raw, 0).Err(), rdb.HSet(ctx, p+"node:b", "addr", addr, "inc", now).Err()); err != nil {
				t.Fatal(err)
			}
			// b's heartbeat goes on: only the webhook's path may take its
			// call up, not the reaper's.
			beating, stopBeating := context.WithCancel(ctx)
			beats := make(chan struct{})
			go func() { // ends with the subtest
				defer close(beats)
				for {
					_ = rdb.ZAdd(beating, p+"nodes", redis.Z{Score: float64(time.Now().UnixMilli()), Member: "b"}).Err()
					select {
					case <-beating.Done():
						return
					case <-time.After(beat):
					}
				}
			}()
			t.Cleanup(func() { stopBeating(); <-beats })
			if taken, err := a.node.RecoverStream(ctx, "b-call", "s-other"); taken || err != nil {
				t.Errorf("a stream the call no longer uses: taken %v, %v", taken, err)
			}
			taken, err := a.node.RecoverStream(ctx, "b-call", "s-b-call")
			if taken != tc.taken || err != nil {
				t.Fatalf("taken %v (%v), want %v", taken, err, tc.taken)
			}
			c, held := a.engine.Call("b-call")
			if held != tc.taken {
				t.Errorf("a holds the call: %v, want %v", held, tc.taken)
			}
			if tc.taken && c.CallControlID != "v3:b-call" {
				t.Errorf("a holds %+v", c)
			}
		})
	}
}

// TestNodesThatTakeNoCallsOfferNoRoom: the webhook's admission of a new
// call counts the room of the nodes that take calls only: with the one
// that does at its capacity, a node of the API alone does not make room.
func TestNodesThatTakeNoCallsOfferNoRoom(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	api := startNodeWith(t, rdb, p, "api", 0, nil, func(_ *cluster.Config, s *session.Config) { s.NoCalls = true })
	media := startNodeWith(t, rdb, p, "media", 0, nil, func(_ *cluster.Config, s *session.Config) { s.MaxCalls = 1 })
	eventually(t, "both nodes heartbeating", func() bool {
		n, _ := rdb.ZCard(t.Context(), p+"nodes").Result()
		return n == 2
	})
	if err := api.node.AdmitNew(t.Context(), "demo"); err != nil {
		t.Errorf("with room on the media node: %v", err)
	}
	call(t, media.url)
	eventually(t, "no room once the media node is full", func() bool {
		return errors.Is(api.node.AdmitNew(t.Context(), "demo"), session.ErrAtCapacity)
	})
}

// TestACallsCheckpointLivesAsLongAsTheCall: with Recover on, a call's
// state is in Redis once a turn has ended (the greeting), and gone when the
// call ends.
func TestACallsCheckpointLivesAsLongAsTheCall(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a := startNodeWith(t, rdb, p, "a", 0, newFakeTelnyx(t), recovering)
	s := open(t, a.url, "v3:kept", "s-kept")
	var (
		r  session.Resume
		id session.CallID
	)
	// The greeting counts as said once its audio has run out and the
	// playback grace passed (this peer echoes no marks): seconds.
	eventuallyWithin(t, 15*time.Second, "the call's checkpoint after its greeting", func() bool {
		calls := a.engine.List()
		if len(calls) != 1 {
			return false
		}
		id = calls[0].ID
		raw, err := rdb.Get(t.Context(), p+"ckpt:"+string(id)).Bytes()
		return err == nil && json.Unmarshal(raw, &r) == nil
	})
	if r.CallID != id || r.CallControlID != "v3:kept" || r.StreamID != "s-kept" || len(r.Record) != 1 || r.Record[0].Speaker != ai.RoleAssistant {
		t.Errorf("checkpoint %+v", r)
	}
	s.stop()
	eventually(t, "the checkpoint removed with the call", func() bool {
		n, _ := rdb.Exists(t.Context(), p+"ckpt:"+string(id)).Result()
		return n == 0
	})
}

// TestACommandToASilentNodeIsReported: a call whose node listens to no
// command (it died) is reported unreachable, not taken as done.
func TestACommandToASilentNodeIsReported(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a := startNode(t, rdb, p, "a", 0)
	entry, _ := json.Marshal(map[string]any{"node": "silent", "org": "demo", "agent": "demo", "started": time.Now().UnixMilli()})
	if err := rdb.Set(t.Context(), p+"call:quiet-call", entry, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	found, err := a.node.Hangup(t.Context(), "quiet-call", session.EndOperator)
	if found || !errors.Is(err, cluster.ErrUnreachable) {
		t.Errorf("hang-up of a silent node's call: found %v, %v", found, err)
	}
	if err := a.node.Whisper(t.Context(), "demo", "quiet-call", "hello"); !errors.Is(err, cluster.ErrUnreachable) {
		t.Errorf("whisper to a silent node's call: %v", err)
	}
}

// TestADrainingNodeMovesItsCallToAnother: b drains with a call; the call's
// new stream (streaming_start) reaches a, which holds the call from then
// on, with b's greeting in its record and no second one; b stops the old
// stream and records nothing. a's list and a's event stream of the call
// follow it.
func TestADrainingNodeMovesItsCallToAnother(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	tx := newFakeTelnyx(t)
	a := startNodeWith(t, rdb, p, "a", 0, tx)
	b := startNodeWith(t, rdb, p, "b", 0, tx)
	tx.target = a.url
	old := open(t, b.url, "v3:moving", "s1-moving")
	tx.add(old)
	var id session.CallID
	eventually(t, "b's call greeted and listed on a", func() bool {
		calls, _ := a.node.Live(t.Context(), "demo")
		if len(calls) != 1 || calls[0].State != session.StateListening {
			return false
		}
		id = calls[0].ID
		c, ok := b.engine.Call(id)
		return ok && c.State == session.StateListening && time.Since(c.StartedAt) > 2*time.Second // the greeting has been said
	})
	events, err := a.node.SubscribeCall("demo", id)
	if err != nil {
		t.Fatalf("a follows b's call: %v", err)
	}
	defer events.Close()
	list, err := a.node.SubscribeLive("demo")
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	if ev := <-list.Events(); ev.Kind != session.LiveSnapshot || len(ev.Calls) != 1 {
		t.Errorf("a's list starts with %+v", ev)
	}
	if err := a.node.Whisper(t.Context(), "demo", id, "offer the discount"); err != nil {
		t.Errorf("whisper through a: %v", err)
	}
	drained := make(chan error, 1)
	go func() { // ends when b has drained
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- b.engine.Drain(ctx)
	}()
	var moved *stream
	select {
	case moved = <-tx.started:
	case <-time.After(10 * time.Second):
		t.Fatal("b asked Telnyx for no new stream")
	}
	select {
	case sid := <-tx.stopped:
		if sid != "s1-moving" {
			t.Errorf("b stopped stream %s", sid)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not stop the old stream")
	}
	if err := <-drained; err != nil {
		t.Errorf("b's drain: %v", err)
	}
	if c, ok := a.engine.Call(id); !ok || c.StreamID != moved.id {
		t.Fatalf("a does not hold the moved call on its new stream: %+v %v", c, ok)
	}
	if loc, err := b.node.Locate(t.Context(), "demo", id); err != nil || loc.Node != "a" {
		t.Errorf("the registry puts the call at %+v (%v)", loc, err)
	}
	// The call's stream on a ends with b's end (moved); the list keeps it.
	for ev := range events.Events() {
		if ev.Kind == session.LiveEnded {
			if ev.Reason != string(session.EndMoved) {
				t.Errorf("the call's stream ended with %q", ev.Reason)
			}
			break
		}
	}
	select {
	case ev := <-list.Events():
		if ev.Kind == session.LiveEnded {
			t.Errorf("a's list dropped the moved call: %+v", ev)
		}
	case <-time.After(200 * time.Millisecond):
	}
	// a ends the call: one record, with b's greeting and no second one.
	if found, err := a.node.Hangup(t.Context(), id, session.EndOperator); !found || err != nil {
		t.Fatalf("hang-up: %v %v", found, err)
	}
	<-moved.closed
	if len(b.lost())+len(a.lost()) != 0 {
		t.Error("a move recorded a lost call")
	}
}

// TestASupervisorCommandDuringAMoveReachesTheCallWhereItGoes: a role
// switch sent while b's call is moving (its state handed over, the new
// stream not open yet) is refused by b's session, which no longer owns the
// call's state, and asked again until the call's new node carries it
// out: the call on a has the new role, none is lost between the nodes.
func TestASupervisorCommandDuringAMoveReachesTheCallWhereItGoes(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	tx := newFakeTelnyx(t)
	tx.gate, tx.entered = make(chan struct{}), make(chan struct{}, 1)
	a := startNodeWith(t, rdb, p, "a", 0, tx)
	b := startNodeWith(t, rdb, p, "b", 0, tx)
	tx.target = a.url
	tx.add(open(t, b.url, "v3:busy-move", "s1-busy-move"))
	var id session.CallID
	eventuallyWithin(t, 15*time.Second, "b's call greeted", func() bool {
		calls := b.engine.List()
		if len(calls) != 1 || calls[0].State != session.StateListening || time.Since(calls[0].StartedAt) < 2*time.Second {
			return false
		}
		id = calls[0].ID
		return true
	})
	go func() { // ends when b has drained
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = b.engine.Drain(ctx)
	}()
	select {
	case <-tx.entered: // the state is taken; the new stream is held
	case <-time.After(10 * time.Second):
		t.Fatal("b asked Telnyx for no new stream")
	}
	if err := b.engine.Supervise("demo", id, session.RoleWhisper); !errors.Is(err, session.ErrCallMoving) {
		t.Errorf("b's moving call took a role switch: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.node.Supervise(t.Context(), "demo", id, session.RoleWhisper) }() // ends within the move's bound
	select {
	case err := <-done:
		t.Fatalf("the role switch returned before the call reached a: %v", err)
	case <-time.After(300 * time.Millisecond): // asked again and again meanwhile
	}
	close(tx.gate)
	if err := <-done; err != nil {
		t.Fatalf("role switch during the move: %v", err)
	}
	// Taken by a's session: its run loop switches the role.
	eventually(t, "the call on a in role whisper", func() bool {
		c, ok := a.engine.Call(id)
		return ok && c.SupervisorRole == session.RoleWhisper
	})
}

// TestEventsOfAnotherNodesCall: a reader on a follows a call held by b
// from its snapshot to its end, and a's live list shows b's calls start
// and end.
func TestEventsOfAnotherNodesCall(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a, b := startNode(t, rdb, p, "a", 0), startNode(t, rdb, p, "b", 0)
	list, err := a.node.SubscribeLive("demo")
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	if ev := <-list.Events(); ev.Kind != session.LiveSnapshot || len(ev.Calls) != 0 {
		t.Errorf("the list starts with %+v", ev)
	}
	closed := call(t, b.url)
	var id session.CallID
	for ev := range list.Events() {
		if ev.Kind == session.LiveStarted {
			id = ev.CallID
			break
		}
	}
	eventually(t, "the call registered", func() bool { _, err := a.node.Locate(t.Context(), "demo", id); return err == nil })
	events, err := a.node.SubscribeCall("demo", id)
	if err != nil {
		t.Fatalf("a follows b's call: %v", err)
	}
	defer events.Close()
	if ev := <-events.Events(); ev.Kind != session.LiveSnapshot || ev.Call == nil || ev.Call.ID != id {
		t.Errorf("the call's stream starts with %+v", ev)
	}
	if err := a.node.Supervise(t.Context(), "demo", id, session.RoleWhisper); err != nil {
		t.Fatal(err)
	}
	// The switch is queued to the call's run loop: it reaches a's reader
	// before the call is hung up (a hang-up first would end the call
	// with the switch unmade).
	var kinds []session.LiveKind
	for role := false; !role; {
		select {
		case ev, ok := <-events.Events():
			if !ok {
				t.Fatalf("the call's stream on a ended before the role switch: %v", kinds)
			}
			kinds = append(kinds, ev.Kind)
			role = ev.Kind == session.LiveSupervisorRole
		case <-time.After(10 * time.Second):
			t.Fatalf("no role switch on the call's stream on a: %v", kinds)
		}
	}
	if found, err := a.node.Hangup(t.Context(), id, session.EndOperator); !found || err != nil {
		t.Fatalf("hang-up: %v %v", found, err)
	}
	<-closed
	for ev := range events.Events() {
		kinds = append(kinds, ev.Kind)
	}
	if kinds[len(kinds)-1] != session.LiveEnded {
		t.Errorf("the call's stream on a: %v, want it to end with the call", kinds)
	}
	for ev := range list.Events() {
		if ev.Kind == session.LiveEnded && ev.CallID == id {
			return
		}
	}
	t.Error("a's list did not show the call end")
}

// TestReadersOfAnotherNodesCallAreCapped: a node relays another node's
// call to at most as many readers as the call takes on its own node; a
// reader that leaves makes room for the next.
func TestReadersOfAnotherNodesCallAreCapped(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a, b := startNode(t, rdb, p, "a", 0), startNode(t, rdb, p, "b", 0)
	id, _ := remoteCall(t, a, b)
	subs := make([]*session.Subscription, 0, session.MaxCallSubscribers)
	for i := range session.MaxCallSubscribers {
		s, err := a.node.SubscribeCall("demo", id)
		if err != nil {
			t.Fatalf("reader %d: %v", i+1, err)
		}
		subs = append(subs, s)
	}
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	if _, err := a.node.SubscribeCall("demo", id); !errors.Is(err, session.ErrTooManySubscribers) {
		t.Fatalf("reader %d: %v, want ErrTooManySubscribers", session.MaxCallSubscribers+1, err)
	}
	subs[0].Close()
	subs = subs[1:]
	// The relay sees its reader gone at its next check.
	eventually(t, "room for a reader after one left", func() bool {
		s, err := a.node.SubscribeCall("demo", id)
		if err != nil {
			return false
		}
		subs = append(subs, s)
		return true
	})
}

// remoteCall places a call on b and returns its id once a sees it.
func remoteCall(t *testing.T, a, b *testNode) (session.CallID, <-chan struct{}) {
	t.Helper()
	closed := call(t, b.url)
	var id session.CallID
	eventually(t, "b's call registered", func() bool {
		calls, _ := a.node.Live(t.Context(), "demo")
		if len(calls) != 1 {
			return false
		}
		id = calls[0].ID
		return true
	})
	return id, closed
}

// subscribers is how many Redis connections subscribe to channel.
func subscribers(t *testing.T, rdb *redis.Client, channel string) int64 {
	t.Helper()
	n, err := rdb.PubSubNumSub(t.Context(), channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n[channel]
}

// waitRole waits at most d for a supervisor role event of events that
// sets role, skipping the others; it reports whether one came.
func waitRole(events *session.Subscription, role session.SupervisorRole, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-events.Events():
			if !ok {
				return false
			}
			if ev.Kind == session.LiveSupervisorRole && ev.Role == role {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// TestReadersOfAnotherNodesCallShareOneSubscription: however many readers
// a node has of another node's call and of the live list, it holds one
// Redis subscription to each channel, and every reader gets every event.
func TestReadersOfAnotherNodesCallShareOneSubscription(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a, b := startNode(t, rdb, p, "a", 0), startNode(t, rdb, p, "b", 0)
	id, _ := remoteCall(t, a, b)
	var readers []*session.Subscription
	for range 3 {
		s, err := a.node.SubscribeCall("demo", id)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		<-s.Events() // the snapshot
		readers = append(readers, s)
	}
	for range 2 {
		s, err := a.node.SubscribeLive("demo")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	if n := subscribers(t, rdb, p+"events:"+string(id)); n != 1 {
		t.Errorf("a's 3 readers of the call hold %d subscriptions to its channel, want 1", n)
	}
	if n := subscribers(t, rdb, p+"live:demo"); n != 1 {
		t.Errorf("a's 2 readers of the live list hold %d subscriptions to its channel, want 1", n)
	}
	if err := a.node.Supervise(t.Context(), "demo", id, session.RoleWhisper); err != nil {
		t.Fatal(err)
	}
	for i, s := range readers {
		if !waitRole(s, session.RoleWhisper, 5*time.Second) {
			t.Errorf("reader %d: no switch to whisper", i+1)
		}
	}
	for _, s := range readers {
		s.Close()
	}
	// The relays see their readers gone at their next check.
	eventually(t, "the call's channel unsubscribed once nobody reads it", func() bool {
		return subscribers(t, rdb, p+"events:"+string(id)) == 0
	})
}

// TestAReaderOutlivesALostSubscription: the holder's bridge ends when a
// publish finds nobody listening, as it does while the reader's node
// subscribes again after a lost connection or a Redis restart. The reader
// asks for the bridge again, and its stream goes on to the call's end.
func TestAReaderOutlivesALostSubscription(t *testing.T) {
	rdb := testRedis(t)
	p := prefix()
	a, b := startNode(t, rdb, p, "a", 0), startNode(t, rdb, p, "b", 0)
	id, closed := remoteCall(t, a, b)
	events, err := a.node.SubscribeCall("demo", id)
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	<-events.Events() // the snapshot
	again, err := cluster.LoseEventsSubscription(t.Context(), a.node, id)
	if err != nil {
		t.Fatal(err)
	}
	channel := p + "events:" + string(id)
	eventually(t, "a's subscription gone", func() bool { return subscribers(t, rdb, channel) == 0 })
	// Published to nobody: b's bridge ends.
	if err := a.node.Supervise(t.Context(), "demo", id, session.RoleWhisper); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's bridge ended", func() bool { return !cluster.Bridging(b.node, id) })
	if err := again(); err != nil {
		t.Fatal(err)
	}
	roles := []session.SupervisorRole{session.RoleMonitor, session.RoleWhisper}
	got := false
	for i := 0; i < 10 && !got; i++ { // the reader asks again every 2 s
		if err := a.node.Supervise(t.Context(), "demo", id, roles[i%2]); err != nil {
			t.Fatal(err)
		}
		got = waitRole(events, roles[i%2], time.Second)
	}
	if !got {
		t.Fatal("no event reached the reader after its subscription came back")
	}
	if found, err := a.node.Hangup(t.Context(), id, session.EndOperator); !found || err != nil {
		t.Fatalf("hang-up: %v %v", found, err)
	}
	<-closed
	var last session.LiveEvent
	for ev := range events.Events() {
		last = ev
	}
	if last.Kind != session.LiveEnded || last.Reason != string(session.EndOperator) {
		t.Errorf("the stream ended with %s %q, want ended %q", last.Kind, last.Reason, session.EndOperator)
	}
}

// TestAReaderOutlivesAForgottenEntry: Redis restarted empty forgets the
// entry of a call until its node writes it again; a reader on another
// node is not told the call ended meanwhile, and sees its real end.
func TestAReaderOutlivesAForgottenEntry(t *testing.T) {
	forgotten(t, "watch", func(a *testNode, id session.CallID) (*session.Subscription, error) {
		return a.node.SubscribeCall("demo", id)
	})
}

// TestTheLiveListOutlivesAForgottenEntry: while Redis has forgotten a
// call's entry (restarted empty, the node not yet written it again), a
// live list on another node goes on showing the call, and shows its end
// when it comes.
func TestTheLiveListOutlivesAForgottenEntry(t *testing.T) {
	forgotten(t, "watch_org", func(a *testNode, _ session.CallID) (*session.Subscription, error) {
		return a.node.SubscribeLive("demo")
	})
}

// forgotten places a call on b, opens a's reader of it (its call's, or
// the live list), deletes the call's entry for one or two of the reader's
// checks (each sends b a command of kind), writes it back as b would, and
// checks that the reader saw no end meanwhile and the call's own end
// after.
func forgotten(t *testing.T, kind string, subscribe func(a *testNode, id session.CallID) (*session.Subscription, error)) {
	rdb := testRedis(t)
	p := prefix()
	a, b := startNode(t, rdb, p, "a", 0), startNode(t, rdb, p, "b", 0)
	id, closed := remoteCall(t, a, b)
	// Once the greeting has played the entry does not change, so b does
	// not write it again.
	eventually(t, "the greeting over", func() bool {
		calls, _ := a.node.Live(t.Context(), "demo")
		return len(calls) == 1 && calls[0].State == session.StateListening
	})
	sub, err := subscribe(a, id)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if ev := <-sub.Events(); ev.Kind != session.LiveSnapshot {
		t.Fatalf("the reader starts with %s", ev.Kind)
	}
	key := p + "call:" + string(id)
	saved, err := rdb.Get(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(t.Context(), key).Err(); err != nil {
		t.Fatal(err)
	}
	// Each check that goes on sends its command to b and reads the
	// registry, in an order that makes one or two of these find no entry.
	cmds := rdb.Subscribe(t.Context(), p+"cmd:b")
	defer func() { _ = cmds.Close() }()
	if _, err := cmds.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	for checks := 0; checks < 2; {
		select {
		case m := <-cmds.Channel():
			var c struct {
				Kind, From string
			}
			if json.Unmarshal([]byte(m.Payload), &c) == nil && c.Kind == kind && c.From == "a" {
				checks++
			}
		case ev := <-sub.Events():
			if ev.Kind == session.LiveEnded || ev.Kind == session.LiveDropped {
				t.Fatalf("the reader was told %s %q while the entry was missing", ev.Kind, ev.Reason)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the reader did not go on checking")
		}
	}
	if err := rdb.Set(t.Context(), key, saved, 0).Err(); err != nil { // the node writes it again
		t.Fatal(err)
	}
	if found, err := a.node.Hangup(t.Context(), id, session.EndOperator); !found || err != nil {
		t.Fatalf("hang-up: %v %v", found, err)
	}
	<-closed
	for ev := range sub.Events() {
		if ev.Kind == session.LiveEnded && ev.CallID == id {
			if ev.Reason != string(session.EndOperator) {
				t.Errorf("the reader was told the call ended with %q, want %q", ev.Reason, session.EndOperator)
			}
			return
		}
	}
	t.Error("the reader was not told the call ended")
}
