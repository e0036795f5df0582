package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/media/telnyx/callcontrol"
)

func TestSummarizeRecover(t *testing.T) {
	kill := t0.Add(time.Minute)
	greeted := t0.Add(5 * time.Second)
	// taken is a new stream 2 s after the kill, the old one closed at it.
	taken := moveResult{Requested: kill.Add(1900 * time.Millisecond), Opened: kill.Add(2 * time.Second), OldClosed: kill.Add(msd(50))}
	posted := []failedPost{{StreamID: "s1", Closed: kill.Add(msd(50)), Posted: kill.Add(msd(60)), Code: 200, Attempts: 1}}
	res := []followResult{
		// Victims.
		{CCID: "g-up", Started: t0, Greeted: greeted, Outcome: "completed", Moves: []moveResult{taken}, FailedPosts: posted,
			AfterMove: []time.Duration{msd(500)}, LinesAfterMove: 5, NoReply: 1},
		{CCID: "g-up-lost", Started: t0, Greeted: greeted, Outcome: "completed", Moves: []moveResult{taken},
			FailedPosts: []failedPost{{StreamID: "s2", Posted: kill.Add(msd(70)), Code: 503, Attempts: 6}}},
		// Moved before the kill, then cut: not taken up.
		{CCID: "g-cut", Started: t0, Greeted: greeted, Outcome: "cut", CutAt: kill,
			Moves: []moveResult{{Requested: kill.Add(-11 * time.Second), Opened: kill.Add(-10 * time.Second)}}},
		{CCID: "g-hung", Started: t0, Greeted: greeted, Outcome: "ended"},
		{CCID: "ng", Started: kill.Add(-3 * time.Second), Outcome: "ended"},
		// Its greeting was cut short by the kill: the agent fell quiet after it.
		{CCID: "ng-late", Started: kill.Add(-3 * time.Second), Greeted: kill.Add(time.Second), Outcome: "cut"},
		{CCID: "early", Started: t0, Greeted: greeted, Ended: kill.Add(-time.Second), Outcome: "completed"},
		{CCID: "ng-up", Started: kill.Add(-3 * time.Second), Outcome: "completed", Moves: []moveResult{taken}},
		{CCID: "g-fm", Started: t0, Greeted: greeted, Outcome: "completed", Moves: []moveResult{
			{Requested: kill.Add(time.Second), Failed: "dial: refused"}, taken}, LinesAfterMove: 4, NoReplyAfterMove: 1,
			AfterMove: []time.Duration{msd(700)}},
		// The other nodes' calls.
		{CCID: "o1", Started: t0, Outcome: "completed", Late: 2, Replies: []time.Duration{msd(400), msd(450)}},
		{CCID: "o2", Started: t0, Outcome: "cut"},
		{CCID: "o3", Started: t0, Ended: kill.Add(-5 * time.Second), Outcome: "failed"},
		{CCID: "o4", Started: kill.Add(-time.Second), Outcome: "failed", Error: "no_greeting"},
		{CCID: "o5", Started: kill.Add(time.Second), Outcome: "completed"},
	}
	victims := map[string]bool{}
	for _, id := range []string{"g-up", "g-up-lost", "g-cut", "g-hung", "ng", "ng-late", "early", "ng-up", "g-fm", "ghost"} {
		victims[id] = true
	}
	recs := map[string]record{
		"G-UP":      {Status: "ended", EndReason: "caller_hangup", Events: []recordEvent{{At: kill.Add(2 * time.Second), Kind: "recovered"}}},
		"G-UP-LOST": {Status: "ended", EndReason: "node_lost"},
		"G-CUT":     {Status: "ended", EndReason: "node_lost"},
		"G-HUNG":    {Status: "ended", EndReason: "node_lost"},
		"NG":        {Status: "ended", EndReason: "node_lost"},
		"NG-UP":     {Status: "active"},
		"G-FM":      {Status: "ended", EndReason: "caller_hangup", Events: []recordEvent{{Kind: "recovered"}}},
	}
	s := summarizeRecover(res, victims, kill, recs, strings.ToUpper)
	if s.Victims != 10 || s.EndedFirst != 1 || s.Greeted != 5 || s.NotGreeted != 3 {
		t.Errorf("victims %d, ended first %d, greeted %d, not greeted %d; want 10, 1, 5, 3", s.Victims, s.EndedFirst, s.Greeted, s.NotGreeted)
	}
	if s.TakenUp != 4 || s.NotGreetedTakenUp != 1 || s.GreetedLeft != 2 || s.CutGreeted != 1 {
		t.Errorf("taken up %d (%d not greeted), greeted left %d (%d cut); want 4 (1), 2 (1)", s.TakenUp, s.NotGreetedTakenUp, s.GreetedLeft, s.CutGreeted)
	}
	if want := []string{"g-cut", "g-hung", "ghost", "ng", "ng-late"}; !slices.Equal(s.NotTakenUp, want) {
		t.Errorf("not taken up %v, want %v", s.NotTakenUp, want)
	}
	if errorList(s.Outcomes) != "(no result)=1 completed=4 cut=2 ended=2" {
		t.Errorf("outcomes %s", errorList(s.Outcomes))
	}
	if errorList(s.EndReasons) != "(no record)=1 (not ended)=1 caller_hangup=2 node_lost=4" || s.TakenUpNodeLost != 1 || s.Recovered != 2 {
		t.Errorf("end reasons %s, taken up but node_lost %d, recovered events %d", errorList(s.EndReasons), s.TakenUpNodeLost, s.Recovered)
	}
	if s.NewStreamsFailed != 1 || s.Posts != 2 || s.PostsOK != 1 {
		t.Errorf("failed new streams %d, posts %d (%d ok)", s.NewStreamsFailed, s.Posts, s.PostsOK)
	}
	if len(s.Silence) != 4 || s.Silence[0] != 1950*time.Millisecond || len(s.KillToStream) != 4 || s.KillToStream[0] != 2*time.Second {
		t.Errorf("silence %v, kill to stream %v", s.Silence, s.KillToStream)
	}
	// Both posts came before their call's new stream.
	if len(s.PostToStream) != 2 || s.PostToStream[0] != 1940*time.Millisecond {
		t.Errorf("post to stream %v", s.PostToStream)
	}
	if !slices.Equal(s.AfterMove, []time.Duration{msd(500), msd(700)}) || s.LinesAfter != 9 || s.NoReplyAfter != 1 || s.NoReply != 1 {
		t.Errorf("after move %v, lines after %d (%d unanswered), unanswered %d", s.AfterMove, s.LinesAfter, s.NoReplyAfter, s.NoReply)
	}
	if s.Others != 2 || s.OthersFailed != 1 || s.OthersErrors["cut"] != 1 || s.OthersLate != 2 || len(s.OthersReplies) != 2 {
		t.Errorf("others %d, failed %d %v, late %d, replies %v", s.Others, s.OthersFailed, s.OthersErrors, s.OthersLate, s.OthersReplies)
	}
	if s.Later != 2 || s.LaterFailed != 1 {
		t.Errorf("later %d, failed %d", s.Later, s.LaterFailed)
	}
}

func TestRecoverWaitAndLines(t *testing.T) {
	w := recoverReopenWait(10*time.Second, 2*time.Second)
	if w != 19*time.Second {
		t.Errorf("reopen wait %v, want 19s", w)
	}
	// 30 s ramp, 20 s holds and the wait: 89 s, 17 lines of 5.5 s, and 2 more.
	if n := recoverLines(30*time.Second, 20*time.Second, w); n != 19 {
		t.Errorf("%d lines, want 19", n)
	}
	if n := recoverLines(0, 0, 0); n != 2 {
		t.Errorf("%d lines for no time, want 2", n)
	}
}

// TestFollowerPostsStreamingFailed: with lostHook, a stream the node
// closes gets one signed streaming.failed webhook, as Telnyx sends; a
// stream streaming_stop closes gets none.
func TestFollowerPostsStreamingFailed(t *testing.T) {
	tel, tctx := dispatchingTelnyx(t)
	ctx, cancel := context.WithCancel(tctx) // the follower's: the harness stops it below
	defer cancel()
	node := newFakeNode(t, tel)
	posts := make(chan map[string]any, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.VerifySignature(tel.pub, r.Header.Get("telnyx-signature-ed25519"), r.Header.Get("telnyx-timestamp"), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		var ev struct {
			Data struct {
				Type    string         `json:"event_type"`
				Payload map[string]any `json:"payload"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Data.Type != "streaming.failed" {
			t.Errorf("webhook %s: %v", body, err)
		}
		posts <- ev.Data.Payload
	}))
	defer hook.Close()
	const ccid = "v3:lost-1"
	f := testFollower(t, tel, ccid, "what are your opening hours", time.Minute)
	f.lostHook = hook.URL
	done := make(chan followResult, 1)
	go func() { done <- runFollower(ctx, f, node.srv.URL+"/webhooks/telnyx") }()

	one := node.next(t)
	_ = one.conn.Close() // the node dies
	var p map[string]any
	select {
	case p = <-posts:
	case <-time.After(10 * time.Second):
		t.Fatal("no streaming.failed for a stream the node closed")
	}
	if p["call_control_id"] != ccid || p["stream_id"] != one.id || p["call_session_id"] != "sess-"+ccid || p["failure_reason"] == "" {
		t.Errorf("payload %v", p)
	}
	// The hook got the post before it answered it; the follower records
	// the answer a moment later, and a stop (cancel, below) would cancel a
	// delivery still under way. Wait for the record.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for recorded := false; !recorded; {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the follower did not record the post's answer")
		}
		f.mu.Lock()
		recorded = len(f.res.FailedPosts) > 0
		f.mu.Unlock()
	}
	// Taken up on a new stream, which later moves on: the stream that
	// streaming_stop ends is not reported.
	for _, tok := range []string{"two", "three"} {
		if err := node.cc.StreamingStart(ctx, ccid, callcontrol.StreamingStartParams{StreamParams: callcontrol.StreamParams{StreamURL: node.streamURL(tok)},
			CommandID: "start-" + tok}); err != nil {
			t.Fatal(err)
		}
	}
	two, three := node.next(t), node.next(t)
	if err := node.cc.StreamingStop(ctx, ccid, callcontrol.StreamingStopParams{StreamID: two.id}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-two.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("streaming_stop did not close the stream")
	}
	// The call ends (the harness stops): its streams' closes are not
	// reported either.
	cancel()
	var res followResult
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower did not end")
	}
	select {
	case p := <-posts:
		t.Errorf("a second streaming.failed: %v", p)
	default:
	}
	if len(res.FailedPosts) != 1 || res.FailedPosts[0].StreamID != one.id || res.FailedPosts[0].Code != 200 || res.FailedPosts[0].Posted.Before(res.FailedPosts[0].Closed) {
		t.Errorf("posts %+v", res.FailedPosts)
	}
	if len(res.Moves) != 2 || res.Moves[0].Gap() <= 0 || three.id == "" {
		t.Errorf("moves %+v", res.Moves)
	}
}
