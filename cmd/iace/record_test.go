package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

func TestCallSentimentIsScoredPerCallerTurn(t *testing.T) {
	turns := []store.Turn{
		{Speaker: store.SpeakerAgent, Text: "Hello, how can I help?"},
		{Speaker: store.SpeakerCaller, Text: "This is terrible, my order never arrived and I am angry."},
		{Speaker: store.SpeakerAgent, Text: "I am sorry, let me check."},
		{Speaker: store.SpeakerCaller, Text: "Great, thank you so much, that is wonderful."},
	}
	s := scoreSentiment(t.Context(), local.NewLexiconSentiment(), turns)
	if s == nil || s.Turns != 2 {
		t.Fatalf("summary %+v", s)
	}
	if turns[0].Sentiment != nil || turns[1].Sentiment == nil || turns[3].Sentiment == nil {
		t.Fatal("scores must land on the caller's turns only")
	}
	first, last := *turns[1].Sentiment, *turns[3].Sentiment
	if first >= 0 || last <= 0 {
		t.Fatalf("angry turn %.2f, thankful turn %.2f", first, last)
	}
	if s.Min != first || s.Last != last || math.Abs(s.Average-(first+last)/2) > 1e-9 || math.Abs(s.Trend-(last-first)) > 1e-9 {
		t.Fatalf("summary %+v of %.2f then %.2f", s, first, last)
	}
	if scoreSentiment(t.Context(), local.NewLexiconSentiment(), turns[:1]) != nil {
		t.Fatal("a call where the caller said nothing has no sentiment")
	}
}

func TestCallRecordKeepsTheSessionEvents(t *testing.T) {
	start := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	events := []session.Event{
		{Kind: session.EventGreeting, At: start.Add(200 * time.Millisecond)},
		{Kind: session.EventCallerTurn, At: start.Add(4 * time.Second)},
		{Kind: session.EventBargeIn, At: start.Add(6 * time.Second)},
		{Kind: session.EventDTMF, At: start.Add(7 * time.Second), Detail: "0"},
		{Kind: session.EventHoldingPhrase, At: start.Add(8 * time.Second), Detail: "chat model"},
		{Kind: session.EventTransferRequested, At: start.Add(9 * time.Second)},
	}
	sum := session.CallSummary{
		Info:      session.CallInfo{ID: "call-1", OrgID: "org-1", AgentID: "agent-1", From: "+15551110001", StartedAt: start},
		EndedAt:   start.Add(10 * time.Second),
		EndReason: session.EndTransfer,
		Events:    events,
	}
	_, _, end := callRecord(sum)
	want := []store.CallEvent{
		{Kind: "greeting", At: start.Add(200 * time.Millisecond)},
		{Kind: "caller_turn", At: start.Add(4 * time.Second)},
		{Kind: "barge_in", At: start.Add(6 * time.Second)},
		{Kind: "dtmf", At: start.Add(7 * time.Second), Detail: "0"},
		{Kind: "holding_phrase", At: start.Add(8 * time.Second), Detail: "chat model"},
		{Kind: "transfer_requested", At: start.Add(9 * time.Second)},
	}
	if !reflect.DeepEqual(end.Events, want) {
		t.Fatalf("events\n got  %+v\n want %+v", end.Events, want)
	}
	if err := end.Check(); err != nil {
		t.Fatalf("the store refuses the record: %v", err)
	}

	t.Run("a call without events records none", func(t *testing.T) {
		sum := sum
		sum.Events = nil
		if _, _, end := callRecord(sum); end.Events != nil {
			t.Fatalf("events %+v", end.Events)
		}
	})

	t.Run("events the store would refuse do not lose the record", func(t *testing.T) {
		long := "x" + strings.Repeat("é", store.MaxEventDetailLen) // 2-byte runes: a cut at the cap splits one
		many := make([]session.Event, 0, store.MaxCallEvents+50)
		many = append(many,
			session.Event{Kind: session.EventHoldingPhrase, At: start, Detail: long},
			session.Event{Kind: "", At: start},
			session.Event{Kind: session.EventDTMF})
		for len(many) < cap(many) {
			many = append(many, session.Event{Kind: session.EventCallerTurn, At: start.Add(time.Second)})
		}
		sum := sum
		sum.Events = many
		_, _, end := callRecord(sum)
		if err := end.Check(); err != nil {
			t.Fatalf("the store refuses the record: %v", err)
		}
		if len(end.Events) != store.MaxCallEvents {
			t.Fatalf("%d events, want the first %d the store keeps", len(end.Events), store.MaxCallEvents)
		}
		d := end.Events[0].Detail
		if len(d) != store.MaxEventDetailLen-1 || !utf8.ValidString(d) || !strings.HasPrefix(long, d) {
			t.Fatalf("long detail cut to %d bytes %q", len(d), d)
		}
		if end.Events[1].Kind != "caller_turn" {
			t.Fatalf("an event without a kind or time was kept: %+v", end.Events[1])
		}
	})
}
