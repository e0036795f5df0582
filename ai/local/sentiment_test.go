package local_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
)

func TestLexiconSentiment(t *testing.T) {
	lex := local.NewLexiconSentiment()
	for _, tc := range []struct {
		text  string
		label string
	}{
		{"I'd like to book a cleaning on Friday at nine.", ai.SentimentNeutral},
		{"Thank you so much, that's perfect!", ai.SentimentPositive},
		{"This is ridiculous, I've been waiting for an hour.", ai.SentimentNegative},
		{"I'm not happy with the service.", ai.SentimentNegative},
		{"I am NOT HAPPY", ai.SentimentNegative},
		{"I'm happy with the service.", ai.SentimentPositive},
		{"It wasn't bad at all.", ai.SentimentPositive},
		{"The cleaning was great but the billing is a terrible mess.", ai.SentimentNegative},
		{"", ai.SentimentNeutral},
		// a negator reaches within its clause only
		{"I can't sleep, it really hurts.", ai.SentimentNegative},
		{"No, nothing else. Thanks.", ai.SentimentPositive},
		{"I've never had such terrible service.", ai.SentimentNegative},
		{"I don\u2019t like it, it\u2019s awful.", ai.SentimentNegative},
		{"Not a problem at all, thanks.", ai.SentimentPositive},
		{"Nothing's fixed.", ai.SentimentNegative},
		{"Nobody's happy about it.", ai.SentimentNegative},
		{"No complaints at all, it's been great.", ai.SentimentPositive},
		// phrases
		{"I'm fed up with being lied to.", ai.SentimentNegative},
		{"I'm sick of being fobbed off.", ai.SentimentNegative},
		{"No worries.", ai.SentimentPositive},
		{"Thanks for nothing.", ai.SentimentNegative},
		{"I'm asking nicely, but I really am at the end of my tether.", ai.SentimentNegative},
		{"I'm at my wits' end with this.", ai.SentimentNegative},
		{"I'm sick and tired of it.", ai.SentimentNegative},
		{"You're not listening to me.", ai.SentimentNegative},
		{"We're going round in circles here.", ai.SentimentNegative},
		{"Another morning wasted.", ai.SentimentNegative},
		{"Are you listening for the code? It's four, two, seven.", ai.SentimentNeutral},
		// round 5: a cue in a question asks; a count in figures; a mock
		{"Is it the same price as usual? Oh good, thank you.", ai.SentimentPositive},
		{"Oh brilliant, another 72 hours without a phone.", ai.SentimentNegative},
		{"Wonderful, I'll just sit in the dark then, shall I?", ai.SentimentNegative},
		{"Lovely. Then shall I ring back on Monday?", ai.SentimentPositive},
		{"I'm trying very hard to remain civil here.", ai.SentimentNegative},
		{"With all due respect, that's what you said on Monday.", ai.SentimentNegative},
		{"With respect to my bill, can I pay it in two parts?", ai.SentimentNeutral},
		// a negator inside a phrase reaches no further: "can't cope" is
		// sour, and so is the mess after it
		{"I can't cope with this mess.", ai.SentimentNegative},
		// greetings and courtesy are not a mood
		{"Good afternoon. I'm calling about a refund.", ai.SentimentNeutral},
		{"I appreciate you're only doing your job, but this is the fourth time I've called.", ai.SentimentNeutral},
		// naming the trouble is not a mood
		{"I have a problem with my login.", ai.SentimentNeutral},
		{"The shoes I ordered are the wrong size.", ai.SentimentNeutral},
		// irony: an "oh great" that says "again"
		{"Oh great, my order is late again.", ai.SentimentNegative},
		{"Oh great, thank you!", ai.SentimentPositive},
		{"Oh great, thanks again!", ai.SentimentPositive},
		{"Wonderful. So another two weeks without a landline. Thanks a lot.", ai.SentimentNegative},
		{"Lovely. Yet another delay.", ai.SentimentNegative},
		{"Great. As usual nobody turned up.", ai.SentimentNegative},
		{"Well, that's great, it's broken again.", ai.SentimentNegative},
		// praise that goes on, or asks, is sincere
		{"Great, I'll try again later.", ai.SentimentPositive},
		{"Perfect. Can I book another week?", ai.SentimentPositive},
		{"Lovely, another day then. Thursday works.", ai.SentimentPositive},
		{"Thanks, I'll call again tomorrow.", ai.SentimentPositive},
		{"THIS IS OUTRAGEOUS.", ai.SentimentNegative},
		{"THANKS, THAT'S GREAT", ai.SentimentPositive},
	} {
		t.Run(tc.text, func(t *testing.T) {
			got, err := lex.Score(context.Background(), tc.text)
			if err != nil || got.Label != tc.label || got.Source != local.LexiconSource || got.Score < -1 || got.Score > 1 {
				t.Errorf("Score = %+v, %v, want label %s", got, err, tc.label)
			}
			if got.Label != ai.SentimentLabel(got.Score) {
				t.Errorf("label %s does not match score %v", got.Label, got.Score)
			}
		})
	}
}

func TestLexiconBoostersAndNegationScale(t *testing.T) {
	lex := local.NewLexiconSentiment()
	score := func(s string) float64 {
		got, _ := lex.Score(context.Background(), s)
		return got.Score
	}
	if a, b := score("I am angry"), score("I am very angry"); b >= a {
		t.Errorf("very angry %v not below angry %v", b, a)
	}
	if a, b := score("unhappy"), score("not happy"); b <= a || b >= 0 {
		t.Errorf("not happy %v should be negative but milder than unhappy %v", b, a)
	}
	if s := score(strings.Repeat("terrible awful ", 5000)); s < -1 || s > -0.9 {
		t.Errorf("a long rant scores %v, want close to -1", s)
	}
	if a, b := score("not happy"), score("not happy at all"); b >= a {
		t.Errorf("not happy at all %v not below not happy %v", b, a)
	}
	if a, b := score("not bad"), score("not bad at all"); b <= a {
		t.Errorf("not bad at all %v not above not bad %v", b, a)
	}
	if a, b := score("this is ridiculous"), score("this is RIDICULOUS"); b >= a {
		t.Errorf("in capitals %v not below %v", b, a)
	}
	if a, b := score("this is ridiculous"), score("this is ridiculous!"); b >= a {
		t.Errorf("with a bang %v not below %v", b, a)
	}
	if a, b := score("I'm worried"), score("I'm furious"); b >= a || a < -0.4 {
		t.Errorf("a word of the trouble (worried %v) weighs less than one of anger (furious %v), and alone stays above -0.4", a, b)
	}
	// the words that only name the trouble weigh together as one does
	// alone: describing it is not anger, a word of mood is
	for _, calm := range []string{
		"The invoice looks wrong, it's really confusing.",
		"The parcel is late, damaged and the wrong colour.",
		"It's broken, I'm so worried and confused.",
	} {
		if a, b := score("It's broken."), score(calm); b < a || b >= 0 {
			t.Errorf("%q scores %v, want negative but no lower than one word of the trouble (%v)", calm, b, a)
		}
	}
	if a, b := score("It's broken and late."), score("I'm annoyed, it's broken and late."); b >= -0.4 || b >= a {
		t.Errorf("a word of mood (%v) adds to the trouble (%v), below -0.4", b, a)
	}
	if s := score("The invoice is not wrong, not confusing at all."); s <= 0 {
		t.Errorf("negated words of the trouble are not capped as trouble: %v", s)
	}
	if s := score(strings.Repeat("a", 100) + " awful"); s >= 0 {
		t.Errorf("a word too long to read spoils the rest: %v", s)
	}
}

func TestLexiconAllocatesNothing(t *testing.T) {
	lex := local.NewLexiconSentiment()
	n := testing.AllocsPerRun(100, func() {
		_, _ = lex.Score(context.Background(), "Oh GREAT, I'm not happy at all, I'm fed up: it's late again and nobody called me back!")
	})
	if n != 0 {
		t.Errorf("%v allocations a score", n)
	}
}

// stub is a primary scorer that answers what it is told.
type stub struct {
	sent  ai.Sentiment
	err   error
	block bool
}

func (s stub) Score(ctx context.Context, _ string) (ai.Sentiment, error) {
	if s.block {
		<-ctx.Done()
		return ai.Sentiment{}, ctx.Err()
	}
	return s.sent, s.err
}

func TestSentimentWithFallback(t *testing.T) {
	good := ai.Sentiment{Score: 0.7, Label: ai.SentimentPositive, Source: "groq"}
	for _, tc := range []struct {
		name     string
		primary  local.SentimentScorer
		source   string
		fallback bool
	}{
		{"the primary's answer is used", stub{sent: good}, "groq", false},
		{"no primary", nil, local.LexiconSource, true},
		{"an unavailable provider", stub{err: fmt.Errorf("groq: %w", ai.ErrUnavailable)}, local.LexiconSource, true},
		{"any other error", stub{err: errors.New("bad answer")}, local.LexiconSource, true},
		{"a score out of range", stub{sent: ai.Sentiment{Score: 3, Label: ai.SentimentPositive}}, local.LexiconSource, true},
		{"an unknown label", stub{sent: ai.Sentiment{Score: 0.3, Label: "great"}}, local.LexiconSource, true},
		{"a primary that hangs", stub{block: true}, local.LexiconSource, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := local.NewSentimentWithFallback(tc.primary, local.SentimentFallbackConfig{Timeout: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Score(context.Background(), "thanks, that's great")
			if err != nil || got.Source != tc.source {
				t.Errorf("Score = %+v, %v, want source %s", got, err, tc.source)
			}
			if fb := f.Fallbacks() == 1; fb != tc.fallback {
				t.Errorf("fallbacks = %d", f.Fallbacks())
			}
		})
	}
}

func TestSentimentWithFallbackAnswersACancelledCaller(t *testing.T) {
	f, err := local.NewSentimentWithFallback(stub{block: true}, local.SentimentFallbackConfig{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := f.Score(ctx, "this is terrible")
	if err != nil || got.Source != local.LexiconSource || got.Label != ai.SentimentNegative {
		t.Errorf("Score = %+v, %v", got, err)
	}
}

func BenchmarkLexiconSentiment(b *testing.B) {
	lex := local.NewLexiconSentiment()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = lex.Score(context.Background(), "I'm not happy at all, I have been waiting for an hour and nobody called me back")
	}
}
