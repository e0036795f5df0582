package main

import (
	"math"
	"testing"

	"github.com/iace/iace/ai/local"
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
