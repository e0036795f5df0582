package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/media/telnyx/callcontrol"
)

// mediaStream is a stream the fake node accepted.
type mediaStream struct {
	id     string
	start  map[string]any
	conn   *websocket.Conn
	closed chan struct{}
}

// fakeNode accepts media streams, hands each to the test, and answers
// call.initiated with a stream URL on itself.
type fakeNode struct {
	srv     *httptest.Server
	streams chan *mediaStream
	cc      *callcontrol.Client
}

func newFakeNode(t *testing.T, tel *fakeTelnyx) *fakeNode {
	t.Helper()
	cfg := callcontrol.DefaultConfig()
	cfg.BaseURL, cfg.APIKey = tel.APIURL(), telnyxKey
	cc, err := callcontrol.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{streams: make(chan *mediaStream, 4), cc: cc}
	up := websocket.Upgrader{}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/webhooks/telnyx" {
			var ev struct {
				Data struct {
					Type    string `json:"event_type"`
					Payload struct {
						CCID string `json:"call_control_id"`
					} `json:"payload"`
				} `json:"data"`
			}
			_ = json.NewDecoder(r.Body).Decode(&ev)
			if ev.Data.Type == "call.initiated" {
				go func() { // ends with the answer
					_ = cc.Answer(context.WithoutCancel(r.Context()), ev.Data.Payload.CCID, callcontrol.AnswerParams{
						StreamParams: callcontrol.StreamParams{StreamURL: n.streamURL("one"), StreamTrack: callcontrol.TrackInbound}})
				}()
			}
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s := &mediaStream{conn: conn, closed: make(chan struct{})}
		for range 2 { // connected, start
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				Event    string         `json:"event"`
				StreamID string         `json:"stream_id"`
				Start    map[string]any `json:"start"`
			}
			_ = json.Unmarshal(msg, &m)
			if m.Event == "start" {
				s.id, s.start = m.StreamID, m.Start
			}
		}
		n.streams <- s
		defer close(s.closed)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *fakeNode) streamURL(token string) string {
	return "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/media/telnyx?token=" + token
}

func (n *fakeNode) next(t *testing.T) *mediaStream {
	t.Helper()
	select {
	case s := <-n.streams:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no stream opened")
		return nil
	}
}

// testFollower is caller 1 of a test: call ccid with the script's lines,
// waiting reopenWait for a new stream after its stream closes.
func testFollower(t *testing.T, tel *fakeTelnyx, ccid, script string, reopenWait time.Duration) *follower {
	t.Helper()
	cl, err := loadClips(followerScript)
	if err != nil {
		t.Fatal(err)
	}
	return &follower{n: 1, ccid: ccid, from: callerNumber(1), to: "+15550003000", lines: 100, clips: cl,
		timing: followerTiming{Quiet: time.Second, Pause: 10 * time.Millisecond, ReplyTimeout: time.Minute, GreetingTimeout: time.Minute,
			ReopenWait: reopenWait},
		dialer: dialer(), tel: tel, script: script}
}

func TestFollowerFollowsAMoveAndCountsACut(t *testing.T) {
	tel, ctx := dispatchingTelnyx(t)
	node := newFakeNode(t, tel)
	const ccid = "v3:follow-1"
	f := testFollower(t, tel, ccid, "what are your opening hours|how much does it cost", 50*time.Millisecond)
	done := make(chan followResult, 1)
	go func() { done <- runFollower(ctx, f, node.srv.URL+"/webhooks/telnyx") }()

	one := node.next(t)
	if one.start["call_control_id"] != ccid || !strings.Contains(one.start["custom_parameters"].(map[string]any)["sim_script"].(string), "opening hours") {
		t.Errorf("first start %v", one.start)
	}
	// The node moves the call: Telnyx opens a second stream, then stops the first.
	if err := node.cc.StreamingStart(ctx, ccid, callcontrol.StreamingStartParams{StreamParams: callcontrol.StreamParams{StreamURL: node.streamURL("two")},
		CustomParameters: []callcontrol.CustomParameter{{Name: "moved_from", Value: "node-1"}}}); err != nil {
		t.Fatal(err)
	}
	two := node.next(t)
	params := two.start["custom_parameters"].(map[string]any)
	if two.id == one.id || params["moved_from"] != "node-1" || params["sim_script"] == nil {
		t.Errorf("second stream %s (first %s), parameters %v", two.id, one.id, params)
	}
	if err := node.cc.StreamingStop(ctx, ccid, callcontrol.StreamingStopParams{StreamID: one.id}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-one.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("streaming_stop did not close the first stream")
	}
	// The second node ends the stream with lines left: a cut.
	_ = two.conn.Close()
	var res followResult
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower did not end")
	}
	if res.Outcome != "cut" || res.CutAt.IsZero() {
		t.Errorf("outcome %q, cut at %v; want cut", res.Outcome, res.CutAt)
	}
	if len(res.Moves) != 1 || res.Moves[0].Failed != "" || res.Moves[0].Opened.IsZero() || res.Moves[0].OldClosed.IsZero() || res.Moves[0].Gap() != 0 {
		t.Errorf("moves %+v", res.Moves)
	}
}

func TestMoveGapAndSwitch(t *testing.T) {
	m := moveResult{Requested: t0, Opened: t0.Add(msd(40)), OldClosed: t0.Add(msd(10))}
	if m.Gap() != msd(30) || m.Switch() != msd(40) {
		t.Errorf("gap %v switch %v", m.Gap(), m.Switch())
	}
	m.OldClosed = t0.Add(time.Second)
	if m.Gap() != 0 {
		t.Errorf("overlapping streams: gap %v", m.Gap())
	}
	if (moveResult{Requested: t0}).Switch() != 0 {
		t.Error("a move that never opened has a switch time")
	}
}
