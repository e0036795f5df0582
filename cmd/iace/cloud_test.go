package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
)

// TestCloudProvidersHandACallerToAHuman runs iace serve with the real cloud
// clients pointed at fakes that speak each vendor's wire protocol: the
// simulated caller speaks, the fake Deepgram returns the transcript, the fake
// LLM streams an answer with a transfer_to_human tool call, the caller hears
// the answer (Aura), and the fake Telnyx API receives the transfer to the
// agent's transfer number.
func TestCloudProvidersHandACallerToAHuman(t *testing.T) {
	dg := deepgramtest.NewServer(deepgramtest.Config{APIKey: "dg-key", Transcripts: []string{"I want to talk to a human"}})
	defer dg.Close()
	llm := openaitest.Start(openaitest.Options{APIKey: "llm-key"})
	defer llm.Close()
	llm.SetDefaultChat(openaitest.ChatReply{
		Text:      []string{"Of course. ", "Let me connect you ", "to a colleague now."},
		ToolCalls: []openaitest.ToolCall{{Name: "transfer_to_human", Arguments: `{"reason":"caller asked"}`, Fragments: 3}},
	})
	tx := callcontroltest.NewServer("tx-key")
	defer tx.Close()

	dir := t.TempDir()
	agents := filepath.Join(dir, "agents.json")
	if err := os.WriteFile(agents, []byte(`{"id":"demo","org_id":"demo","name":"Support","greeting":"Hello, how can I help?",
		"fallback":"Sorry?","system_prompt":"Be brief.","transfer_number":"+15550009999"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--data-dir", dir,
		"--agents-file", agents, "--llm-base-url", llm.URL, "--deepgram-url", dg.URL(), "--telnyx-api-url", tx.BaseURL()},
		env(map[string]string{envLLMKey: "llm-key", envDeepgramKey: "dg-key", envTelnyxKey: "tx-key"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs bytes.Buffer
	s, err := newServer(ctx, cfg, &syncWriter{w: &logs})
	if err != nil {
		t.Fatal(err)
	}
	errc := s.start()

	rep, err := sim.Run(ctx, sim.Config{
		URL:    "ws://" + s.publicLn.Addr().String() + "/media/telnyx",
		Calls:  1,
		Script: []string{"I want to talk to a human"},
		Seed:   3,
	})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	cmd, err := tx.Wait(wctx, func(c callcontroltest.Command) bool { return c.Applied && c.Action == "transfer" })
	if err != nil {
		t.Fatalf("no transfer reached Telnyx: %v\n%s", err, logs.String())
	}
	if cmd.Body["to"] != "+15550009999" || !strings.HasPrefix(cmd.CallControlID, "v3:sim-") {
		t.Errorf("transfer %+v", cmd)
	}
	if rep.CallsCompleted != 1 || rep.GreetingsHeard != 1 || rep.TurnsAnswered != 1 {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Errorf("the caller's view:\n%s", b.String())
	}
	reqs := llm.Requests()
	if len(reqs) == 0 || reqs[0].Chat == nil {
		t.Fatal("the LLM was not asked")
	}
	chat := reqs[0].Chat
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
	if n := len(dg.Speaks()); n < 2 {
		t.Errorf("%d Aura requests: want the greeting and the answer", n)
	}
	if err := s.shutdown(ctx, 5*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 { // both listeners
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}
	for _, secret := range []string{"llm-key", "dg-key", "tx-key"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows the API key %q", secret)
		}
	}
}
