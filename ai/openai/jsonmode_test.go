package openai_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
)

func newJSON(t *testing.T, jc openai.JSONConfig) (*openaitest.Server, *openai.JSONClient, *prometheus.Registry) {
	t.Helper()
	srv := openaitest.Start(openaitest.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	c, err := openai.NewJSON(openai.Config{
		Name:       "groq",
		BaseURL:    srv.URL,
		APIKey:     testKey,
		Retry:      openai.RetryConfig{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
		Registerer: reg,
		Logger:     slog.New(slog.DiscardHandler),
	}, jc)
	if err != nil {
		t.Fatalf("NewJSON: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return srv, c, reg
}

func TestJSONClientReturnsTheObject(t *testing.T) {
	srv, c, reg := newJSON(t, openai.JSONConfig{Operation: "learn", MaxUserBytes: 20})
	srv.EnqueueJSON(openaitest.JSONReply{Content: ` {"patterns": []} `})
	got, err := c.CompleteJSON(context.Background(), "Answer in JSON.", "  a long transcript that is cut  ")
	if err != nil || string(got) != `{"patterns": []}` {
		t.Fatalf("CompleteJSON = %s, %v", got, err)
	}
	r := srv.Requests()[0].Chat
	if r.Stream || r.ResponseFormat == nil || r.ResponseFormat.Type != "json_object" || r.ReasoningEffort != "low" ||
		len(r.Messages) != 2 || *r.Messages[0].Content != "Answer in JSON." || *r.Messages[1].Content != "a long transcript th" {
		t.Errorf("request: %+v", r)
	}
	if got := counter(t, reg, "iace_openai_requests_total", "learn", "ok"); got != 1 {
		t.Errorf("ok requests of the learn operation = %v, want 1", got)
	}
}

func TestJSONClientRejectsWhatIsNotAnObject(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply openaitest.JSONReply
	}{
		{"an array", openaitest.JSONReply{Content: `[1, 2]`}},
		{"prose from a server without JSON mode", openaitest.JSONReply{Content: `Sure! Here it is.`, Raw: true}},
		{"an object cut short", openaitest.JSONReply{Content: `{"patterns": [`, Raw: true}},
		{"an answer cut by the token cap", openaitest.JSONReply{Content: `{"patterns": []}`, FinishReason: "length"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, _ := newJSON(t, openai.JSONConfig{})
			srv.EnqueueJSON(tc.reply)
			_, err := c.CompleteJSON(context.Background(), "Answer in JSON.", "hello")
			if !errors.Is(err, openai.ErrMalformed) || errors.Is(err, ai.ErrUnavailable) || len(srv.Requests()) != 1 {
				t.Errorf("err = %v after %d requests, want ErrMalformed after 1", err, len(srv.Requests()))
			}
		})
	}
}

func TestJSONClientRetriesAnUnavailableProvider(t *testing.T) {
	srv, c, _ := newJSON(t, openai.JSONConfig{})
	srv.EnqueueJSON(openaitest.JSONReply{Fault: openaitest.FaultServerError}, openaitest.JSONReply{Content: `{"ok": true}`})
	got, err := c.CompleteJSON(context.Background(), "Answer in JSON.", "hello")
	if err != nil || string(got) != `{"ok": true}` || len(srv.Requests()) != 2 {
		t.Errorf("CompleteJSON = %s, %v after %d requests", got, err, len(srv.Requests()))
	}
}

func TestJSONConfigIsChecked(t *testing.T) {
	c, err := openai.NewJSON(openai.Config{BaseURL: "http://127.0.0.1:1"}, openai.JSONConfig{Operation: "learn"})
	if err != nil {
		t.Fatalf("NewJSON with a good config: %v", err)
	}
	_ = c.Close()
	for _, jc := range []openai.JSONConfig{{Operation: "Learn patterns"}, {Operation: strings.Repeat("a", 33)}, {MaxTokens: 2}} {
		if _, err := openai.NewJSON(openai.Config{BaseURL: "http://127.0.0.1:1"}, jc); err == nil {
			t.Errorf("NewJSON accepted %+v", jc)
		}
	}
}
