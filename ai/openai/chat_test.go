package openai_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
)

const testKey = "gsk_test_key"

// setup starts a fake and a client for it with short, test-sized delays.
func setup(t *testing.T, tweak func(*openai.Config)) (*openaitest.Server, *openai.Client, *prometheus.Registry) {
	t.Helper()
	srv := openaitest.Start(openaitest.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	cfg := openai.Config{
		BaseURL:          srv.URL,
		APIKey:           testKey,
		FirstByteTimeout: 2 * time.Second,
		Retry:            openai.RetryConfig{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
		Breaker:          openai.BreakerConfig{Failures: 3, Delay: 200 * time.Millisecond},
		Registerer:       reg,
		Logger:           slog.New(slog.DiscardHandler),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := openai.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return srv, c, reg
}

var testRequest = ai.ChatRequest{
	Messages: []ai.Message{
		{Role: ai.RoleSystem, Content: "You are a phone receptionist."},
		{Role: ai.RoleUser, Content: "Can I book a cleaning on Friday?"},
	},
}

// collect reads a stream to its end.
func collect(t *testing.T, s ai.ChatStream) (text []string, calls []ai.ToolCall, err error) {
	t.Helper()
	defer func() { _ = s.Close() }()
	for {
		d, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return text, calls, nil
		}
		if err != nil {
			return text, calls, err
		}
		if d.Text != "" {
			text = append(text, d.Text)
		}
		calls = append(calls, d.ToolCalls...)
	}
}

func chat(t *testing.T, c *openai.Client, req ai.ChatRequest) ([]string, []ai.ToolCall, error) {
	t.Helper()
	s, err := c.Chat(context.Background(), req)
	if err != nil {
		return nil, nil, err
	}
	return collect(t, s)
}

func TestChatStreamsTextInOrder(t *testing.T) {
	srv, c, reg := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{Text: []string{"Friday", " at 9", " works."}, ChunkDelay: time.Millisecond})
	req := testRequest
	req.Tools = []ai.Tool{{Name: "transfer_to_human", Description: "Hand the call to a person",
		Parameters: `{"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]}`}}
	req.Temperature = 0.6
	text, calls, err := chat(t, c, req)
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if got := strings.Join(text, "|"); got != "Friday| at 9| works." {
		t.Errorf("text = %q", got)
	}
	if len(calls) != 0 {
		t.Errorf("tool calls = %v", calls)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Authorization != "Bearer "+testKey {
		t.Errorf("Authorization = %q", r.Authorization)
	}
	if r.Chat.Model != openai.DefaultModel || !r.Chat.Stream {
		t.Errorf("model %q stream %v", r.Chat.Model, r.Chat.Stream)
	}
	if len(r.Chat.Messages) != 2 || r.Chat.Messages[0].Role != "system" || *r.Chat.Messages[1].Content != req.Messages[1].Content {
		t.Errorf("messages = %+v", r.Chat.Messages)
	}
	if len(r.Chat.Tools) != 1 || r.Chat.Tools[0].Function.Name != "transfer_to_human" || !strings.Contains(string(r.Chat.Tools[0].Function.Parameters), `"reason"`) {
		t.Errorf("tools = %+v", r.Chat.Tools)
	}
	if r.Chat.Temperature == nil || *r.Chat.Temperature != 0.6 || r.Chat.ReasoningEffort != "low" {
		t.Errorf("temperature %v reasoning %q", r.Chat.Temperature, r.Chat.ReasoningEffort)
	}
	if got := counter(t, reg, "iace_openai_requests_total", "chat", "ok"); got != 1 {
		t.Errorf("ok requests = %v, want 1", got)
	}
}

func TestChatSendsHistoryWithToolCalls(t *testing.T) {
	srv, c, _ := setup(t, nil)
	req := testRequest
	req.Messages = append(req.Messages,
		ai.Message{Role: ai.RoleAssistant, ToolCalls: []ai.ToolCall{{ID: "call_1", Name: "lookup_customer", Arguments: "{}"}}},
		ai.Message{Role: ai.RoleTool, ToolCallID: "call_1", Content: `{"name":"Ada"}`})
	if _, _, err := chat(t, c, req); err != nil {
		t.Fatal(err)
	}
	m := srv.Requests()[0].Chat.Messages
	if len(m) != 4 || m[2].Content != nil || len(m[2].ToolCalls) != 1 || m[2].ToolCalls[0].Function.Name != "lookup_customer" ||
		m[2].ToolCalls[0].Type != "function" || m[3].ToolCallID != "call_1" {
		t.Errorf("messages = %+v", m)
	}
}

func TestChatAssemblesToolCallFromFragments(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fragments int
	}{{"in five fragments", 5}, {"in one chunk", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, _ := setup(t, nil)
			srv.EnqueueChat(openaitest.ChatReply{
				Text:      []string{"Let me get someone."},
				ToolCalls: []openaitest.ToolCall{{ID: "call_7Qk2", Name: "transfer_to_human", Arguments: `{"reason":"caller asked for a person"}`, Fragments: tc.fragments}},
			})
			text, calls, err := chat(t, c, testRequest)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(text, "") != "Let me get someone." {
				t.Errorf("text = %q", text)
			}
			want := ai.ToolCall{ID: "call_7Qk2", Name: "transfer_to_human", Arguments: `{"reason":"caller asked for a person"}`}
			if len(calls) != 1 || calls[0] != want {
				t.Errorf("calls = %+v, want %+v", calls, want)
			}
		})
	}
}

func TestChatAssemblesParallelToolCalls(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{ToolCalls: []openaitest.ToolCall{
		{Name: "lookup_customer", Fragments: 2},
		{Name: "end_call", Arguments: `{"reason":"done"}`, Fragments: 3},
	}})
	text, calls, err := chat(t, c, testRequest)
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 0 || len(calls) != 2 || calls[0].Name != "lookup_customer" || calls[0].Arguments != "{}" ||
		calls[1].Name != "end_call" || calls[1].Arguments != `{"reason":"done"}` {
		t.Errorf("text %q calls %+v", text, calls)
	}
}

func TestChatCancelMidStreamReachesServer(t *testing.T) {
	srv, c, reg := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{Text: []string{"Let me", " think"}, Hold: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.Chat(ctx, testRequest)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if d, err := s.Recv(); err != nil || d.Text != "Let me" {
		t.Fatalf("Recv = %+v, %v", d, err)
	}
	start := time.Now()
	cancel()
	select {
	case cn := <-srv.Cancellations():
		if lat := cn.At.Sub(start); lat > 50*time.Millisecond {
			t.Errorf("the fake saw the cancellation after %v, want within 50ms", lat)
		}
	case <-time.After(time.Second):
		t.Fatal("the fake never saw the cancellation")
	}
	// The piece already received may still come; then the cancellation.
	for {
		_, err := s.Recv()
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Recv after cancel = %v, want context.Canceled", err)
		}
		break
	}
	if got := counter(t, reg, "iace_openai_requests_total", "chat", "canceled"); got != 1 {
		t.Errorf("canceled requests = %v, want 1", got)
	}
}

func TestChatCloseMidStreamReachesServer(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.EnqueueChat(openaitest.ChatReply{Text: []string{"Let me"}, Hold: true})
	s, err := c.Chat(context.Background(), testRequest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Cancellations():
	case <-time.After(time.Second):
		t.Fatal("the fake never saw the stream closed")
	}
	if _, err := s.Recv(); !errors.Is(err, openai.ErrClosed) {
		t.Errorf("Recv after Close = %v, want ErrClosed", err)
	}
}
