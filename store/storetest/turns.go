package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// withCall sets the turns' CallID, as the store reads them back.
func withCall(call store.CallID, turns ...store.Turn) []store.Turn {
	out := make([]store.Turn, len(turns))
	for i, t := range turns {
		t.CallID = call
		out[i] = t
	}
	return out
}

func testAppendTurns(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	c := a.call(t, store.Call{StartedAt: base})

	t1 := turn(1, store.SpeakerAgent, "Hello, how can I help?", at(time.Second))
	t1.Latency = &store.Latency{EndpointMs: 0, STTMs: 0, LLMFirstToken: 210, TTSFirstByteMs: 95, OverheadMs: 4}
	t2 := turn(2, store.SpeakerCaller, "My invoice is wrong.", at(4*time.Second))
	t2.Sentiment = ptr(-0.4)
	t3 := turn(3, store.SpeakerAgent, "Let me check that for", at(7*time.Second))
	t3.Interrupted = true
	t3.Latency = &store.Latency{EndpointMs: 300, STTMs: 120, LLMFirstToken: 250, TTSFirstByteMs: 80, OverheadMs: 6}

	ok(t, s.AppendTurns(ctx, a.org.ID, c.ID, []store.Turn{t1, t2}))
	same(t, "turns after one append", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Turns, withCall(c.ID, t1, t2))

	// A replay of the same batch, then an overlapping one whose old turn
	// says something else: nothing is written twice, the first write stays.
	ok(t, s.AppendTurns(ctx, a.org.ID, c.ID, []store.Turn{t1, t2}))
	changed := t2
	changed.Text = "A replay must not overwrite."
	ok(t, s.AppendTurns(ctx, a.org.ID, c.ID, []store.Turn{t3, changed}))
	ok(t, s.AppendTurns(ctx, a.org.ID, c.ID, nil))
	same(t, "turns after replays, by seq", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Turns, withCall(c.ID, t1, t2, t3))

	wantErr(t, "AppendTurns to another organization's call",
		s.AppendTurns(ctx, b.org.ID, c.ID, []store.Turn{turn(4, store.SpeakerCaller, "intruder", at(time.Minute))}), store.ErrNotFound)
	wantErr(t, "AppendTurns to an unknown call",
		s.AppendTurns(ctx, a.org.ID, "no-such-call", []store.Turn{turn(1, store.SpeakerCaller, "x", base)}), store.ErrNotFound)
	same(t, "turns after refused appends", len(must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Turns), 3)
}

func testFinishCall(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	cust := a.customer(t, "+15554440001", "Regular")
	c := a.call(t, store.Call{CustomerID: cust.ID, StartedAt: base, AnsweredAt: ptr(at(time.Second)), CallControlID: "ctl"})
	t1 := turn(1, store.SpeakerAgent, "Hello.", at(time.Second))
	t2 := turn(2, store.SpeakerCaller, "I need a human.", at(3*time.Second))
	ok(t, s.AppendTurns(ctx, a.org.ID, c.ID, []store.Turn{t1, t2}))

	t2again := t2
	t2again.Text = "replayed, must not overwrite"
	t3 := turn(3, store.SpeakerAgent, "Transferring you now.", at(5*time.Second))
	t4 := turn(4, store.SpeakerCaller, "Thanks.", at(8*time.Second))
	end := store.CallEnd{
		OrgID: a.org.ID, CallID: c.ID, EndedAt: at(90*time.Second + 500*time.Millisecond),
		Outcome: store.OutcomeEscalated, EndReason: "transfer", EscalationReason: "caller_request",
		Sentiment: &store.Sentiment{Average: -0.2, Min: -0.6, Last: 0.1, Trend: 0.05, Turns: 2},
		Turns:     []store.Turn{t2again, t3, t4},
	}
	_, err := s.FinishCall(ctx, store.CallEnd{OrgID: b.org.ID, CallID: c.ID, Outcome: store.OutcomeResolved})
	wantErr(t, "FinishCall from another organization", err, store.ErrNotFound)
	_, err = s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: "nope"})
	wantErr(t, "FinishCall of an unknown call", err, store.ErrNotFound)
	same(t, "the call after a refused finish", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Call, c)

	got := must(s.FinishCall(ctx, end)).of(t)
	want := c
	want.Status, want.EndedAt, want.Duration = store.CallEnded, ptr(end.EndedAt), 90*time.Second+500*time.Millisecond
	want.Outcome, want.EndReason, want.EscalationReason, want.Sentiment = end.Outcome, end.EndReason, end.EscalationReason, end.Sentiment
	same(t, "FinishCall", got, want)
	d := must(s.GetCall(ctx, a.org.ID, c.ID)).of(t)
	same(t, "GetCall after FinishCall", d.Call, want)
	same(t, "the transcript after FinishCall", d.Turns, withCall(c.ID, t1, t2, t3, t4))
	cu := must(s.GetCustomer(ctx, a.org.ID, cust.ID)).of(t)
	same(t, "the customer's call count", cu.CallCount, 1)
	same(t, "the customer's last call", cu.LastCallAt, ptr(end.EndedAt))

	// A replay after a lost acknowledgement, even one that says otherwise,
	// changes nothing.
	replay := end
	replay.Outcome, replay.EndedAt = store.OutcomeResolved, at(time.Hour)
	same(t, "FinishCall replayed", must(s.FinishCall(ctx, replay)).of(t), want)
	d = must(s.GetCall(ctx, a.org.ID, c.ID)).of(t)
	same(t, "the call after a replay", d.Call, want)
	same(t, "the transcript after a replay", d.Turns, withCall(c.ID, t1, t2, t3, t4))
	cu = must(s.GetCustomer(ctx, a.org.ID, cust.ID)).of(t)
	same(t, "the customer's call count after a replay", cu.CallCount, 1)
	same(t, "the customer's last call after a replay", cu.LastCallAt, ptr(end.EndedAt))

	// A second call of the same customer counts; an unknown caller's call
	// ends with no customer to count, and a zero end time is now.
	c2 := a.call(t, store.Call{CustomerID: cust.ID, StartedAt: at(time.Hour)})
	must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: c2.ID, EndedAt: at(time.Hour + time.Minute), Outcome: store.OutcomeResolved})).of(t)
	cu = must(s.GetCustomer(ctx, a.org.ID, cust.ID)).of(t)
	same(t, "the customer's call count after a second call", cu.CallCount, 2)
	same(t, "the customer's last call after a second call", cu.LastCallAt, ptr(at(time.Hour+time.Minute)))

	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	c3 := a.call(t, store.Call{StartedAt: start})
	before := time.Now()
	got = must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: c3.ID, Outcome: store.OutcomeAbandoned})).of(t)
	after := time.Now()
	if got.EndedAt == nil {
		t.Fatal("FinishCall without an end time left EndedAt nil")
	}
	between(t, "EndedAt of a finish without one", *got.EndedAt, before, after)
	same(t, "Duration is EndedAt - StartedAt", got.Duration, got.EndedAt.Sub(start))
	same(t, "status", got.Status, store.CallEnded)
	_, err = s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: c2.ID, Outcome: "won"})
	wantErr(t, "FinishCall with an unknown outcome", err, store.ErrInvalid)
}

func testFinishCallConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	cust := a.customer(t, "+15554440002", "Popular")
	c := a.call(t, store.Call{CustomerID: cust.ID, StartedAt: base})
	end := store.CallEnd{OrgID: a.org.ID, CallID: c.ID, EndedAt: at(time.Minute), Outcome: store.OutcomeResolved,
		Turns: []store.Turn{turn(1, store.SpeakerCaller, "bye", at(30*time.Second))}}
	const n = 8
	var (
		wg    sync.WaitGroup
		calls [n]store.Call
		errs  [n]error
	)
	for i := range n {
		wg.Go(func() { calls[i], errs[i] = s.FinishCall(ctx, end) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("finish %d: %v", i, errs[i])
		}
		same(t, "every concurrent finish returns the ended call", calls[i], calls[0])
	}
	same(t, "the customer's call count", must(s.GetCustomer(ctx, a.org.ID, cust.ID)).of(t).CallCount, 1)
	same(t, "the transcript", len(must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Turns), 1)
}

func testSearchTranscripts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	c1 := a.call(t, store.Call{ID: "call-a", StartedAt: base})
	c2 := a.call(t, store.Call{ID: "call-b", StartedAt: base})
	cb := b.call(t, store.Call{ID: "call-z", StartedAt: base})
	a1 := turn(1, store.SpeakerCaller, "I want a REFUND for my order.", at(time.Second))
	a2 := turn(2, store.SpeakerAgent, "Sure, I can refund that order.", at(3*time.Second))
	a3 := turn(3, store.SpeakerCaller, "The refunded amount was wrong.", at(5*time.Second))
	b1 := turn(1, store.SpeakerCaller, "Refund, please!", at(3*time.Second))
	b2 := turn(2, store.SpeakerAgent, "What is your order number?", at(4*time.Second))
	ok(t, s.AppendTurns(ctx, a.org.ID, c1.ID, []store.Turn{a1, a2, a3}))
	ok(t, s.AppendTurns(ctx, a.org.ID, c2.ID, []store.Turn{b1, b2}))
	ok(t, s.AppendTurns(ctx, b.org.ID, cb.ID, []store.Turn{turn(1, store.SpeakerCaller, "refund my order", at(time.Hour))}))

	hit := func(call store.CallID, tn store.Turn) store.TranscriptHit {
		tn.CallID = call
		return store.TranscriptHit{CallID: call, Turn: tn}
	}
	search := func(words string) []store.TranscriptHit {
		t.Helper()
		got, next, err := s.SearchTranscripts(ctx, a.org.ID, words, store.Page{})
		if err != nil {
			t.Fatalf("search %q: %v", words, err)
		}
		if next != "" {
			t.Errorf("search %q: a next cursor on the only page", words)
		}
		return got
	}
	// Newest turn first; equal times by call id, then seq.
	refund := []store.TranscriptHit{hit(c1.ID, a2), hit(c2.ID, b1), hit(c1.ID, a1)}
	same(t, "one word, any case, whole words only", search("refund"), refund)
	same(t, "in capitals", search("REFUND"), refund)
	same(t, "every word, in any order", search("order Refund"), []store.TranscriptHit{hit(c1.ID, a2), hit(c1.ID, a1)})
	same(t, "no stemming", search("refunded"), []store.TranscriptHit{hit(c1.ID, a3)})
	same(t, "part of a word is no match", len(search("efun")), 0)
	same(t, "a word no turn has", len(search("refund invoice")), 0)

	all, pages := pageAll(t, 1, func(p store.Page) ([]store.TranscriptHit, string, error) {
		return s.SearchTranscripts(ctx, a.org.ID, "refund", p)
	})
	same(t, "pages of one", all, refund)
	same(t, "page count", pages, 3)
}
