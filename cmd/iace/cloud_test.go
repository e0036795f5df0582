package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
	"github.com/iace/iace/store"
)

// TestCloudProvidersHandACallerToAHuman runs iace serve with the real cloud
// clients pointed at fakes that speak each vendor's wire protocol: the
// simulated caller speaks, the fake Deepgram returns the transcript, the fake
// LLM streams an answer with a transfer_to_human tool call, the caller hears
// the answer (Aura), and the fake Telnyx API receives the transfer to the
// agent's transfer number.
// cloud is iace serve wired to the fakes of every vendor.
type cloud struct {
	s    *server
	errc <-chan error
	llm  *openaitest.Server
	dg   *deepgramtest.Server
	tx   *callcontroltest.Server
	logs *logBuffer
	url  string
}

func startCloud(ctx context.Context, t *testing.T, reply openaitest.ChatReply) *cloud {
	t.Helper()
	dg := deepgramtest.NewServer(deepgramtest.Config{APIKey: "dg-key", Transcripts: []string{"I want to talk to a human"}})
	t.Cleanup(dg.Close)
	llm := openaitest.Start(openaitest.Options{APIKey: "llm-key"})
	t.Cleanup(llm.Close)
	llm.SetDefaultChat(reply)
	tx := callcontroltest.NewServer("tx-key")
	t.Cleanup(tx.Close)

	dir := t.TempDir()
	agents := filepath.Join(dir, "agents.json")
	if err := os.WriteFile(agents, []byte(`{"id":"demo","org_id":"demo","name":"Support","greeting":"Hello, how can I help?",
		"fallback":"Sorry?","system_prompt":"Be brief.","transfer_number":"+15550009999",
		"settings":{"model":"support-model","temperature":0.3,"max_tokens":120,"verify_caller":"pin"},
		"escalation":{"transfer_to_human_tool":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", dir,
		"--agents-file", agents, "--llm-base-url", llm.URL, "--deepgram-url", dg.URL(), "--telnyx-api-url", tx.BaseURL(),
		// The simulator plays Telnyx without a webhook, so without a stream
		// token; with a Telnyx key set only the explicit switch admits that.
		"--unauthenticated-streams", "true",
		// Caller turns are scored while the call runs; the lexicon keeps
		// those requests off the fake model, whose replies are scripted.
		"--sentiment", "lexicon"},
		env(map[string]string{envLLMKey: "llm-key", envDeepgramKey: "dg-key", envTelnyxKey: "tx-key"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLog()
	s, err := newServer(ctx, cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	return &cloud{s: s, errc: s.start(t.Context()), llm: llm, dg: dg, tx: tx, logs: logs, url: "ws://" + s.publicLn.Addr().String() + "/media/telnyx"}
}

// stop shuts the server down and checks no key reached the log.
func (c *cloud) stop(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := c.s.shutdown(ctx, 5*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 { // both listeners
		if err := <-c.errc; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}
	for _, secret := range []string{"llm-key", "dg-key", "tx-key"} {
		if strings.Contains(c.logs.String(), secret) {
			t.Errorf("the log shows the API key %q", secret)
		}
	}
}

// waitTransfer waits for Telnyx to receive a transfer to the agent's number,
// with the warm handoff for the reason and the words given.
func (c *cloud) waitTransfer(ctx context.Context, t *testing.T, reason, why, said string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd, err := c.tx.Wait(wctx, func(c callcontroltest.Command) bool { return c.Applied && c.Action == "transfer" })
	if err != nil {
		t.Fatalf("no transfer reached Telnyx: %v\n%s", err, c.logs.String())
	}
	if cmd.Body["to"] != "+15550009999" || !strings.HasPrefix(cmd.CallControlID, "v3:sim-") {
		t.Errorf("transfer %+v", cmd)
	}
	// The warm handoff rides on the transfer: the human's leg carries the
	// call, why it was handed over and the summary.
	raw, _ := cmd.Body["target_leg_client_state"].(string)
	state, err := base64.StdEncoding.DecodeString(raw)
	var handoff struct {
		Call    string `json:"iace_call_id"`
		Reason  string `json:"escalation_reason"`
		Summary string `json:"summary"`
	}
	if err != nil || json.Unmarshal(state, &handoff) != nil {
		t.Fatalf("target_leg_client_state %q is not the handoff: %v", raw, err)
	}
	if handoff.Call == "" || handoff.Reason != reason ||
		!strings.Contains(handoff.Summary, "Handed over because "+why) || !strings.Contains(handoff.Summary, said) {
		t.Errorf("handoff %+v", handoff)
	}
}

func TestCloudProvidersHandACallerToAHuman(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := startCloud(ctx, t, openaitest.ChatReply{
		Text:      []string{"Of course. ", "Let me connect you ", "to a colleague now."},
		ToolCalls: []openaitest.ToolCall{{Name: "transfer_to_human", Arguments: `{"reason":"caller asked"}`, Fragments: 3}},
	})
	rep, err := sim.Run(ctx, sim.Config{
		URL:    c.url,
		Calls:  1,
		Script: []string{"I want to talk to a human"},
		Seed:   3,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The model's reason is its own words, not caller_request: it gave up.
	c.waitTransfer(ctx, t, "model_tool", "the agent could not help", "I want to talk to a human")
	if rep.CallsCompleted != 1 || rep.GreetingsHeard != 1 || rep.TurnsAnswered != 1 {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Errorf("the caller's view:\n%s", b.String())
	}
	reqs := c.llm.Requests()
	if len(reqs) == 0 || reqs[0].Chat == nil {
		t.Fatal("the LLM was not asked")
	}
	chat := reqs[0].Chat
	if chat.Model != "support-model" || chat.Temperature == nil || *chat.Temperature != 0.3 ||
		chat.MaxCompletionTokens == nil || *chat.MaxCompletionTokens != 120 {
		t.Errorf("the agent's model settings did not reach the model: %s", reqs[0].Body)
	}
	text := func(m openaitest.Message) string {
		if m.Content == nil {
			return ""
		}
		return *m.Content
	}
	last := chat.Messages[len(chat.Messages)-1]
	if !strings.Contains(text(last), "I want to talk to a human") || text(chat.Messages[0]) != "Be brief." {
		t.Errorf("the LLM was asked %+v", chat.Messages)
	}
	if !slices.ContainsFunc(chat.Tools, func(tl openaitest.Tool) bool { return tl.Function.Name == "transfer_to_human" }) {
		t.Errorf("tools offered: %+v", chat.Tools)
	}
	if n := len(c.dg.Speaks()); n < 2 {
		t.Errorf("%d Aura requests: want the greeting and the answer", n)
	}
	c.stop(ctx, t)
}

// TestATransferThePolicyRefusesBecomesAHangup: the organization allows
// transfers to the UK only, so the agent's US transfer number (set in an
// agents file, which no API checked) is refused when the model hands the
// caller over: Telnyx is asked to hang up, never to transfer.
func TestATransferThePolicyRefusesBecomesAHangup(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := startCloud(ctx, t, openaitest.ChatReply{
		Text:      []string{"Of course. ", "Let me connect you."},
		ToolCalls: []openaitest.ToolCall{{Name: "transfer_to_human", Arguments: `{"reason":"caller asked"}`}},
	})
	if _, err := c.s.stores.cached.SetTransferPolicy(ctx, "demo", store.TransferPolicy{Allow: []string{"+44"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Run(ctx, sim.Config{URL: c.url, Calls: 1, Script: []string{"I want to talk to a human"}, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if _, err := c.tx.Wait(wctx, func(c callcontroltest.Command) bool { return c.Action == "hangup" }); err != nil {
		t.Fatalf("the refused transfer did not become a hang-up: %v\n%s", err, c.logs.String())
	}
	c.stop(ctx, t)
	for _, cmd := range c.tx.Commands() {
		if cmd.Action == "transfer" {
			t.Errorf("a transfer the policy refuses reached Telnyx: %+v", cmd)
		}
	}
	if !strings.Contains(c.logs.String(), "transfer refused by the organization's transfer policy") ||
		strings.Contains(c.logs.String(), "+15550009999") {
		t.Error("the refusal is not logged, or the number is in the log unmasked")
	}
}

// TestModelOutageGetsTheHoldingPhraseAndATransfer: the LLM answers 503 every
// time; the caller hears the holding phrase, not silence, and is handed to a
// human.
func TestModelOutageGetsTheHoldingPhraseAndATransfer(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := startCloud(ctx, t, openaitest.ChatReply{Fault: openaitest.FaultUnavailable})
	rep, err := sim.Run(ctx, sim.Config{URL: c.url, Calls: 1, Script: []string{"I want to talk to a human"}, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	c.waitTransfer(ctx, t, "provider_failure", "the AI agent failed", "I want to talk to a human")
	if rep.CallsCompleted != 1 || rep.TurnsAnswered != 1 {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Errorf("the caller was not answered:\n%s", b.String())
	}
	if n := len(c.llm.Requests()); n < 2 {
		t.Errorf("%d LLM requests: a 503 is retried", n)
	}
	if !strings.Contains(c.logs.String(), "holding phrase") {
		t.Error("the log does not say the holding phrase was used")
	}
	// Each failed attempt is logged with the call it served and its status.
	attempts := 0
	for line := range strings.SplitSeq(c.logs.String(), "\n") {
		var l struct {
			Msg       string `json:"msg"`
			Call      string `json:"call_id"`
			Status    int    `json:"status"`
			Operation string `json:"operation"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "provider attempt" && l.Operation == "chat" {
			if l.Call == "" || l.Status != http.StatusServiceUnavailable {
				t.Errorf("attempt log without its call or status: %s", line)
			}
			attempts++
		}
	}
	if attempts < 2 {
		t.Errorf("%d attempts logged; every attempt of the model's 503s should be", attempts)
	}
	c.stop(ctx, t)
}

// TestBargeInCancelsTheModelMidAnswer: the caller talks over an answer the
// model is still streaming; the session cancels the request and the fake
// LLM sees its connection go within 50 ms of the barge-in.
func TestBargeInCancelsTheModelMidAnswer(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	slow := []string{"Sure, let me explain our opening hours. "}
	for range 20 {
		slow = append(slow, "and then some more words ")
	}
	c := startCloud(ctx, t, openaitest.ChatReply{Text: slow, ChunkDelay: 150 * time.Millisecond})
	rep, err := sim.Run(ctx, sim.Config{URL: c.url, Calls: 1, BargeIn: 1, Seed: 5,
		Script: []string{"what are your opening hours", "goodbye"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.BargeIns != 1 || rep.BargeInsClear != 1 {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Fatalf("no barge-in with clear:\n%s", b.String())
	}
	var canceled time.Time
	select {
	case cn := <-c.llm.Cancellations():
		canceled = cn.At
	case <-time.After(5 * time.Second):
		t.Fatal("the LLM request was not cancelled")
	}
	c.stop(ctx, t)
	// The session cancels the reply, then logs the barge-in: the
	// cancellation may reach the LLM before the log line is stamped.
	bargedIn := logTime(t, c.logs.String(), "caller barged in")
	if d := canceled.Sub(bargedIn); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("the LLM saw the cancellation %v after the barge-in, want within 50 ms", d)
	} else {
		t.Logf("the LLM saw the cancellation %v after the barge-in", d)
	}
}

// logTime returns the time of the first JSON log line whose message is msg.
func logTime(t *testing.T, logs, msg string) time.Time {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return rec.Time
		}
	}
	t.Fatalf("no log line %q", msg)
	return time.Time{}
}

// TestFakesCommandTellsHowToPointServeAtThem: `iace fakes` starts the three
// fakes and prints the flags and keys for iace serve, then stops with ctx.
func TestFakesCommandTellsHowToPointServeAtThem(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	out := &syncWriter{w: &bytes.Buffer{}}
	done := make(chan error, 1)
	go func() { done <- fakes(ctx, []string{"--llm-first-token", "10ms"}, out, io.Discard) }()
	waitFor := time.Now().Add(5 * time.Second)
	for {
		out.mu.Lock()
		text := out.w.(*bytes.Buffer).String()
		out.mu.Unlock()
		if strings.Contains(text, "LLM first token 10ms") {
			for _, want := range []string{envLLMKey + "=" + fakeKey, "--llm-base-url http://127.0.0.1:", "--deepgram-url ws://127.0.0.1:", "--telnyx-api-url http://127.0.0.1:"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			break
		}
		if time.Now().After(waitFor) {
			t.Fatalf("no instructions printed: %q", text)
		}
		time.Sleep(10 * time.Millisecond) //nolint:forbidigo // polling output written by another goroutine
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTheModelLooksUpTheCaller: the model has the caller's PIN checked
// (verify_caller: the agent asks for one), then calls lookup_customer; the
// session answers with the caller's record from the store and the model,
// asked again with that answer, greets the caller by name.
func TestTheModelLooksUpTheCaller(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := startCloud(ctx, t, openaitest.ChatReply{Text: []string{"Nice to hear from you again, Ada. ", "How can I help?"}})
	c.llm.EnqueueChat(openaitest.ChatReply{ToolCalls: []openaitest.ToolCall{{ID: "call_pin", Name: "verify_caller", Arguments: `{"answer":"4921"}`}}})
	c.llm.EnqueueChat(openaitest.ChatReply{ToolCalls: []openaitest.ToolCall{{ID: "call_who", Name: "lookup_customer"}}})
	pin, err := store.HashVerifier("4921")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.stores.cached.CreateCustomer(ctx, store.Customer{OrgID: "demo", Phone: "+15550000001", Name: "Ada Lovelace",
		MemorySummary: "Prefers email follow-ups.", Verifiers: map[string]string{"pin": pin}}); err != nil {
		t.Fatal(err)
	}
	rep, err := sim.Run(ctx, sim.Config{URL: c.url, Calls: 1, Script: []string{"Hello, it's me again"}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	c.stop(ctx, t)
	if rep.CallsCompleted != 1 || rep.TurnsAnswered != 1 {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Fatalf("the caller's view:\n%s", b.String())
	}
	reqs := c.llm.Requests()
	if len(reqs) < 3 || reqs[0].Chat == nil || reqs[2].Chat == nil {
		t.Fatalf("%d requests to the model, want the question and two follow-ups", len(reqs))
	}
	if !slices.ContainsFunc(reqs[0].Chat.Tools, func(tl openaitest.Tool) bool { return tl.Function.Name == "lookup_customer" }) {
		t.Error("lookup_customer was not offered")
	}
	msgs := reqs[2].Chat.Messages
	last := msgs[len(msgs)-1]
	if last.Role != "tool" || last.ToolCallID != "call_who" || last.Content == nil ||
		!strings.Contains(*last.Content, `"name":"Ada Lovelace"`) || !strings.Contains(*last.Content, "Prefers email") {
		t.Fatalf("the follow-up's last message %+v", last)
	}
	if prev := msgs[len(msgs)-2]; prev.Role != "assistant" || len(prev.ToolCalls) != 1 || prev.ToolCalls[0].Function.Name != "lookup_customer" {
		t.Errorf("the follow-up does not carry the model's tool call: %+v", prev)
	}
	// The PIN as a number of its own: ports, ids and durations in the log
	// may hold its digits.
	if logs := c.logs.String(); strings.Contains(logs, "Ada Lovelace") || regexp.MustCompile(`(^|[^0-9.])4921([^0-9]|$)`).MatchString(logs) {
		t.Errorf("the customer's name or PIN reached the log:\n%s", c.logs.String())
	}
}

// TestTheAgentsPatternsReachTheModel: a pattern the organization's agent
// learned (or was given) is read when the call starts, without holding up
// the greeting, and is in the model's context when the caller asks; the
// reply it informed counts as its use, a success since the call resolved.
func TestTheAgentsPatternsReachTheModel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := startCloud(ctx, t, openaitest.ChatReply{Text: []string{"Yes, we deliver on Saturdays until noon."}})
	vec := make([]float32, store.EmbeddingDims)
	vec[0] = 1
	var used store.Pattern
	for i, p := range []store.Pattern{
		{Trigger: "do you deliver on saturdays", Response: "Yes, Saturdays until noon.", Uses: 7, Successes: 6},
		{Trigger: "an old answer", Response: "Disabled, never said.", Uses: 50, Status: store.PatternDisabled},
	} {
		p.OrgID, p.AgentID, p.Kind, p.Embedding = "demo", "demo", "faq", vec
		made, err := c.s.stores.cached.CreatePattern(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			used = made
		}
	}
	if _, err := sim.Run(ctx, sim.Config{URL: c.url, Calls: 1, Script: []string{"do you deliver on saturdays"}, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	// The reply repeated the pattern's answer and the call was resolved:
	// once its record is written, the pattern's use and success are counted.
	var got store.Pattern
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if got, err = c.s.stores.backend.GetPattern(ctx, "demo", used.ID); err != nil {
			t.Fatal(err)
		}
		if got.Uses != used.Uses || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the record is written after the call, off its path: polling, not a race
	}
	if got.Uses != 8 || got.Successes != 7 {
		t.Errorf("pattern used %d times, %d successes; want 8 and 7 (one more each)", got.Uses, got.Successes)
	}
	c.stop(ctx, t)
	reqs := c.llm.Requests()
	if len(reqs) == 0 || reqs[0].Chat == nil {
		t.Fatal("the model was not asked")
	}
	context := ""
	for _, m := range reqs[0].Chat.Messages {
		if m.Role == "system" && m.Content != nil {
			context += *m.Content + "\n"
		}
	}
	if !strings.Contains(context, "Q: do you deliver on saturdays A: Yes, Saturdays until noon.") {
		t.Errorf("the model's context lacks the agent's pattern:\n%s", context)
	}
	if strings.Contains(context, "Disabled, never said.") {
		t.Error("a disabled pattern reached the model")
	}
}
