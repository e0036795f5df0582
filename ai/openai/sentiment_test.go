package openai_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
)

var _ local.SentimentScorer = (*openai.SentimentClient)(nil)

func newSentiment(t *testing.T, tweak func(*openai.Config, *openai.SentimentConfig)) (*openaitest.Server, *openai.SentimentClient, *prometheus.Registry) {
	t.Helper()
	srv := openaitest.Start(openaitest.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	cfg := openai.Config{
		Name:       "groq",
		BaseURL:    srv.URL,
		APIKey:     testKey,
		Retry:      openai.RetryConfig{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
		Breaker:    openai.BreakerConfig{Failures: 3, Delay: time.Minute},
		Registerer: reg,
		Logger:     slog.New(slog.DiscardHandler),
	}
	sc := openai.SentimentConfig{}
	if tweak != nil {
		tweak(&cfg, &sc)
	}
	s, err := openai.NewSentiment(cfg, sc)
	if err != nil {
		t.Fatalf("NewSentiment: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return srv, s, reg
}

func TestSentimentScoresInJSONMode(t *testing.T) {
	srv, s, reg := newSentiment(t, nil)
	srv.EnqueueJSON(openaitest.JSONReply{Content: `{"score": -0.8, "label": "negative", "reason": "waited an hour"}`})
	got, err := s.Score(context.Background(), "  I have been waiting for an hour, this is ridiculous.  ")
	if err != nil {
		t.Fatal(err)
	}
	if want := (ai.Sentiment{Score: -0.8, Label: ai.SentimentNegative, Source: "groq"}); got != want {
		t.Errorf("sentiment = %+v, want %+v", got, want)
	}
	r := srv.Requests()[0].Chat
	if r.Stream || r.ResponseFormat == nil || r.ResponseFormat.Type != "json_object" || r.Model != openai.DefaultModel || r.ReasoningEffort != "low" {
		t.Errorf("request: stream %v format %+v model %q reasoning %q", r.Stream, r.ResponseFormat, r.Model, r.ReasoningEffort)
	}
	if len(r.Messages) != 2 || !strings.Contains(*r.Messages[0].Content, "JSON") ||
		*r.Messages[1].Content != "I have been waiting for an hour, this is ridiculous." {
		t.Errorf("messages = %+v", r.Messages)
	}
	if got := counter(t, reg, "iace_openai_requests_total", "sentiment", "ok"); got != 1 {
		t.Errorf("ok = %v, want 1", got)
	}
}

func TestSentimentRejectsInvalidAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply openaitest.JSONReply
	}{
		{"score out of range", openaitest.JSONReply{Content: `{"score": 2, "label": "positive"}`}},
		{"missing score", openaitest.JSONReply{Content: `{"label": "positive"}`}},
		{"unknown label", openaitest.JSONReply{Content: `{"score": 0.1, "label": "happy"}`}},
		{"label contradicts score", openaitest.JSONReply{Content: `{"score": 0.9, "label": "negative"}`}},
		{"an array", openaitest.JSONReply{Content: `[0.5, "positive"]`}},
		{"score as a string", openaitest.JSONReply{Content: `{"score": "0.5", "label": "positive"}`}},
		{"prose from a server without JSON mode", openaitest.JSONReply{Content: `The caller sounds happy.`, Raw: true}},
		{"an answer cut by the token cap", openaitest.JSONReply{Content: `{"score": 0.5, "label": "positive"}`, FinishReason: "length"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, s, _ := newSentiment(t, nil)
			srv.EnqueueJSON(tc.reply)
			_, err := s.Score(context.Background(), "thanks")
			if !errors.Is(err, openai.ErrMalformed) || errors.Is(err, ai.ErrUnavailable) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d requests, want 1: a model's answer is not retried", n)
			}
		})
	}
}

func TestSentimentJSONValidateFailedIsA400(t *testing.T) {
	srv, s, _ := newSentiment(t, nil)
	srv.EnqueueJSON(openaitest.JSONReply{Content: `{"score": 0.5, "label": `})
	_, err := s.Score(context.Background(), "thanks")
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "json_validate_failed" || len(srv.Requests()) != 1 {
		t.Fatalf("err = %v, want one 400 json_validate_failed", err)
	}
}

// fallbackFor wraps s with the lexicon fallback.
func fallbackFor(t *testing.T, s local.SentimentScorer, timeout time.Duration) (*local.SentimentWithFallback, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	f, err := local.NewSentimentWithFallback(s, local.SentimentFallbackConfig{Timeout: timeout, Registerer: reg,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f, reg
}

func fallbacks(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "iace_local_sentiment_fallbacks_total" && m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestSentimentFallsBackToTheLexicon(t *testing.T) {
	const angry = "I'm not happy at all, this is ridiculous"
	for _, tc := range []struct {
		name    string
		replies []openaitest.JSONReply
		timeout time.Duration
		reason  string
	}{
		{"invalid JSON", []openaitest.JSONReply{{Content: `{"score": "very bad"}`}}, time.Second, "invalid"},
		{"json_validate_failed", []openaitest.JSONReply{{Content: `not json`}}, time.Second, "invalid"},
		{"the provider is down", []openaitest.JSONReply{{Fault: openaitest.FaultUnavailable},
			{Fault: openaitest.FaultUnavailable}, {Fault: openaitest.FaultUnavailable}}, time.Second, "unavailable"},
		{"the provider is too slow", []openaitest.JSONReply{{FirstByteDelay: 5 * time.Second}}, 100 * time.Millisecond, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, s, _ := newSentiment(t, nil)
			srv.EnqueueJSON(tc.replies...)
			f, reg := fallbackFor(t, s, tc.timeout)
			start := time.Now()
			got, err := f.Score(context.Background(), angry)
			if err != nil {
				t.Fatal(err)
			}
			if got.Source != local.LexiconSource || got.Label != ai.SentimentNegative || got.Score >= 0 {
				t.Errorf("sentiment = %+v, want the lexicon's negative score", got)
			}
			if d := time.Since(start); d > tc.timeout+time.Second {
				t.Errorf("answered after %v", d)
			}
			if f.Fallbacks() != 1 || fallbacks(t, reg, tc.reason) != 1 {
				t.Errorf("fallbacks %d, %s = %v, want 1", f.Fallbacks(), tc.reason, fallbacks(t, reg, tc.reason))
			}
		})
	}
}

func TestSentimentFallbackUsesTheProviderWhenItAnswers(t *testing.T) {
	srv, s, _ := newSentiment(t, nil)
	srv.EnqueueJSON(openaitest.JSONReply{Content: `{"score":0.6,"label":"positive"}`})
	f, _ := fallbackFor(t, s, time.Second)
	got, err := f.Score(context.Background(), "that's great, thanks")
	if err != nil || got.Source != "groq" || got.Score != 0.6 || f.Fallbacks() != 0 {
		t.Errorf("sentiment = %+v, %v, fallbacks %d", got, err, f.Fallbacks())
	}
}

func TestSentimentFallbackWhileTheBreakerIsOpen(t *testing.T) {
	srv, s, _ := newSentiment(t, func(cfg *openai.Config, _ *openai.SentimentConfig) {
		cfg.Retry.MaxAttempts = 1
		cfg.Breaker.Failures = 1
	})
	srv.EnqueueJSON(openaitest.JSONReply{Fault: openaitest.FaultServerError})
	f, reg := fallbackFor(t, s, time.Second)
	for range 3 {
		if got, _ := f.Score(context.Background(), "thank you so much"); got.Source != local.LexiconSource || got.Label != ai.SentimentPositive {
			t.Errorf("sentiment = %+v", got)
		}
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: the open breaker keeps the others local", n)
	}
	if got := fallbacks(t, reg, "unavailable"); got != 3 {
		t.Errorf("unavailable fallbacks = %v, want 3", got)
	}
}
