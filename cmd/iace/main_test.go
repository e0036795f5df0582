package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media"
	"github.com/iace/iace/store"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(config) bool
	}{
		{"defaults", nil, nil, func(c config) bool { return c.Addr == ":8080" && c.Pacer.Lead == 200*time.Millisecond }},
		{"env overrides the default", nil, map[string]string{"IACE_ADDR": ":9999", "IACE_VAD_MIN_SILENCE": "700ms"},
			func(c config) bool { return c.Addr == ":9999" && c.Session.VAD.MinSilence == 700*time.Millisecond }},
		{"a flag overrides env", []string{"--addr", ":7000"}, map[string]string{"IACE_ADDR": ":9999"},
			func(c config) bool { return c.Addr == ":7000" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := loadConfig([]string{"--pacer-chunk", "30ms", "--log-level", "loud", "--reorder-depth", "0"}, env(nil), io.Discard)
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, want := range []string{"max chunk", "log level", "reorder depth"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	_, err = loadConfig(nil, env(map[string]string{"IACE_DRAIN_TIMEOUT": "soon"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "IACE_DRAIN_TIMEOUT") {
		t.Errorf("a bad env value: %v", err)
	}
	// TURN credentials come from the environment, for a TURN server.
	_, err = loadConfig([]string{"--webrtc-ice-servers", "stun:stun.example.com"}, env(map[string]string{"IACE_TURN_SECRET": "s"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no turn:") {
		t.Errorf("a TURN secret without a TURN server: %v", err)
	}
	cfg, err := loadConfig([]string{"--webrtc-ice-servers", "turn:turn.example.com:3478"}, env(map[string]string{"IACE_TURN_SECRET": "s"}), io.Discard)
	if err != nil || cfg.monitorHTTPConfig().TURN.Secret != "s" {
		t.Errorf("a TURN secret: %v", err)
	}
	// Taking lost calls up needs Redis, Call Control and the public URL:
	// asked for without them, it is refused rather than quietly off.
	_, err = loadConfig([]string{"--recover-lost-calls"}, env(map[string]string{"IACE_REDIS_URL": "redis://127.0.0.1:6379/0"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--recover-lost-calls needs") {
		t.Errorf("--recover-lost-calls without Call Control: %v", err)
	}
	_, err = loadConfig([]string{"--take-calls=false"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--take-calls=false needs") {
		t.Errorf("--take-calls=false without Redis: %v", err)
	}
}

func TestHelpListsEverySettingWithItsDefault(t *testing.T) {
	var out bytes.Buffer
	_, err := loadConfig([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"--addr", "IACE_ADDR", ":8080", "--pacer-lead", "200ms", "--drain-timeout", "30s", "--vad-barge-in-min"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, env(nil), nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "iace ") {
		t.Errorf("version: %q, %v", out.String(), err)
	}
	if err := run(t.Context(), []string{"frobnicate"}, env(nil), nil, io.Discard, io.Discard); err == nil {
		t.Error("an unknown command succeeded")
	}
}

// TestServeHoldsSimulatedCalls runs the real wiring of iace serve in-process
// (offline providers, no database, no keys) and places calls with the call
// simulator over real WebSockets: greetings, answers, barge-ins with clear,
// DTMF, the agent's goodbye; then drains.
func TestServeHoldsSimulatedCalls(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "json",
		"--data-dir", t.TempDir()}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLog()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := newServer(ctx, cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	errc := s.start(t.Context())

	rep, err := sim.Run(ctx, sim.Config{
		URL:      "ws://" + s.publicLn.Addr().String() + "/media/telnyx",
		Calls:    4,
		BargeIn:  0.5,
		DTMF:     1,
		Transfer: 0.5,
		Reorder:  0.03,
		Loss:     0.01,
		Seed:     7,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CallsCompleted != 4 || rep.Failed() {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Fatalf("calls: %s", b.String())
	}
	if rep.Transfers == 0 {
		t.Error("no call asked for a human (seed 7 should give some)")
	}
	if rep.GreetingsHeard != 4 || rep.TurnsAnswered != rep.TurnsSpoken || rep.BargeIns == 0 || rep.BargeInsClear != rep.BargeIns {
		t.Errorf("greetings %d, answered %d of %d, barge-ins %d cleared %d", rep.GreetingsHeard, rep.TurnsAnswered, rep.TurnsSpoken, rep.BargeIns, rep.BargeInsClear)
	}
	t.Logf("reply latency p50 %v p99 %v; barge-in p50 %v", rep.ReplyLatency.P50, rep.ReplyLatency.P99, rep.BargeInLatency.P50)

	metrics := get(t, "http://"+s.intLn.Addr().String()+"/metrics")
	for _, want := range []string{
		`iace_session_calls_total{end_reason="agent_hangup"}`,
		fmt.Sprintf(`iace_session_calls_total{end_reason="transfer"} %d`, rep.Transfers),
		`iace_session_dtmf_total 4`,
		`iace_session_live_calls 0`,
		`iace_session_events_dropped_total 0`,
		`iace_session_reply_latency_ms_count`,
		`iace_media_frames_out_total`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Through the server's own listener the pacer writes to the socket
	// without blocking and without a goroutine: no batch was deferred.
	if out, deferred := metricValue(metrics, "iace_telnyx_messages_out_total"), metricValue(metrics, "iace_telnyx_writes_deferred_total"); out == 0 || deferred != 0 {
		t.Errorf("%v messages out, %v batches deferred to a goroutine: want every batch written at once", out, deferred)
	}
	if hits := metricValue(metrics, "iace_ai_tts_cache_hits_total"); hits < 4 {
		t.Errorf("%v speech cache hits: the greeting of calls 2-4 at least should come from the cache", hits)
	}
	for _, series := range []string{"iace_session_frames_reordered_total", "iace_session_frames_concealed_total"} {
		if v := metricValue(metrics, series); v == 0 {
			t.Errorf("%s is 0: the simulator reordered and lost frames", series)
		}
	}
	if got := get(t, "http://"+s.intLn.Addr().String()+"/readyz"); got != "ready\n" {
		t.Errorf("readyz %q", got)
	}

	// Every call has a record in the store once the engine has drained: the
	// call, its outcome, its transcript and the caller as a customer.
	if err := s.engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	// Records are written off the calls' path: wait for the spool.
	if err := s.stores.spool.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	calls, _, err := s.stores.backend.ListCalls(ctx, demoOrg, store.CallFilter{}, store.Page{Limit: 10})
	if err != nil || len(calls) != 4 {
		t.Fatalf("%d calls in the store, err %v; want 4", len(calls), err)
	}
	escalated := 0
	for _, c := range calls {
		if c.Call.Status != store.CallEnded || c.Customer == nil || c.Agent == nil || c.Call.From == "" {
			t.Errorf("call record %+v (customer %v, agent %v)", c.Call, c.Customer, c.Agent)
		}
		if c.Call.Outcome == store.OutcomeEscalated {
			escalated++
		}
		d, err := s.stores.backend.GetCall(ctx, demoOrg, c.Call.ID)
		if err != nil || len(d.Turns) < 3 || d.Turns[0].Speaker != store.SpeakerAgent || d.Turns[1].Speaker != store.SpeakerCaller {
			t.Errorf("call %s transcript: %d turns, err %v", c.Call.ID, len(d.Turns), err)
		}
	}
	if escalated != rep.Transfers {
		t.Errorf("%d escalated calls in the store, %d transfers placed", escalated, rep.Transfers)
	}

	if err := s.shutdown(ctx, 5*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 { // both listeners
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}
	if strings.Contains(logs.String(), "+15550100000") {
		t.Error("a phone number appears unmasked in the log")
	}
	for _, want := range []string{`"msg":"call started"`, `"call_id":`, `"end_reason":"transfer"`, `"msg":"drained: no live calls"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
	goleak.VerifyNone(t, ignore)
}

func get(t *testing.T, url string) string {
	t.Helper()
	_, body := getStatus(t, url)
	return body
}

// metricValue returns the value of an unlabelled series in Prometheus text.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// TestReadmeListsEverySetting keeps the README's configuration table in step
// with the flags.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := defaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		row := fmt.Sprintf("| `--%s` | `%s` | `%s` |", f.Name, envName(f.Name), f.DefValue)
		if f.DefValue == "" {
			row = fmt.Sprintf("| `--%s` | `%s` | `\"\"` |", f.Name, envName(f.Name))
		}
		if !strings.Contains(string(readme), row) {
			t.Errorf("README lacks the row %s", row)
		}
	})
}

func TestMissingEspeakFallsBackToTones(t *testing.T) {
	cfg := defaultConfig()
	cfg.EspeakBinary = filepath.Join(t.TempDir(), "no-espeak-here")
	src, name := offlineSpeech(cfg)
	if !strings.Contains(name, "tones") || !strings.Contains(name, "espeak-ng not found") {
		t.Errorf("synthesizer named %q: the log must say espeak-ng is missing", name)
	}
	synth := newSpeechCache(src, cfg, prometheus.NewRegistry())
	rc, err := synth.Synthesize(t.Context(), ai.SpeechRequest{Text: "Hello there.", Format: media.PCMU8k})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	audio, err := io.ReadAll(rc)
	if err != nil || len(audio) < 1600 {
		t.Errorf("%d bytes of audio, %v: the tones stand-in must still speak", len(audio), err)
	}
}
