package session

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/media"
)

// TurnLatency splits a reply's latency (the end of the caller's speech to
// the reply's first audio) into its stages. The stages add up to the reply
// latency.
type TurnLatency struct {
	// Endpoint is the VAD's wait for silence before it decides the caller
	// has finished (its minimum silence and hangover).
	Endpoint time.Duration
	// STT is the wait after that decision for the transcriber's final
	// transcript; zero when the final came first.
	STT time.Duration
	// LLMFirstToken is the chat model's time to its first token (text or
	// tool call), retries included.
	LLMFirstToken time.Duration
	// LLMFirstSentence is the model's streaming from its first token to the
	// end of the first sentence, which is when speech can start.
	LLMFirstSentence time.Duration
	// TTSFirstByte is the synthesizer's time to the first byte of audio of
	// that sentence.
	TTSFirstByte time.Duration
	// Overhead is the rest: IACE's own work and queueing.
	Overhead time.Duration
}

// Stage names, the values of the stage label.
//
//nolint:gosec // G101: names of latency stages ("llm_first_token" reads like a token to gosec)
const (
	stageEndpoint      = "endpoint"
	stageSTT           = "stt"
	stageLLMFirstToken = "llm_first_token"
	stageLLMSentence   = "llm_first_sentence"
	stageTTSFirstByte  = "tts_first_byte"
	stageOverhead      = "overhead"
)

var allStages = []string{stageEndpoint, stageSTT, stageLLMFirstToken, stageLLMSentence, stageTTSFirstByte, stageOverhead}

// replyTiming is what the session knows of a reply when it asks the model.
type replyTiming struct {
	speechEnd time.Time // the caller's speech ended (the VAD's estimate)
	vadEnd    time.Time // the VAD decided the caller had finished
	final     time.Time // the last final transcript of the utterance arrived
	requested time.Time // the model was asked
}

// firstAudio is what the turn's goroutines measured up to its first audio.
type firstAudio struct {
	firstToken   time.Time
	ttsStart     time.Time // the sentence went to the synthesizer
	ttsFirstByte time.Time
	at           time.Time // the first frame went to the pacer
}

// split computes the stages; each is clamped at zero so a clock step or an
// unusual order (a final long before the VAD's end) cannot give a negative.
func (rt replyTiming) split(fa firstAudio) TurnLatency {
	pos := func(d time.Duration) time.Duration { return max(d, 0) }
	l := TurnLatency{
		Endpoint:         pos(rt.vadEnd.Sub(rt.speechEnd)),
		STT:              pos(rt.final.Sub(rt.vadEnd)),
		LLMFirstToken:    pos(fa.firstToken.Sub(rt.requested)),
		LLMFirstSentence: pos(fa.ttsStart.Sub(fa.firstToken)),
		TTSFirstByte:     pos(fa.ttsFirstByte.Sub(fa.ttsStart)),
	}
	reply := fa.at.Sub(rt.speechEnd)
	l.Overhead = pos(reply - l.Endpoint - l.STT - l.LLMFirstToken - l.LLMFirstSentence - l.TTSFirstByte)
	return l
}

// observeTurn records a reply's stages, each with the trace of the turn's
// span sc as its exemplar.
func (m *Metrics) observeTurn(l TurnLatency, sc trace.SpanContext) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	media.ObserveSpan(sc, m.turnStage[0], ms(l.Endpoint))
	media.ObserveSpan(sc, m.turnStage[1], ms(l.STT))
	media.ObserveSpan(sc, m.turnStage[2], ms(l.LLMFirstToken))
	media.ObserveSpan(sc, m.turnStage[3], ms(l.LLMFirstSentence))
	media.ObserveSpan(sc, m.turnStage[4], ms(l.TTSFirstByte))
	media.ObserveSpan(sc, m.turnStage[5], ms(l.Overhead))
}

// tracerName is the session's tracer, named by import path.
const tracerName = "github.com/iace/iace/session"

// Span attribute keys.
const (
	attrCallID       = attribute.Key("iace.call_id")
	attrOrgID        = attribute.Key("iace.org_id")
	attrAgentID      = attribute.Key("iace.agent_id")
	attrEndReason    = attribute.Key("iace.end_reason")
	attrTurn         = attribute.Key("iace.turn")
	attrTurnKind     = attribute.Key("iace.turn.kind")
	attrInterrupted  = attribute.Key("iace.turn.interrupted")
	attrReplyLatency = attribute.Key("iace.turn.reply_latency_ms")
)

// traceStages records the stages of a measured reply as child spans of the
// turn's span, after the fact, with their real start and end times: the
// measurements come from two goroutines, and only the session's run
// goroutine touches spans.
func traceStages(ctx context.Context, tr trace.Tracer, rt replyTiming, fa firstAudio) {
	stage := func(name string, from, to time.Time) {
		if from.IsZero() || to.Before(from) {
			return
		}
		_, sp := tr.Start(ctx, name, trace.WithTimestamp(from))
		sp.End(trace.WithTimestamp(to))
	}
	stage("endpoint", rt.speechEnd, rt.vadEnd)
	if rt.final.After(rt.vadEnd) {
		stage("stt", rt.vadEnd, rt.final)
	}
	if !fa.firstToken.IsZero() {
		_, sp := tr.Start(ctx, "llm", trace.WithTimestamp(rt.requested))
		sp.AddEvent("first_token", trace.WithTimestamp(fa.firstToken))
		sp.End(trace.WithTimestamp(fa.ttsStart))
	}
	stage("tts", fa.ttsStart, fa.ttsFirstByte)
}

// traceFailure records a failed stage as an error span ending now.
func traceFailure(ctx context.Context, tr trace.Tracer, name string, from time.Time, err error) {
	if from.IsZero() {
		from = time.Now()
	}
	_, sp := tr.Start(ctx, name, trace.WithTimestamp(from))
	sp.RecordError(err)
	sp.SetStatus(codes.Error, name+" failed")
	sp.End()
}
