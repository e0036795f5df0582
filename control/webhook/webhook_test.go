package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestIncomingCallIsRecordedAnsweredAndFollowed(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t), nil)
			e.start()
			const ccid = "v3:call-one"
			id := webhook.CallIDFor(ccid)
			e.send(ev{id: "ev-1", typ: webhook.TypeCallInitiated, ccid: ccid})
			e.send(ev{id: "ev-2", typ: webhook.TypeCallAnswered, ccid: ccid, clientState: csOf("org-a", ccid)})
			e.send(ev{id: "ev-3", typ: webhook.TypeStreamingStarted, ccid: ccid, clientState: csOf("org-a", ccid)})
			e.stop()

			answers := e.commands("answer")
			if len(answers) != 1 {
				t.Fatalf("%d answers, want 1", len(answers))
			}
			a := answers[0]
			if a.CallControlID != ccid || a.CommandID != "answer-ev-1" {
				t.Errorf("answer of %q with command_id %q", a.CallControlID, a.CommandID)
			}
			for field, want := range map[string]string{
				"stream_track": "inbound_track", "stream_bidirectional_mode": "rtp",
				"stream_bidirectional_codec": "PCMU", "stream_bidirectional_target_legs": "self",
				"client_state": b64([]byte("org-a/" + string(id))),
			} {
				if got := a.Body[field]; got != want {
					t.Errorf("answer %s = %v, want %s", field, got, want)
				}
			}
			su, _ := a.Body["stream_url"].(string)
			u, err := url.Parse(su)
			if err != nil || u.Scheme != "wss" || u.Host != "iace.example.com" || u.Path != "/media/telnyx" {
				t.Fatalf("stream_url %q", su)
			}
			claims, err := telnyx.Verify(secret, u.Query().Get("token"), time.Now())
			if err != nil {
				t.Fatalf("the stream token does not verify: %v", err)
			}
			if claims.CallID != string(id) || claims.OrgID != "org-a" || claims.AgentID != "sales" || claims.CallControlID != ccid {
				t.Errorf("token claims %+v", claims)
			}
			if ttl := time.Until(claims.Expiry); ttl <= 0 || ttl > 2*time.Minute {
				t.Errorf("token lives %v, want at most 2 minutes", ttl)
			}

			call := e.call("org-a", ccid)
			if call.Status != store.CallActive || call.AnsweredAt == nil || call.AgentID != "sales" ||
				call.CallControlID != ccid || call.CallSessionID != "sess-"+ccid || call.From != caller || call.To != salesNumber {
				t.Errorf("call row %+v", call)
			}
			if _, err := e.st.GetCall(t.Context(), "org-b", id); err == nil {
				t.Error("another organization sees the call")
			}

			// The hang-up ends the live session, which writes the record.
			e.live.setLive(id)
			e.start()
			e.send(ev{id: "ev-4", typ: webhook.TypeCallHangup, ccid: ccid, clientState: csOf("org-a", ccid)})
			e.stop()
			if r := e.live.endedWith(id); r != session.EndHangup {
				t.Errorf("session ended with %q, want hangup", r)
			}
		})
	}
}

func TestRequestsThatAreNotTelnyxsAreRefused(t *testing.T) {
	e := newEnv(t, embeddedStore(t), nil)
	e.start()
	body := ev{id: "ev-x", typ: webhook.TypeCallInitiated, ccid: "v3:x"}.body()
	now := time.Now()
	sign := func(ts string, b []byte) []byte {
		return ed25519Sign(e, ts, b)
	}
	ts := func(t time.Time) string { return itoa(t.Unix()) }
	tampered := bytes.Replace(body, []byte(salesNumber), []byte("+15559870003"), 1)
	tests := []struct {
		name string
		code int
		do   func() int
	}{
		{"a bad signature is 401", http.StatusUnauthorized, func() int { return e.postRaw(body, ts(now), make([]byte, 64)) }},
		{"a tampered body is 401", http.StatusUnauthorized, func() int { return e.postRaw(tampered, ts(now), sign(ts(now), body)) }},
		{"a signature over another timestamp is 401", http.StatusUnauthorized, func() int { return e.postRaw(body, ts(now), sign(ts(now.Add(time.Second)), body)) }},
		{"no signature is 401", http.StatusUnauthorized, func() int { return e.postRaw(body, ts(now), nil) }},
		// 10 s past the 300 s window: the handler reads the real clock, and
		// a loaded machine may take seconds between now and the request.
		{"a timestamp 310 s old is 401", http.StatusUnauthorized, func() int { return e.post(body, now.Add(-310*time.Second)) }},
		{"a timestamp 310 s ahead is 401", http.StatusUnauthorized, func() int { return e.post(body, now.Add(310*time.Second)) }},
		{"a body over 64 KiB is 413", http.StatusRequestEntityTooLarge, func() int { return e.post(append(body, bytes.Repeat([]byte(" "), 64<<10)...), now) }},
		{"a signed body that is not an event is 400", http.StatusBadRequest, func() int { return e.post([]byte(`{"data":{}}`), now) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.do(); got != tt.code {
				t.Errorf("status %d, want %d", got, tt.code)
			}
		})
	}
	e.stop()
	if n := len(e.fake.Commands()); n != 0 {
		t.Errorf("%d Call Control commands from refused requests", n)
	}
	if got := metricValue(t, e, "other", "bad_signature"); got != 4 {
		t.Errorf("bad_signature count %v, want 4", got)
	}
	if got := metricValue(t, e, "other", "stale"); got != 2 {
		t.Errorf("stale count %v, want 2", got)
	}
}

func TestReplayedEventHasNoSecondEffect(t *testing.T) {
	e := newEnv(t, embeddedStore(t), nil)
	e.start()
	v := ev{id: "ev-dup", typ: webhook.TypeCallInitiated, ccid: "v3:dup"}
	e.send(v)
	e.send(v)
	e.stop()
	e.start()
	e.send(v) // later, after processing: still a duplicate
	e.stop()
	if n := len(e.fake.Commands()); n != 1 {
		t.Errorf("%d commands reached Telnyx, want one answer", n)
	}
	if got := metricValue(t, e, webhook.TypeCallInitiated, "duplicate"); got != 2 {
		t.Errorf("duplicates counted %v, want 2", got)
	}
}

func TestHangupBeforeAnsweredFinishesTheCallAsAbandoned(t *testing.T) {
	e := newEnv(t, embeddedStore(t), nil)
	e.start()
	const ccid = "v3:early-hangup"
	e.send(ev{id: "ev-1", typ: webhook.TypeCallInitiated, ccid: ccid})
	// Telnyx delivers the hang-up before the answered event.
	e.send(ev{id: "ev-3", typ: webhook.TypeCallHangup, ccid: ccid, clientState: csOf("org-a", ccid)})
	e.send(ev{id: "ev-2", typ: webhook.TypeCallAnswered, ccid: ccid, clientState: csOf("org-a", ccid)})
	e.stop()
	call := e.call("org-a", ccid)
	if call.Status != store.CallEnded || call.Outcome != store.OutcomeAbandoned || call.EndedAt == nil {
		t.Errorf("call %+v: want ended, abandoned, and not reopened by the late answered event", call)
	}
}

func TestHangupBeforeInitiatedIsNotAnswered(t *testing.T) {
	e := newEnv(t, embeddedStore(t), nil)
	e.start()
	const ccid = "v3:gone-before-initiated"
	e.fake.EndCall(ccid) // Telnyx: the call is over
	e.send(ev{id: "ev-2", typ: webhook.TypeCallHangup, ccid: ccid})
	e.send(ev{id: "ev-1", typ: webhook.TypeCallInitiated, ccid: ccid})
	e.stop()
	call := e.call("org-a", ccid)
	if call.Status != store.CallEnded || call.Outcome != store.OutcomeAbandoned {
		t.Errorf("call %+v: want ended and abandoned", call)
	}
	if n := len(e.commands("answer")); n != 0 {
		t.Errorf("%d answers took effect on an ended call", n)
	}
}

func TestUnknownNumbers(t *testing.T) {
	t.Run("with the reject policy the call is hung up and not recorded", func(t *testing.T) {
		e := newEnv(t, embeddedStore(t), nil)
		e.start()
		const ccid = "v3:unknown"
		e.send(ev{id: "ev-u", typ: webhook.TypeCallInitiated, ccid: ccid, to: unknownNumber})
		e.send(ev{id: "ev-u2", typ: webhook.TypeCallHangup, ccid: ccid, to: unknownNumber})
		e.stop()
		hangups := e.commands("hangup")
		if len(hangups) != 1 || hangups[0].CallControlID != ccid || len(e.commands("answer")) != 0 {
			t.Errorf("commands %+v: want one hangup and no answer", e.fake.Commands())
		}
		for _, org := range []store.OrgID{"org-a", "org-b"} {
			if _, err := e.st.GetCall(t.Context(), org, webhook.CallIDFor(ccid)); err == nil {
				t.Errorf("%s has a record of the rejected call", org)
			}
		}
	})
	t.Run("with the default policy the default agent answers", func(t *testing.T) {
		e := newEnv(t, embeddedStore(t), func(c *webhook.Config) {
			c.UnknownNumber, c.DefaultOrg, c.DefaultAgent = webhook.UnknownDefault, "org-b", "fallback"
		})
		e.start()
		const ccid = "v3:unknown-default"
		e.send(ev{id: "ev-d", typ: webhook.TypeCallInitiated, ccid: ccid, to: unknownNumber})
		e.stop()
		answers := e.commands("answer")
		if len(answers) != 1 {
			t.Fatalf("%d answers, want 1", len(answers))
		}
		u, _ := url.Parse(answers[0].Body["stream_url"].(string))
		claims, err := telnyx.Verify(secret, u.Query().Get("token"), time.Now())
		if err != nil || claims.OrgID != "org-b" || claims.AgentID != "fallback" {
			t.Errorf("claims %+v (%v): want org-b's fallback agent", claims, err)
		}
		if call := e.call("org-b", ccid); call.AgentID != "fallback" || call.Status != store.CallRinging {
			t.Errorf("call %+v", call)
		}
	})
}

func TestDTMFZeroTransfersWhenTheAgentSaysSo(t *testing.T) {
	e := newEnv(t, embeddedStore(t), nil)
	e.start()
	const ccid = "v3:dtmf"
	id := webhook.CallIDFor(ccid)
	e.send(ev{id: "ev-1", typ: webhook.TypeCallInitiated, ccid: ccid})
	e.stop()
	e.live.setLive(id)
	e.start()
	e.send(ev{id: "ev-5", typ: webhook.TypeCallDTMF, ccid: ccid, digit: "5", clientState: csOf("org-a", ccid)})
	e.stop()
	if r := e.live.endedWith(id); r != "" {
		t.Fatalf("digit 5 ended the call with %q", r)
	}
	e.start()
	e.send(ev{id: "ev-0", typ: webhook.TypeCallDTMF, ccid: ccid, digit: "0", clientState: csOf("org-a", ccid)})
	e.stop()
	if r := e.live.endedWith(id); r != session.EndTransfer {
		t.Errorf("digit 0: session ended with %q, want transfer", r)
	}
	e.live.mu.Lock()
	defer e.live.mu.Unlock()
	if r := e.live.escalated[id]; r != store.EscalationDTMF {
		t.Errorf("digit 0: escalation reason %q, want dtmf", r)
	}
}

func TestFullQueueIs503AndTheRetryIsProcessed(t *testing.T) {
	e := newEnv(t, embeddedStore(t), func(c *webhook.Config) { c.Workers, c.QueueDepth = 1, 1 })
	first := ev{id: "ev-a", typ: webhook.TypeCallInitiated, ccid: "v3:a"}
	second := ev{id: "ev-b", typ: webhook.TypeCallInitiated, ccid: "v3:b"}
	e.send(first) // queued; no worker runs yet
	if code := e.post(second.body(), time.Now()); code != http.StatusServiceUnavailable {
		t.Fatalf("second event on a full queue: status %d, want 503", code)
	}
	e.start()
	e.stop()
	e.start()
	e.send(second) // Telnyx's retry: not taken for a duplicate
	e.stop()
	if n := len(e.commands("answer")); n != 2 {
		t.Errorf("%d answers, want 2", n)
	}
}

func TestStreamingFailedHangsUpAndFinishesTheCall(t *testing.T) {
	e := newEnv(t, embeddedStore(t), nil)
	e.start()
	const ccid = "v3:stream-failed"
	e.send(ev{id: "ev-1", typ: webhook.TypeCallInitiated, ccid: ccid})
	e.send(ev{id: "ev-2", typ: webhook.TypeStreamingFailed, ccid: ccid, clientState: csOf("org-a", ccid)})
	e.stop()
	if n := len(e.commands("hangup")); n != 1 {
		t.Errorf("%d hangups, want 1", n)
	}
	if call := e.call("org-a", ccid); call.Status != store.CallEnded || call.Outcome != store.OutcomeFailed {
		t.Errorf("call %+v: want ended and failed", call)
	}
}

// recoverer plays a cluster node that takes up the calls of lost nodes:
// it takes up the streams in lost.
type recoverer struct {
	mu    sync.Mutex
	lost  map[string]bool
	asked []string // call id/stream id
}

func (r *recoverer) RecoverStream(_ context.Context, id session.CallID, streamID string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, string(id)+"/"+streamID)
	return r.lost[streamID], nil
}

// TestALostNodesStreamIsTakenUpNotHungUp: with a Recoverer, a stream's
// failure or stop is first offered to it. A stream of a lost node's call,
// taken up, neither hangs the call up nor finishes its record; any other
// failed stream ends its call as before, and a stopped one is left alone.
func TestALostNodesStreamIsTakenUpNotHungUp(t *testing.T) {
	rec := &recoverer{lost: map[string]bool{"s-lost": true, "s-lost-2": true}}
	e := newEnvWith(t, embeddedStore(t), nil, func(d *webhook.Deps) { d.Recover = rec })
	e.start()
	const lost, lost2, failed = "v3:lost", "v3:lost-2", "v3:failed"
	for i, c := range []string{lost, lost2, failed} {
		e.send(ev{id: fmt.Sprint("ev-i", i), typ: webhook.TypeCallInitiated, ccid: c})
	}
	e.send(ev{id: "ev-f1", typ: webhook.TypeStreamingFailed, ccid: lost, clientState: csOf("org-a", lost), stream: "s-lost"})
	e.send(ev{id: "ev-s2", typ: webhook.TypeStreamingStopped, ccid: lost2, clientState: csOf("org-a", lost2), stream: "s-lost-2"})
	e.send(ev{id: "ev-f3", typ: webhook.TypeStreamingFailed, ccid: failed, clientState: csOf("org-a", failed), stream: "s-failed"})
	e.stop()
	rec.mu.Lock()
	asked := slices.Clone(rec.asked)
	rec.mu.Unlock()
	want := []string{string(webhook.CallIDFor(lost)) + "/s-lost", string(webhook.CallIDFor(lost2)) + "/s-lost-2", string(webhook.CallIDFor(failed)) + "/s-failed"}
	slices.Sort(asked)
	slices.Sort(want)
	if !slices.Equal(asked, want) {
		t.Errorf("offered %q, want %q", asked, want)
	}
	for _, hung := range e.commands("hangup") {
		if hung.CallControlID != failed {
			t.Errorf("%s was hung up", hung.CallControlID)
		}
	}
	if n := len(e.commands("hangup")); n != 1 {
		t.Errorf("%d hang-ups, want the failed stream's call's", n)
	}
	for _, c := range []string{lost, lost2} {
		if call := e.call("org-a", c); call.Status == store.CallEnded {
			t.Errorf("the call taken up, %s, was finished: %+v", c, call)
		}
	}
}

// TestAStreamTakenUpMeanwhileIsNotHungUp: a lost node's call may be
// taken up by another path (the restarted node, the reaper) while the
// webhook's own attempt waits for it and gives up. The failed stream is
// then no longer the call's, and the call on its new stream goes on.
func TestAStreamTakenUpMeanwhileIsNotHungUp(t *testing.T) {
	const ccid = "v3:taken-meanwhile"
	id := webhook.CallIDFor(ccid)
	var live *liveCalls
	rec := &movingRecoverer{move: func() { live.setStream(id, "s-new") }}
	e := newEnvWith(t, embeddedStore(t), nil, func(d *webhook.Deps) { d.Recover = rec })
	live = e.live
	e.start()
	e.send(ev{id: "ev-1", typ: webhook.TypeCallInitiated, ccid: ccid})
	live.setStream(id, "s-old")
	e.send(ev{id: "ev-2", typ: webhook.TypeStreamingFailed, ccid: ccid, clientState: csOf("org-a", ccid), stream: "s-old"})
	e.stop()
	if r := live.endedWith(id); r != "" {
		t.Errorf("the call on its new stream was ended: %s", r)
	}
	if n := len(e.commands("hangup")); n != 0 {
		t.Errorf("%d hang-ups, want none", n)
	}
	if call := e.call("org-a", ccid); call.Status == store.CallEnded {
		t.Errorf("the call was finished: %+v", call)
	}
}

// movingRecoverer takes up no stream itself, but another path moves the
// call to a new stream while it is asked (move).
type movingRecoverer struct{ move func() }

func (r *movingRecoverer) RecoverStream(context.Context, session.CallID, string) (bool, error) {
	r.move()
	return false, nil
}

// unreachableCalls is the store as its callers see it while the database
// cannot be reached: CreateCall fails with store.ErrUnavailable (the
// error the store's contract gives then) while down is set.
type unreachableCalls struct {
	webhook.Calls
	down *atomic.Bool
}

func (u unreachableCalls) CreateCall(ctx context.Context, c store.Call) (store.Call, error) {
	if u.down.Load() {
		return store.Call{}, fmt.Errorf("create call: %w: connection refused", store.ErrUnavailable)
	}
	return u.Calls.CreateCall(ctx, c)
}

// TestEventsWhileTheStoreIsDownAreRefusedSoTelnyxRetries: the first event
// that finds the store unreachable fails (it was answered 200 already) and
// tells the node, which from then refuses events with 503, not taken for
// seen, until the store answers again: Telnyx's retry then answers the
// call.
func TestEventsWhileTheStoreIsDownAreRefusedSoTelnyxRetries(t *testing.T) {
	var unreachable, known atomic.Bool
	unreachable.Store(true)
	st := embeddedStore(t)
	e := newEnvWith(t, st, nil, func(d *webhook.Deps) {
		d.Calls = unreachableCalls{Calls: st, down: &unreachable}
		d.Ready = func() error {
			if known.Load() {
				return errors.New("store unreachable")
			}
			return nil
		}
		d.StoreDown = func(error) { known.Store(true) }
	})
	first := ev{id: "ev-first", typ: webhook.TypeCallInitiated, ccid: "v3:first"}
	call := ev{id: "ev-down", typ: webhook.TypeCallInitiated, ccid: "v3:down"}
	e.start()
	e.send(first) // taken, then fails on the store
	e.stop()
	if !known.Load() {
		t.Fatal("the store's failure was not reported")
	}
	e.start()
	if code := e.post(call.body(), time.Now()); code != http.StatusServiceUnavailable {
		t.Fatalf("an event while the store is down: status %d, want 503", code)
	}
	unreachable.Store(false)
	known.Store(false) // the next check reaches the store
	e.send(call)       // Telnyx's retry: not taken for a duplicate
	e.stop()
	if n := len(e.commands("answer")); n != 1 {
		t.Errorf("%d answers, want 1 (the retried call)", n)
	}
}
