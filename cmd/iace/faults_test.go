package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/deepgram"
	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// The session's interfaces, met by the cloud clients.
var (
	_ session.Transcriber = (*deepgram.Client)(nil)
	_ session.Synthesizer = (*deepgram.Client)(nil)
	_ session.ChatModel   = (*openai.Client)(nil)
)

const (
	faultTransferTo = "+15550009999"
	faultUtterance  = "I want to talk to a human"
	faultReply      = "Of course. Let me connect you to a colleague now."
)

// faultRig is a session engine wired, as iace serve wires it, to the real
// Deepgram, OpenAI-compatible and Call Control clients, each pointed at its
// vendor's fake, with timeouts and backoffs short enough for a test.
type faultRig struct {
	dg     *deepgramtest.Server
	llm    *openaitest.Server
	tx     *callcontroltest.Server
	engine *session.Engine
	chat   *openai.Client
	reg    *prometheus.Registry
	logs   *logBuffer
	url    string
	ended  chan session.CallSummary
}

// rigOptions changes a rig before it starts.
type rigOptions struct {
	dg func(*deepgramtest.Config)
	// sttURL replaces the fake as the transcriber's server (connection refused).
	sttURL string
	llm    func(*openai.Config)
	agent  func(*store.Agent)
}

func newFaultRig(t *testing.T, o rigOptions) *faultRig {
	t.Helper()
	dgc := deepgramtest.Config{APIKey: "dg-key", Transcripts: []string{faultUtterance}, Repeat: true}
	if o.dg != nil {
		o.dg(&dgc)
	}
	r := &faultRig{
		dg:    deepgramtest.NewServer(dgc),
		llm:   openaitest.Start(openaitest.Options{APIKey: "llm-key"}),
		tx:    callcontroltest.NewServer("tx-key"),
		reg:   prometheus.NewRegistry(),
		logs:  &logBuffer{},
		ended: make(chan session.CallSummary, 4),
	}
	t.Cleanup(r.dg.Close)
	t.Cleanup(r.llm.Close)
	t.Cleanup(r.tx.Close)
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	newDeepgram := func(base string) *deepgram.Client {
		c := deepgram.DefaultConfig()
		c.BaseURL, c.APIKey, c.Registerer, c.Logger = base, "dg-key", r.reg, log
		c.DialTimeout = time.Second
		c.Resilience.Backoff, c.Resilience.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
		c.Resilience.SpeakRetries = 1
		c.Resilience.FirstByteTimeout = time.Second
		dc, err := deepgram.New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dc.Close() })
		return dc
	}
	tts := newDeepgram(r.dg.URL())
	stt := tts
	if o.sttURL != "" {
		stt = newDeepgram(o.sttURL)
	}
	oc := openai.Config{BaseURL: r.llm.URL, APIKey: "llm-key", Registerer: r.reg, Logger: log,
		FirstByteTimeout: time.Second, Retry: openai.RetryConfig{MaxAttempts: 2, BackoffBase: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond}}
	if o.llm != nil {
		o.llm(&oc)
	}
	chat, err := openai.New(oc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chat.Close() })
	r.chat = chat
	cc := callcontrol.DefaultConfig()
	cc.BaseURL, cc.APIKey, cc.Registerer, cc.Logger = r.tx.BaseURL(), "tx-key", r.reg, log
	cc.RetryBaseDelay, cc.RetryMaxDelay = 10*time.Millisecond, 50*time.Millisecond
	calls, err := callcontrol.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(calls.Close)

	agent := store.Agent{ID: "demo", OrgID: "demo", Name: "Support", Greeting: "Hello, how can I help?", Fallback: "Sorry?",
		SystemPrompt: "Be brief.", TransferNumber: faultTransferTo,
		Escalation: store.EscalationRules{TransferToHumanTools: true}}
	if o.agent != nil {
		o.agent(&agent)
	}
	agents, err := store.NewStaticAgents([]store.Agent{agent})
	if err != nil {
		t.Fatal(err)
	}
	pacer, err := media.NewPacer(media.DefaultPacerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pacer.Close)
	r.engine, err = session.NewEngine(session.DefaultConfig(), session.Deps{
		Agents: agents, STT: stt, Chat: chat, Synth: tts, Calls: telnyxCalls{calls}, Pacer: pacer,
		OnEnd:   func(_ context.Context, s session.CallSummary) { r.ended <- s },
		Metrics: session.NewMetrics(r.reg), Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	// What iace serve does at start: the holding phrase is rendered while
	// the synthesizer is up (Aura request 0).
	if err := r.engine.PrerenderHolding(t.Context(), agent.Voice, agent.Language, media.PCMU8k); err != nil {
		t.Fatal(err)
	}
	conn := telnyx.DefaultConnConfig()
	conn.AllowUnauthenticated = true // the simulator plays Telnyx without a stream token
	srv := httptest.NewServer(telnyx.NewHandler(conn, r.engine, telnyx.NewMetrics(nil), log))
	t.Cleanup(srv.Close)
	r.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return r
}

// call places one simulated call saying lines and returns what the server
// recorded of it.
func (r *faultRig) call(t *testing.T, lines ...string) (sim.Report, session.CallSummary) {
	t.Helper()
	rep, err := sim.Run(t.Context(), sim.Config{URL: r.url, Calls: 1, Script: lines, Seed: 7, CallTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case sum := <-r.ended:
		return rep, sum
	case <-time.After(10 * time.Second):
		t.Fatalf("the call did not end\n%s", r.logs)
		return rep, session.CallSummary{}
	}
}

// said is what the agent said in the call, one entry per turn.
func said(sum session.CallSummary) []string {
	var out []string
	for _, tr := range sum.Transcript {
		if tr.Speaker == ai.RoleAssistant {
			out = append(out, tr.Text)
		}
	}
	return out
}

// transferred reports whether Telnyx applied a transfer to the agent's number.
func (r *faultRig) transferred() bool {
	return slices.ContainsFunc(r.tx.Commands(), func(c callcontroltest.Command) bool {
		return c.Applied && c.Action == "transfer" && c.Body["to"] == faultTransferTo
	})
}

func (r *faultRig) speaksOf(text string) int {
	n := 0
	for _, s := range r.dg.Speaks() {
		if s.Text == text {
			n++
		}
	}
	return n
}

func (r *faultRig) gauge(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return -1
}

var transferReply = openaitest.ChatReply{Text: []string{"Of course. ", "Let me connect you ", "to a colleague now."},
	ToolCalls: []openaitest.ToolCall{{Name: "transfer_to_human", Arguments: `{"reason":"caller_request"}`}}}

// expectAnswered: the caller heard the model's answer, no holding phrase,
// and was handed over as the model asked.
func expectAnswered(t *testing.T, r *faultRig, sum session.CallSummary) {
	t.Helper()
	got := said(sum)
	if !slices.Contains(got, faultReply) || slices.Contains(got, session.DefaultConfig().HoldingPhrase) {
		t.Errorf("the agent said %q: want the answer and no holding phrase\n%s", got, r.logs)
	}
	expectTransfer(t, r, sum)
	if sum.Escalation != store.EscalationCallerRequest || sum.Outcome() != store.OutcomeEscalated {
		t.Errorf("recorded as escalation %q, outcome %q; want caller_request, escalated", sum.Escalation, sum.Outcome())
	}
}

// expectHeldAndTransferred: the caller heard the holding phrase and was
// handed to a human.
func expectHeldAndTransferred(t *testing.T, r *faultRig, sum session.CallSummary) {
	t.Helper()
	if got := said(sum); !slices.Contains(got, session.DefaultConfig().HoldingPhrase) {
		t.Errorf("the agent said %q: want the holding phrase\n%s", got, r.logs)
	}
	expectTransfer(t, r, sum)
	// Handed over because a provider failed: not an escalation anybody chose.
	if sum.Escalation != store.EscalationProviderFailure || sum.Outcome() != store.OutcomeFailed {
		t.Errorf("recorded as escalation %q, outcome %q; want provider_failure, failed", sum.Escalation, sum.Outcome())
	}
}

func expectTransfer(t *testing.T, r *faultRig, sum session.CallSummary) {
	t.Helper()
	if sum.EndReason != session.EndTransfer || !r.transferred() {
		t.Errorf("end reason %q, transfer reached Telnyx: %v; want a transfer to %s", sum.EndReason, r.transferred(), faultTransferTo)
	}
}

// TestFaultMatrix plays each fault of each provider in a call through the
// real clients and the vendors' fakes, and checks what the caller gets.
func TestFaultMatrix(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	holding := session.DefaultConfig().HoldingPhrase
	rows := []struct {
		name  string
		opts  rigOptions
		setup func(r *faultRig)
		check func(t *testing.T, r *faultRig, rep sim.Report, sum session.CallSummary)
	}{
		{
			name: "stt connection refused: the caller hears the holding phrase and is transferred",
			opts: rigOptions{sttURL: deadURL(t)},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectHeldAndTransferred(t, r, sum)
				if got := said(sum); len(got) != 1 {
					t.Errorf("the agent said %q: no greeting without a transcriber, only the holding phrase", got)
				}
			},
		},
		{
			name: "stt 503 on the upgrade: the open is retried and the call goes on",
			opts: rigOptions{dg: func(c *deepgramtest.Config) {
				c.ListenFaults = []deepgramtest.ListenFault{{Status: http.StatusServiceUnavailable}}
			}},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectAnswered(t, r, sum)
				if l := r.dg.Listens(); len(l) != 2 || l[0].Upgraded || !l[1].Upgraded {
					t.Errorf("listen connections %+v: want a refused one, then one upgraded", l)
				}
			},
		},
		{
			name: "stt stream cut: the socket is redialled and the call goes on",
			opts: rigOptions{dg: func(c *deepgramtest.Config) { c.ListenFaults = []deepgramtest.ListenFault{{DropAfter: 10}} }},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectAnswered(t, r, sum)
				if l := r.dg.Listens(); len(l) < 2 {
					t.Errorf("%d listen connections: want a redial after the cut", len(l))
				}
			},
		},
		{
			name: "llm 429 with Retry-After: retried after the wait, then answered",
			setup: func(r *faultRig) {
				r.llm.EnqueueChat(openaitest.ChatReply{Fault: openaitest.FaultRateLimit, RetryAfter: time.Second}, transferReply)
			},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectAnswered(t, r, sum)
				reqs := r.llm.Requests()
				if len(reqs) != 2 || reqs[1].Received.Sub(reqs[0].Received) < time.Second {
					t.Errorf("%d chat requests: want 2, the second at least 1 s after the 429", len(reqs))
				}
			},
		},
		{
			name:  "llm 503: retried, then the holding phrase and a transfer",
			setup: func(r *faultRig) { r.llm.SetDefaultChat(openaitest.ChatReply{Fault: openaitest.FaultUnavailable}) },
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectHeldAndTransferred(t, r, sum)
				if n := len(r.llm.Requests()); n != 2 {
					t.Errorf("%d chat requests: want 2 (MaxAttempts)", n)
				}
			},
		},
		{
			name: "llm first byte slower than the timeout: the holding phrase and a transfer",
			setup: func(r *faultRig) {
				r.llm.SetDefaultChat(openaitest.ChatReply{FirstByteDelay: 5 * time.Second, Text: []string{"too late"}})
			},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectHeldAndTransferred(t, r, sum)
				if n := r.llm.CancelCount(); n < 2 {
					t.Errorf("the fake saw %d abandoned requests: want each timed-out attempt abandoned", n)
				}
			},
		},
		{
			name: "llm stream cut halfway: what came is said, never asked again, then the holding phrase and a transfer",
			setup: func(r *faultRig) {
				r.llm.SetDefaultChat(openaitest.ChatReply{Text: []string{"Let me look that up for you. ", "Your account shows ", "that"},
					Fault: openaitest.FaultCut, CutAfter: 3})
			},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectHeldAndTransferred(t, r, sum)
				if got := said(sum); !slices.Contains(got, "Let me look that up for you.") {
					t.Errorf("the agent said %q: want the sentence that came before the cut", got)
				}
				if n := len(r.llm.Requests()); n != 1 {
					t.Errorf("%d chat requests: a half-streamed answer must not be asked again", n)
				}
			},
		},
		{
			name:  "tts 429: retried after Retry-After, then answered",
			opts:  rigOptions{dg: func(c *deepgramtest.Config) { c.SpeakFaults = faultsFrom(2, deepgramtest.SpeakFault{Status: 429}) }},
			setup: func(r *faultRig) { r.llm.SetDefaultChat(transferReply) },
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectAnswered(t, r, sum)
				if n := r.speaksOf(faultReply); n != 2 {
					t.Errorf("%d Aura requests for the answer: want the 429 and its retry", n)
				}
			},
		},
		{
			name: "tts 503: the pre-rendered holding phrase plays and the caller is transferred",
			opts: rigOptions{dg: func(c *deepgramtest.Config) {
				c.SpeakFaults = faultsFrom(2, slices.Repeat([]deepgramtest.SpeakFault{{Status: 503}}, 8)...)
			}},
			setup: func(r *faultRig) { r.llm.SetDefaultChat(transferReply) },
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				if got := said(sum); !slices.Contains(got, holding) {
					t.Errorf("the agent said %q: want the holding phrase", got)
				}
				expectTransfer(t, r, sum)
				// The caller had asked for a person and the model had agreed
				// before the voice failed: the transfer is theirs, not the failure's.
				if sum.Escalation != store.EscalationCallerRequest || sum.Outcome() != store.OutcomeEscalated {
					t.Errorf("recorded as escalation %q, outcome %q; want caller_request, escalated", sum.Escalation, sum.Outcome())
				}
				if n := r.speaksOf(holding); n != 1 {
					t.Errorf("%d Aura requests for the holding phrase: want only the one at start", n)
				}
			},
		},
		{
			name: "tts stream cut halfway: the holding phrase and a transfer",
			opts: rigOptions{dg: func(c *deepgramtest.Config) { c.SpeakFaults = faultsFrom(2, deepgramtest.SpeakFault{CutAfter: 800}) }},
			setup: func(r *faultRig) {
				r.llm.SetDefaultChat(openaitest.ChatReply{Text: []string{"We are open from nine to five on weekdays."}})
			},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectHeldAndTransferred(t, r, sum)
			},
		},
		{
			name: "call control 5xx on transfer: retried, the transfer reaches Telnyx",
			setup: func(r *faultRig) {
				r.llm.SetDefaultChat(transferReply)
				r.tx.Fail(callcontroltest.Fault{Action: "transfer", Status: http.StatusInternalServerError})
			},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				expectAnswered(t, r, sum)
				var statuses []int
				for _, c := range r.tx.Commands() {
					if c.Action == "transfer" {
						statuses = append(statuses, c.Status)
					}
				}
				if !slices.Equal(statuses, []int{500, 200}) {
					t.Errorf("transfer answers %v: want 500 then 200", statuses)
				}
			},
		},
		{
			name: "call control refuses the transfer: the caller is hung up and the record says the transfer failed",
			setup: func(r *faultRig) {
				r.llm.SetDefaultChat(transferReply)
				r.tx.Fail(callcontroltest.Fault{Action: "transfer", Status: http.StatusForbidden, Times: 10})
			},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				if sum.EndReason != session.EndTransferFailed || sum.Outcome() != store.OutcomeFailed ||
					sum.Escalation != store.EscalationCallerRequest {
					t.Errorf("recorded %q / %q / escalation %q; want transfer_failed, failed, caller_request",
						sum.EndReason, sum.Outcome(), sum.Escalation)
				}
				if !slices.ContainsFunc(r.tx.Commands(), func(c callcontroltest.Command) bool { return c.Applied && c.Action == "hangup" }) {
					t.Error("the caller was not hung up after the failed transfer")
				}
			},
		},
		{
			name: "call control 422 90018 on hang-up: the call counts as hung up",
			setup: func(r *faultRig) {
				r.llm.SetDefaultChat(openaitest.ChatReply{Text: []string{"Thanks for calling, goodbye."},
					ToolCalls: []openaitest.ToolCall{{Name: "end_call", Arguments: `{"reason":"done"}`}}})
				r.tx.Fail(callcontroltest.Fault{Action: "hangup", Status: http.StatusUnprocessableEntity, Code: callcontroltest.CodeCallEnded})
			},
			check: func(t *testing.T, r *faultRig, _ sim.Report, sum session.CallSummary) {
				if sum.EndReason != session.EndAgentHangup {
					t.Errorf("end reason %q, want agent_hangup", sum.EndReason)
				}
				cmds := r.tx.Commands()
				if len(cmds) != 1 || cmds[0].Action != "hangup" || cmds[0].Status != 422 {
					t.Errorf("commands %+v: want one hang-up answered 422, not retried", cmds)
				}
				if strings.Contains(r.logs.String(), "hang-up failed") {
					t.Error("a hang-up of an ended call was logged as failed")
				}
			},
		},
	}
	t.Run("rows", func(t *testing.T) {
		for _, row := range rows {
			t.Run(row.name, func(t *testing.T) {
				t.Parallel()
				r := newFaultRig(t, row.opts)
				if row.setup != nil {
					row.setup(r)
				} else {
					r.llm.SetDefaultChat(transferReply)
				}
				rep, sum := r.call(t, faultUtterance)
				row.check(t, r, rep, sum)
			})
		}
	})
	goleak.VerifyNone(t, ignore)
}

// TestTheLLMBreakerOpensAndAHalfOpenProbeClosesIt: consecutive failures open
// the chat breaker; while open, requests fail at once without reaching the
// provider; after the delay one probe goes through and closes it.
func TestTheLLMBreakerOpensAndAHalfOpenProbeClosesIt(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	const delay = 300 * time.Millisecond
	t.Run("with the rig", func(t *testing.T) { // its cleanups run before the leak check
		r := newFaultRig(t, rigOptions{llm: func(c *openai.Config) {
			c.Retry.MaxAttempts = 1
			c.Breaker = openai.BreakerConfig{Failures: 3, Delay: delay, Successes: 1}
		}})
		r.llm.EnqueueChat(slices.Repeat([]openaitest.ChatReply{{Fault: openaitest.FaultUnavailable}}, 3)...)
		r.llm.SetDefaultChat(openaitest.ChatReply{Text: []string{"back again"}})
		ask := func() error {
			s, err := r.chat.Chat(t.Context(), ai.ChatRequest{Messages: []ai.Message{{Role: ai.RoleUser, Content: "hi"}}})
			if err != nil {
				return err
			}
			defer func() { _ = s.Close() }()
			for {
				if _, err := s.Recv(); err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
			}
		}
		for i := range 3 {
			if err := ask(); err == nil {
				t.Fatalf("request %d succeeded against a 503", i)
			}
		}
		openedAt := time.Now()
		labels := map[string]string{"operation": "chat"}
		if v := r.gauge(t, "iace_openai_breaker_state", labels); v != 2 {
			t.Errorf("breaker state %v after 3 failures, want 2 (open)", v)
		}
		if err := ask(); err == nil || len(r.llm.Requests()) != 3 {
			t.Errorf("with the breaker open: err %v, %d requests reached the provider; want a refusal and 3", err, len(r.llm.Requests()))
		}
		// Ask until the half-open probe is let through: not before the delay.
		for ask() != nil {
			if time.Since(openedAt) > 5*time.Second {
				t.Fatal("the breaker never let a probe through")
			}
			time.Sleep(20 * time.Millisecond) //nolint:forbidigo // polling the breaker's delay, which is real time in the client
		}
		if d := time.Since(openedAt); d < delay {
			t.Errorf("a probe went through %v after the breaker opened, before its %v delay", d, delay)
		}
		if v := r.gauge(t, "iace_openai_breaker_state", labels); v != 0 {
			t.Errorf("breaker state %v after a good probe, want 0 (closed)", v)
		}
		if n := len(r.llm.Requests()); n != 4 {
			t.Errorf("%d requests reached the provider: want 3 failures and 1 probe", n)
		}
	})
	goleak.VerifyNone(t, ignore)
}

// TestBargeInCancelsAuraMidSentence: the caller talks over an answer whose
// audio Aura is still streaming; the session cancels the synthesis and the
// fake sees the request go within 50 ms of the barge-in.
func TestBargeInCancelsAuraMidSentence(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Run("with the rig", func(t *testing.T) { // its cleanups run before the leak check
		r := newFaultRig(t, rigOptions{dg: func(c *deepgramtest.Config) {
			// 100 ms of audio every 150 ms: slower than real time, so the
			// answer is still streaming when the caller cuts in.
			c.ChunkDelay = 150 * time.Millisecond
			c.Transcripts = []string{"what are your opening hours", "goodbye"}
		}})
		r.llm.EnqueueChat(openaitest.ChatReply{Text: []string{"We are open Monday to Friday from nine in the morning until five in the evening, and on Saturdays from ten until two."}})
		r.llm.SetDefaultChat(openaitest.ChatReply{Text: []string{"Goodbye."}, ToolCalls: []openaitest.ToolCall{{Name: "end_call", Arguments: `{"reason":"done"}`}}})
		rep, err := sim.Run(t.Context(), sim.Config{URL: r.url, Calls: 1, BargeIn: 1, Seed: 5,
			Script: []string{"what are your opening hours", "goodbye"}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.BargeIns != 1 || rep.BargeInsClear != 1 {
			var b bytes.Buffer
			_ = rep.WriteText(&b)
			t.Fatalf("no barge-in with clear:\n%s", b.String())
		}
		<-r.ended
		var canceled time.Time
		deadline := time.After(5 * time.Second)
		for canceled.IsZero() {
			select {
			case ev := <-r.dg.Events():
				if ev.Kind == deepgramtest.EventSpeakCanceled {
					canceled = ev.At
				}
			case <-deadline:
				t.Fatalf("Aura never saw a request cancelled\n%s", r.logs)
			}
		}
		bargedIn := logTime(t, r.logs.String(), "caller barged in")
		if d := canceled.Sub(bargedIn); d < 0 || d > 50*time.Millisecond {
			t.Errorf("Aura saw the cancellation %v after the barge-in, want within 50 ms", d)
		} else {
			t.Logf("Aura saw the cancellation %v after the barge-in", d)
		}
	})
	goleak.VerifyNone(t, ignore)
}

// logBuffer is a log sink many goroutines write to and a test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// faultsFrom places faults from the n-th Aura request on (request 0 renders
// the holding phrase at start, 1 is the greeting).
func faultsFrom(n int, faults ...deepgramtest.SpeakFault) []deepgramtest.SpeakFault {
	return append(make([]deepgramtest.SpeakFault, n), faults...)
}

// deadURL is a ws:// address where nothing listens: connection refused.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "ws://" + addr
}
