package session

import (
	"errors"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// drain reads what a subscription holds now; publishing is synchronous,
// so what was published is there.
func drain(s *Subscription) []LiveEvent {
	var out []LiveEvent
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func kinds(evs []LiveEvent) []LiveKind {
	out := make([]LiveKind, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind
	}
	return out
}

func closed(s *Subscription) bool {
	select {
	case _, ok := <-s.Events():
		return !ok
	default:
		return false
	}
}

// TestPublishingCostsNoAllocation: with nobody listening an event is not
// even built; with a subscriber it is copied into its buffer.
func TestPublishingCostsNoAllocation(t *testing.T) {
	f := newFeed(NewMetrics(nil), false)
	publish := func() {
		if f.listening() {
			f.publish(LiveEvent{Kind: LiveTranscript, CallID: "c", OrgID: "o", Text: "hello", Final: true})
		}
	}
	if n := testing.AllocsPerRun(1000, publish); n != 0 {
		t.Errorf("%v allocations per event with nobody listening", n)
	}
	sub, err := f.subscribe("o", 4096, ErrCallNotLive, func() LiveEvent { return LiveEvent{} })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if n := testing.AllocsPerRun(1000, publish); n != 0 {
		t.Errorf("%v allocations per event with a subscriber", n)
	}
	if got := len(drain(sub)); got != 1+1001 {
		t.Errorf("the subscriber got %d events, want the snapshot and 1001", got)
	}
}

// TestASlowSubscriberIsDroppedWithAFinalEvent: past half its buffer a
// subscriber skips interim transcripts; with its buffer full it is dropped,
// its last event saying why, and the others go on.
func TestASlowSubscriberIsDroppedWithAFinalEvent(t *testing.T) {
	m := NewMetrics(nil)
	f := newFeed(m, false)
	snap := func() LiveEvent { return LiveEvent{} }
	slow, err := f.subscribe("o", 4, ErrCallNotLive, snap)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := f.subscribe("o", 64, ErrCallNotLive, snap)
	if err != nil {
		t.Fatal(err)
	}
	interim := LiveEvent{Kind: LiveTranscript, OrgID: "o", Text: "what"}
	for _, ev := range []LiveEvent{interim, interim, interim, // the third finds slow more than half full
		{Kind: LiveTranscript, OrgID: "o", Text: "what are your hours", Final: true}, // fills it
		{Kind: LiveState, OrgID: "o", State: StateThinking},                          // finds it full
		{Kind: LiveState, OrgID: "o", State: StateSpeaking}} {
		f.publish(ev)
	}
	got := drain(slow)
	want := []LiveKind{LiveSnapshot, LiveTranscript, LiveTranscript, LiveTranscript, LiveDropped}
	if !equalKinds(kinds(got), want) || !got[3].Final || got[4].Reason != DroppedSlow {
		t.Fatalf("the slow subscriber got %v, want %v ending with dropped (slow)", got, want)
	}
	if got[4].Seq != 5 {
		t.Errorf("the dropped event has seq %d, want 5: the event it could not take", got[4].Seq)
	}
	if all := drain(fast); len(all) != 7 || all[6].Seq != 6 || all[6].State != StateSpeaking {
		t.Errorf("the other subscriber got %v, want every event", all)
	}
	if v := testutil.ToFloat64(m.liveSubscribersDropped); v != 1 {
		t.Errorf("%v subscribers dropped, want 1", v)
	}
	if v := testutil.ToFloat64(m.liveEventsDropped); v != 2 {
		t.Errorf("%v events dropped, want 2 (a skipped interim, the one that found the buffer full)", v)
	}
	if v := testutil.ToFloat64(m.liveSubscribers); v != 1 {
		t.Errorf("%v subscribers open, want 1", v)
	}
	slow.Close() // already dropped: nothing happens
	fast.Close()
	fast.Close()
	if v := testutil.ToFloat64(m.liveSubscribers); v != 0 || f.listening() {
		t.Errorf("%v subscribers open after Close, want 0", v)
	}
}

func equalKinds(a, b []LiveKind) bool { return slices.Equal(a, b) }

// TestTheLiveListIsScopedToItsOrganization: an organization's live list
// sees its calls start and end and nothing of another's; a call's
// subscription is refused to another organization; the live lists end
// when the engine has drained.
func TestTheLiveListIsScopedToItsOrganization(t *testing.T) {
	r := newRegistry(NewMetrics(nil))
	a, err := r.subscribeLive("org-a", 16)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.subscribeLive("org-b", 16)
	if err != nil {
		t.Fatal(err)
	}
	r.add(nil, CallInfo{ID: "call-1", OrgID: "org-a"})
	if _, err := r.subscribeCall("org-b", "call-1", 16); !errors.Is(err, ErrCallNotLive) {
		t.Errorf("another organization subscribed to the call: %v", err)
	}
	if _, err := r.subscribeCall("org-a", "call-2", 16); !errors.Is(err, ErrCallNotLive) {
		t.Errorf("subscribed to an unknown call: %v", err)
	}
	call, err := r.subscribeCall("org-a", "call-1", 16)
	if err != nil {
		t.Fatal(err)
	}
	late, err := r.subscribeLive("org-a", 16) // its snapshot holds the call
	if err != nil {
		t.Fatal(err)
	}
	r.remove("call-1", EndHangup)

	got := drain(a)
	if !equalKinds(kinds(got), []LiveKind{LiveSnapshot, LiveStarted, LiveEnded}) || len(got[0].Calls) != 0 ||
		got[1].Call == nil || got[1].Call.ID != "call-1" || got[2].Reason != string(EndHangup) {
		t.Errorf("org-a's live list got %+v", got)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Errorf("live list event %d has seq %d: each subscriber numbers its own", i, ev.Seq)
		}
	}
	if got := drain(late); len(got) != 2 || len(got[0].Calls) != 1 || got[1].Kind != LiveEnded {
		t.Errorf("a later subscriber got %+v, want a snapshot with the call, then its end", got)
	}
	if got := drain(b); !equalKinds(kinds(got), []LiveKind{LiveSnapshot}) {
		t.Errorf("org-b's live list got %+v: another organization's call", got)
	}
	if got := drain(call); !equalKinds(kinds(got), []LiveKind{LiveSnapshot, LiveEnded}) || !closed(call) {
		t.Errorf("the call's subscriber got %v and its channel is not closed", kinds(got))
	}
	if _, err := r.subscribeCall("org-a", "call-1", 16); !errors.Is(err, ErrCallNotLive) {
		t.Errorf("subscribed to an ended call: %v", err)
	}

	r.endLive()
	for _, s := range []*Subscription{a, b, late} {
		if got := drain(s); len(got) != 1 || got[0].Kind != LiveDropped || got[0].Reason != DroppedDraining || !closed(s) {
			t.Errorf("after the drain a live list got %+v", got)
		}
	}
	if _, err := r.subscribeLive("org-a", 16); !errors.Is(err, ErrDraining) {
		t.Errorf("subscribed to a drained live list: %v", err)
	}
}

// TestSubscribersAreCapped: a call takes a bounded number of subscribers.
func TestSubscribersAreCapped(t *testing.T) {
	r := newRegistry(NewMetrics(nil))
	r.add(nil, CallInfo{ID: "call-1", OrgID: "org-a"})
	var subs []*Subscription
	for range MaxCallSubscribers {
		s, err := r.subscribeCall("org-a", "call-1", 4)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if _, err := r.subscribeCall("org-a", "call-1", 4); !errors.Is(err, ErrTooManySubscribers) {
		t.Fatalf("subscriber %d: %v, want ErrTooManySubscribers", MaxCallSubscribers+1, err)
	}
	subs[0].Close()
	if s, err := r.subscribeCall("org-a", "call-1", 4); err != nil {
		t.Fatalf("after one left: %v", err)
	} else {
		s.Close()
	}
	r.remove("call-1", EndHangup)
}
