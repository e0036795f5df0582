package learn_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/store"
)

// memoryCall is a finished call of caller phone, started on day, in which
// the caller asked question.
func memoryCall(id store.CallID, phone store.PhoneNumber, day time.Time, question string, outcome store.Outcome) learn.Call {
	return learn.Call{OrgID: "org-a", AgentID: "demo", CallID: id, Caller: phone, StartedAt: day, Outcome: outcome,
		Turns: []store.Turn{
			{Seq: 1, Speaker: store.SpeakerAgent, Text: "Hello, how can I help?"},
			{Seq: 2, Speaker: store.SpeakerCaller, Text: question},
			{Seq: 3, Speaker: store.SpeakerAgent, Text: "Let me see."},
		}}
}

// TestTheCallersMemoryKeepsTheirLatestCalls: offline, each call adds a
// dated line at the top of the caller's memory; the same call twice adds
// it once; beyond five calls the oldest call lines go, and a note staff
// wrote stays. Numbers the caller said are not kept. Another
// organization's customer with the same number is not touched.
func TestTheCallersMemoryKeepsTheirLatestCalls(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			st := b.open(t, 0)
			const phone = "+15557770001"
			for _, org := range []store.OrgID{"org-a", "org-b"} {
				if _, err := st.CreateOrg(ctx, store.Organization{ID: org, Name: string(org)}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.CreateCustomer(ctx, store.Customer{OrgID: org, Phone: phone, Name: "Ana",
					MemorySummary: "Prefers email."}); err != nil {
					t.Fatal(err)
				}
			}
			mem := learn.NewMemory(st, nil, slog.New(slog.DiscardHandler))
			day := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
			first := memoryCall("c1", phone, day, "my card ending 4242 was charged twice", store.OutcomeEscalated)
			first.EscalationReason = "caller_request"
			for range 2 { // a record replayed after a restart
				if err := mem.Remember(ctx, first); err != nil {
					t.Fatal(err)
				}
			}
			got := memoryOf(t, st, "org-a", phone)
			want := "2026-11-01 10:00: asked \"my card ending [number] was charged twice\"; handed to a person (caller request).\nPrefers email."
			if got != want {
				t.Fatalf("memory after one call:\n%s\nwant:\n%s", got, want)
			}
			for i := 2; i <= 7; i++ {
				c := memoryCall(store.CallID(fmt.Sprint("c", i)), phone, day.AddDate(0, 0, i), fmt.Sprintf("question number %c about my plan", 'a'+i), store.OutcomeResolved)
				if err := mem.Remember(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			lines := strings.Split(memoryOf(t, st, "org-a", phone), "\n")
			if len(lines) != learn.MaxMemoryCalls+1 || !strings.HasPrefix(lines[0], "2026-11-08 10:00: ") ||
				!strings.HasPrefix(lines[learn.MaxMemoryCalls-1], "2026-11-04 10:00: ") || lines[learn.MaxMemoryCalls] != "Prefers email." {
				t.Errorf("memory after seven calls:\n%s", strings.Join(lines, "\n"))
			}
			if other := memoryOf(t, st, "org-b", phone); other != "Prefers email." {
				t.Errorf("another organization's customer was changed: %q", other)
			}
			// A call of an agent that does not learn, or without a word from
			// the caller, is not remembered.
			off := memoryCall("c9", phone, day.AddDate(0, 1, 0), "what is my balance", store.OutcomeResolved)
			off.Learning = store.LearningOff
			if err := mem.Remember(ctx, off); err != nil {
				t.Fatal(err)
			}
			if got := memoryOf(t, st, "org-a", phone); strings.Contains(got, "balance") {
				t.Errorf("a call of an agent with learning off was remembered: %q", got)
			}
		})
	}
}

// TestAModelRewritesTheCallersMemory: with a model, the model's summary is
// kept when it passes; one that does not date the call is refused and the
// offline line kept instead.
func TestAModelRewritesTheCallersMemory(t *testing.T) {
	ctx := t.Context()
	st := backends[0].open(t, 0)
	const phone = "+15557770002"
	if _, err := st.CreateOrg(ctx, store.Organization{ID: "org-a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCustomer(ctx, store.Customer{OrgID: "org-a", Phone: phone}); err != nil {
		t.Fatal(err)
	}
	srv := openaitest.Start(openaitest.Options{APIKey: "gsk_test"})
	t.Cleanup(srv.Close)
	model, err := openai.NewJSON(openai.Config{Name: "groq", BaseURL: srv.URL, APIKey: "gsk_test",
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler),
		Retry: openai.RetryConfig{MaxAttempts: 1}}, openai.JSONConfig{Operation: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = model.Close() })
	mem := learn.NewMemory(st, model, slog.New(slog.DiscardHandler))
	day := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

	srv.EnqueueJSON(openaitest.JSONReply{Content: `{"summary": "2026-11-02: wanted to move a delivery to Friday; done.\nLikes morning slots."}`})
	if err := mem.Remember(ctx, memoryCall("m1", phone, day, "can you move my delivery to friday", store.OutcomeResolved)); err != nil {
		t.Fatal(err)
	}
	if got := memoryOf(t, st, "org-a", phone); got != "2026-11-02: wanted to move a delivery to Friday; done.\nLikes morning slots." {
		t.Errorf("memory %q, want the model's", got)
	}
	req := srv.Requests()[0].Chat
	if last := req.Messages[len(req.Messages)-1]; last.Content == nil || !strings.Contains(*last.Content, "can you move my delivery to friday") {
		t.Errorf("the model was not given the call: %+v", req.Messages)
	}

	srv.EnqueueJSON(openaitest.JSONReply{Content: `{"summary": "Calls a lot."}`})
	if err := mem.Remember(ctx, memoryCall("m2", phone, day.AddDate(0, 0, 1), "where is my parcel now", store.OutcomeResolved)); err != nil {
		t.Fatal(err)
	}
	if got := memoryOf(t, st, "org-a", phone); !strings.HasPrefix(got, `2026-11-03 09:00: asked "where is my parcel now"; resolved.`+"\n2026-11-02: wanted") {
		t.Errorf("memory %q, want the offline line on top of the last good summary", got)
	}
}

func memoryOf(t *testing.T, st store.Store, org store.OrgID, phone store.PhoneNumber) string {
	t.Helper()
	c, err := st.CustomerByPhone(t.Context(), org, phone)
	if err != nil {
		t.Fatal(err)
	}
	return c.MemorySummary
}
