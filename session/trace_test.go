package session_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/session"
)

// TestAReplyIsTracedAndItsLatencySplit: one caller turn gives a call span,
// a turn span per thing the agent said, and under the reply's turn one span
// per stage; the reply's latency split is kept on the transcript and
// exported as histograms whose stages add up to the reply latency.
func TestAReplyIsTracedAndItsLatencySplit(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	reg := prometheus.NewRegistry()
	ts := newTestServerWith(t, nil, func(d *session.Deps) {
		d.Tracer = tp
		d.Metrics = session.NewMetrics(reg)
	})
	p := dialPeer(t, ts.url, map[string]string{local.SimScriptParam: "what are your opening hours"})
	p.expect("greeting end mark", 10*time.Second, isMark("-end"))
	waitFor(t, "the greeting to play", func() bool { return callState(ts) == session.StateListening })
	p.speak(readWAV(t, "testdata/what_are_your_opening_hours.wav"))
	p.expect("reply end mark", 15*time.Second, isMark("t2-end"))
	waitFor(t, "the reply to play", func() bool { return callState(ts) == session.StateListening })
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x", "stop": map[string]any{}})
	sum := ts.summary(t)
	p.close()

	// The transcript keeps the split, and the stages add up.
	i := slices.IndexFunc(sum.Transcript, func(tr session.Turn) bool { return tr.ReplyLatency > 0 })
	if i < 0 || sum.Transcript[i].Latency == nil {
		t.Fatalf("no measured reply in %+v", sum.Transcript)
	}
	reply := sum.Transcript[i]
	l := *reply.Latency
	total := l.Endpoint + l.STT + l.LLMFirstToken + l.LLMFirstSentence + l.TTSFirstByte + l.Overhead
	if total != reply.ReplyLatency {
		t.Errorf("stages %+v add up to %v, reply latency %v", l, total, reply.ReplyLatency)
	}
	cfg := session.DefaultConfig()
	// The question's words end the turn at the short bound, whatever its pitch.
	// (The session's timer for it may fire a little late; not a frame.)
	if want := cfg.VAD.MinSilence + cfg.VAD.Hangover; l.Endpoint < want || l.Endpoint >= want+20*time.Millisecond {
		t.Errorf("endpoint %v, want the VAD's short silence wait %v", l.Endpoint, want)
	}
	t.Logf("reply latency %v: %+v", reply.ReplyLatency, l)

	// One observation per stage in the histograms.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "iace_session_turn_stage_ms" {
			continue
		}
		for _, m := range mf.GetMetric() {
			stages[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	for _, st := range []string{"endpoint", "stt", "llm_first_token", "llm_first_sentence", "tts_first_byte", "overhead"} {
		if stages[st] != 1 {
			t.Errorf("turn_stage_ms{stage=%q} has %d observations, want 1", st, stages[st])
		}
	}

	// The spans: call > turn (greeting, reply) > stages.
	spans := rec.Ended()
	byName := func(name string) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range spans {
			if s.Name() == name {
				out = append(out, s)
			}
		}
		return out
	}
	calls := byName("call")
	if len(calls) != 1 {
		t.Fatalf("%d call spans, want 1", len(calls))
	}
	call := calls[0]
	if call.Parent().IsValid() {
		t.Error("the call span has a parent")
	}
	var replyTurn sdktrace.ReadOnlySpan
	for _, tr := range byName("turn") {
		if tr.Parent().SpanID() != call.SpanContext().SpanID() {
			t.Errorf("turn span %v is not a child of the call", tr.Attributes())
		}
		for _, a := range tr.Attributes() {
			if a.Key == "iace.turn.kind" && a.Value.AsString() == "reply" {
				replyTurn = tr
			}
		}
	}
	if replyTurn == nil {
		t.Fatalf("no reply turn span among %d spans", len(spans))
	}
	var children []string
	for _, s := range spans {
		if s.Parent().SpanID() == replyTurn.SpanContext().SpanID() {
			children = append(children, s.Name())
			if s.StartTime().Before(replyTurn.StartTime()) || s.EndTime().After(replyTurn.EndTime()) {
				t.Errorf("stage %s [%v, %v] lies outside its turn [%v, %v]", s.Name(), s.StartTime(), s.EndTime(), replyTurn.StartTime(), replyTurn.EndTime())
			}
		}
	}
	for _, want := range []string{"endpoint", "llm", "tts"} {
		if !slices.Contains(children, want) {
			t.Errorf("the reply turn's stage spans are %v: %s is missing", children, want)
		}
	}
	for _, a := range call.Attributes() {
		if a.Key == "iace.end_reason" && a.Value.AsString() != "hangup" {
			t.Errorf("call span end reason %q", a.Value.AsString())
		}
		if strings.Contains(a.Value.String(), "+1555") {
			t.Errorf("a phone number is on the call span: %v", a)
		}
	}
}
