package learn_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/store"
)

// newLLM is an LLM extractor over the fake OpenAI-compatible server.
func newLLM(t *testing.T) (*openaitest.Server, *learn.LLM, *prometheus.Registry) {
	t.Helper()
	srv := openaitest.Start(openaitest.Options{APIKey: "gsk_test"})
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	model, err := openai.NewJSON(openai.Config{
		Name: "groq", BaseURL: srv.URL, APIKey: "gsk_test", Registerer: reg, Logger: slog.New(slog.DiscardHandler),
		Retry: openai.RetryConfig{MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond},
	}, openai.JSONConfig{Operation: "learn"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = model.Close() })
	x, err := learn.NewLLM(model, learn.LLMConfig{Registerer: reg, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	return srv, x, reg
}

// resolved is a resolved call whose question a model would shorten.
var resolved = call("llm-1", store.OutcomeResolved, "",
	"agent: "+demo.Greeting,
	"caller: Hi, yes, I was wondering, what are your opening hours during the week?",
	"agent: We are open Monday to Friday, nine to five.",
	"caller: Lovely, and is there parking near you?",
	"agent: Yes, there is a free car park behind the building.",
	"caller: Thanks, bye.")

func TestLLMExtractsInJSONMode(t *testing.T) {
	srv, x, reg := newLLM(t)
	srv.EnqueueJSON(openaitest.JSONReply{Content: `{"patterns": [
		{"kind": "faq", "trigger": "what are your opening hours during the week?", "response": "We are open Monday to Friday, nine to five."},
		{"kind": "faq", "trigger": "Is there parking near you?", "response": "There is a free car park behind the building.", "confidence": 0.9}]}`})
	got, err := x.Extract(context.Background(), resolved)
	if err != nil {
		t.Fatal(err)
	}
	want := []learn.Candidate{
		{Kind: learn.KindFAQ, Trigger: "what are your opening hours during the week?", Response: "We are open Monday to Friday, nine to five."},
		{Kind: learn.KindFAQ, Trigger: "Is there parking near you?", Response: "There is a free car park behind the building."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("candidates:\n got  %+v\n want %+v", got, want)
	}
	req := srv.Requests()[0].Chat
	user := *req.Messages[1].Content
	if req.ResponseFormat == nil || req.ResponseFormat.Type != "json_object" || !strings.Contains(*req.Messages[0].Content, "JSON") ||
		!strings.HasPrefix(user, "The call was resolved.\nTranscript:\nagent: "+demo.Greeting+"\ncaller: Hi, yes,") {
		t.Errorf("request: format %+v, user message %q", req.ResponseFormat, user)
	}
	if x.Fallbacks() != 0 || testutil.ToFloat64(fallbackCounter(t, reg, "unavailable")) != 0 ||
		testutil.ToFloat64(fallbackCounter(t, reg, "invalid")) != 0 {
		t.Errorf("fallbacks %d on a good answer", x.Fallbacks())
	}
}

func TestLLMEscalationTakesTheCallsReason(t *testing.T) {
	srv, x, _ := newLLM(t)
	srv.EnqueueJSON(openaitest.JSONReply{Content: `{"patterns": [{"kind": "escalation", "trigger": "You charged my card twice", "response": "double charge"}]}`})
	c := call("llm-2", store.OutcomeEscalated, "sentiment",
		"caller: You charged my card twice, I'm furious.", "agent: I'm sorry, let me connect you.")
	got, err := x.Extract(context.Background(), c)
	want := []learn.Candidate{{Kind: learn.KindEscalation, Trigger: "You charged my card twice", Response: "sentiment"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("candidates %+v, %v; want %+v", got, err, want)
	}
	if u := *srv.Requests()[0].Chat.Messages[1].Content; !strings.HasPrefix(u, "The call was escalated to a human (reason: sentiment).") {
		t.Errorf("user message %q", u)
	}
}

func TestLLMFallsBackToTheHeuristic(t *testing.T) {
	heuristic, _ := learn.Heuristic{}.Extract(context.Background(), resolved)
	if len(heuristic) != 2 {
		t.Fatalf("the heuristic finds %+v", heuristic)
	}
	for _, tc := range []struct {
		name    string
		replies []openaitest.JSONReply
		reason  string
	}{
		{"the provider fails", []openaitest.JSONReply{{Fault: openaitest.FaultServerError}, {Fault: openaitest.FaultServerError}}, "unavailable"},
		{"the answer is not JSON", []openaitest.JSONReply{{Content: "Here are the patterns: hours, parking.", Raw: true}}, "invalid"},
		{"the provider refuses the request", []openaitest.JSONReply{{Fault: openaitest.FaultToolUseFailed}}, "invalid"},
		{"no patterns field", []openaitest.JSONReply{{Content: `{"faq": []}`}}, "invalid"},
		{"patterns of the wrong type", []openaitest.JSONReply{{Content: `{"patterns": "hours"}`}}, "invalid"},
		{"a trigger of the wrong type", []openaitest.JSONReply{{Content: `{"patterns": [{"kind": "faq", "trigger": 7, "response": "x"}]}`}}, "invalid"},
		{"a kind the call cannot have", []openaitest.JSONReply{{Content: `{"patterns": [{"kind": "escalation", "trigger": "what are your opening hours", "response": "nine"}]}`}}, "invalid"},
		{"a response missing", []openaitest.JSONReply{{Content: `{"patterns": [{"kind": "faq", "trigger": "what are your opening hours"}]}`}}, "invalid"},
		{"a trigger the caller never said", []openaitest.JSONReply{{Content: `{"patterns": [{"kind": "faq", "trigger": "Do you sell refurbished laptops?", "response": "We are open Monday to Friday."}]}`}}, "invalid"},
		{"a response the agent never said", []openaitest.JSONReply{{Content: `{"patterns": [{"kind": "faq", "trigger": "what are your opening hours", "response": "Twenty four hours, seven days, including holidays."}]}`}}, "invalid"},
		{"more patterns than a call teaches", []openaitest.JSONReply{{Content: `{"patterns": [` + strings.Repeat(`{"kind": "faq", "trigger": "opening hours week", "response": "open Monday to Friday"},`, 3) +
			`{"kind": "faq", "trigger": "opening hours week", "response": "open Monday to Friday"}]}`}}, "invalid"},
		{"a trigger too long", []openaitest.JSONReply{{Content: `{"patterns": [{"kind": "faq", "trigger": "` + strings.Repeat("hours ", 60) + `", "response": "open Monday to Friday"}]}`}}, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, x, reg := newLLM(t)
			srv.EnqueueJSON(tc.replies...)
			got, err := x.Extract(context.Background(), resolved)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, heuristic) {
				t.Errorf("candidates %+v, want the heuristic's %+v", got, heuristic)
			}
			if x.Fallbacks() != 1 {
				t.Errorf("%d fallbacks, want 1", x.Fallbacks())
			}
			if n := testutil.ToFloat64(fallbackCounter(t, reg, tc.reason)); n != 1 {
				t.Errorf("fallbacks for %s = %v, want 1", tc.reason, n)
			}
		})
	}
}

// fallbackCounter is the fallbacks series of one reason.
func fallbackCounter(t *testing.T, reg *prometheus.Registry, reason string) prometheus.Collector {
	t.Helper()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "learn", Name: "llm_fallbacks_total",
		Help: "Calls whose patterns the heuristic extracted because the LLM extractor failed, by reason (unavailable, invalid)."},
		[]string{"reason"})
	var are prometheus.AlreadyRegisteredError
	if err := reg.Register(c); !errors.As(err, &are) {
		t.Fatalf("the fallbacks counter is not registered: %v", err)
	}
	return are.ExistingCollector.(*prometheus.CounterVec).WithLabelValues(reason)
}

func TestLLMSendsNothingForACallWithoutALesson(t *testing.T) {
	srv, x, _ := newLLM(t)
	for _, c := range []learn.Call{
		call("a", store.OutcomeAbandoned, "", "caller: What are your opening hours?"),
		call("f", store.OutcomeFailed, "", "caller: What are your opening hours?"),
		call("s", store.OutcomeResolved, "", "agent: "+demo.Greeting),
	} {
		if got, err := x.Extract(context.Background(), c); err != nil || got != nil {
			t.Errorf("call %s: %+v, %v", c.CallID, got, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestLLMStopsWhenItsContextEnds(t *testing.T) {
	srv, x, _ := newLLM(t)
	srv.EnqueueJSON(openaitest.JSONReply{FirstByteDelay: 5 * time.Second, Content: `{"patterns": []}`})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := x.Extract(ctx, resolved)
	if !errors.Is(err, context.DeadlineExceeded) || x.Fallbacks() != 0 {
		t.Errorf("err %v, %d fallbacks: want the context's end, no fallback", err, x.Fallbacks())
	}
}
