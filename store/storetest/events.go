package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// testCallEvents checks a call's events: FinishCall writes them once, GetCall
// reads them back in the order given (times in UTC at microseconds), within
// the organization only, and the caps are ErrInvalid.
func testCallEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	c := a.call(t, store.Call{StartedAt: base})

	// Sent with nanoseconds in another zone; two events share a time and
	// keep the order given.
	cet := time.FixedZone("CET", 3600)
	sent := []store.CallEvent{
		{At: at(time.Second + 123456789).In(cet), Kind: "greeting"},
		{At: at(4 * time.Second).In(cet), Kind: "caller_turn"},
		{At: at(5*time.Second + 999), Kind: "barge_in"},
		{At: at(5*time.Second + 999), Kind: "caller_turn"},
		{At: at(6 * time.Second), Kind: "dtmf", Detail: "0"},
		{At: at(7 * time.Second), Kind: "transfer_requested"},
	}
	want := make([]store.CallEvent, len(sent))
	for i, e := range sent {
		e.At = e.At.UTC().Truncate(time.Microsecond)
		want[i] = e
	}
	end := store.CallEnd{OrgID: a.org.ID, CallID: c.ID, EndedAt: at(time.Minute), Outcome: store.OutcomeEscalated,
		EndReason: "transfer", Events: sent}

	same(t, "a call's events before it ends", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Events, []store.CallEvent(nil))
	other := end
	other.OrgID = b.org.ID
	_, err := s.FinishCall(ctx, other)
	wantErr(t, "FinishCall with events from another organization", err, store.ErrNotFound)
	same(t, "events after another organization's finish", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Events, []store.CallEvent(nil))

	ended := must(s.FinishCall(ctx, end)).of(t)
	same(t, "the caller's events after FinishCall", sent[0].At.Location(), cet)
	d := must(s.GetCall(ctx, a.org.ID, c.ID)).of(t)
	same(t, "GetCall's events", d.Events, want)
	same(t, "GetCall's call", d.Call, ended)
	_, err = s.GetCall(ctx, b.org.ID, c.ID)
	wantErr(t, "GetCall of another organization's call with events", err, store.ErrNotFound)

	// A replay that says otherwise changes nothing.
	replay := end
	replay.Events = []store.CallEvent{{At: at(time.Hour), Kind: "holding_phrase", Detail: "chat model"}}
	same(t, "FinishCall replayed with other events", must(s.FinishCall(ctx, replay)).of(t), ended)
	same(t, "events after a replay", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Events, want)

	// A call ended first without events (a hang-up webhook) takes the
	// session's events once, and stays as it was ended.
	hung := a.call(t, store.Call{StartedAt: at(time.Hour)})
	hungEnded := must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: hung.ID, EndedAt: at(time.Hour + time.Minute),
		Outcome: store.OutcomeAbandoned, EndReason: "hangup"})).of(t)
	same(t, "events of a call ended without any", must(s.GetCall(ctx, a.org.ID, hung.ID)).of(t).Events, []store.CallEvent(nil))
	late := []store.CallEvent{{At: at(time.Hour + time.Second), Kind: "greeting"}}
	lateEnd := store.CallEnd{OrgID: a.org.ID, CallID: hung.ID, EndedAt: at(time.Hour + 2*time.Minute), Outcome: store.OutcomeResolved,
		EndReason: "hangup", Events: late}
	same(t, "FinishCall with events of a call already ended", must(s.FinishCall(ctx, lateEnd)).of(t), hungEnded)
	d = must(s.GetCall(ctx, a.org.ID, hung.ID)).of(t)
	same(t, "the call ended first, after the session's finish", d.Call, hungEnded)
	same(t, "events of a call ended first", d.Events, late)
	lateEnd.Events = want
	must(s.FinishCall(ctx, lateEnd)).of(t)
	same(t, "events of a call ended first, after a replay", must(s.GetCall(ctx, a.org.ID, hung.ID)).of(t).Events, late)

	// The caps: as many events as a call keeps, the longest detail; one
	// more of either is ErrInvalid and writes nothing.
	full := make([]store.CallEvent, store.MaxCallEvents)
	for i := range full {
		full[i] = store.CallEvent{At: at(time.Duration(i) * time.Second), Kind: "caller_turn"}
	}
	full[len(full)-1] = store.CallEvent{At: at(time.Hour), Kind: strings.Repeat("k", store.MaxEventKindLen),
		Detail: strings.Repeat("d", store.MaxEventDetailLen)}
	big := a.call(t, store.Call{StartedAt: base})
	tooMany := store.CallEnd{OrgID: a.org.ID, CallID: big.ID, EndedAt: at(time.Hour), Outcome: store.OutcomeResolved,
		Events: append(full[:len(full):len(full)], store.CallEvent{At: at(2 * time.Hour), Kind: "dtmf", Detail: "1"})}
	_, err = s.FinishCall(ctx, tooMany)
	wantErr(t, "FinishCall with more events than a call keeps", err, store.ErrInvalid)
	long := tooMany
	long.Events = []store.CallEvent{{At: at(time.Second), Kind: "holding_phrase", Detail: strings.Repeat("d", store.MaxEventDetailLen+1)}}
	_, err = s.FinishCall(ctx, long)
	wantErr(t, "FinishCall with an event detail too long", err, store.ErrInvalid)
	for what, ev := range map[string]store.CallEvent{
		"without a kind": {At: at(time.Second)},
		"without a time": {Kind: "greeting"},
		"kind too long":  {At: at(time.Second), Kind: strings.Repeat("k", store.MaxEventKindLen+1)},
	} {
		bad := tooMany
		bad.Events = []store.CallEvent{ev}
		_, err = s.FinishCall(ctx, bad)
		wantErr(t, "FinishCall with an event "+what, err, store.ErrInvalid)
	}
	d = must(s.GetCall(ctx, a.org.ID, big.ID)).of(t)
	same(t, "the call after refused finishes", d.Call, big)
	same(t, "its events after refused finishes", d.Events, []store.CallEvent(nil))

	atCaps := tooMany
	atCaps.Events = full
	must(s.FinishCall(ctx, atCaps)).of(t)
	same(t, "events at the caps", must(s.GetCall(ctx, a.org.ID, big.ID)).of(t).Events, full)
}
