// Package ai holds the vocabulary shared by the session and the speech and
// language providers: chat messages, tool calls, transcripts and speech requests.
// Providers live in subpackages by vendor (ai/local for the offline stand-ins).
package ai

import (
	"context"
	"errors"

	"github.com/iace/iace/media"
)

// Role is the author of a chat message.
type Role string

// Chat roles as the OpenAI-compatible chat API names them.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one entry of a conversation history.
type Message struct {
	Role    Role
	Content string
	// ToolCalls are the calls an assistant message asked for.
	ToolCalls []ToolCall
	// ToolCallID ties a tool message to the call it answers.
	ToolCallID string
}

// ToolCall is a model's request to run one tool.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // JSON object as the model wrote it
}

// Tool describes a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  string // JSON Schema of the arguments object
}

// Intent is one keyword rule of an agent: when a caller's words contain any of
// the keywords, Reply is the answer. Cloud models read the same intents from the
// system prompt; the offline rule-based model answers from them directly.
type Intent struct {
	Name     string
	Keywords []string
	Reply    string
	// Action is what follows the reply: "" (nothing), "end_call" or "transfer".
	Action string
}

// ChatRequest is one turn's question to a chat model.
type ChatRequest struct {
	Model       string
	Temperature float64
	MaxTokens   int
	Messages    []Message
	Tools       []Tool
	// Intents and Fallback configure the offline rule-based model; cloud models ignore them.
	Intents  []Intent
	Fallback string
	// Answers resolved earlier calls (the agent's learned or curated
	// patterns). The offline rule-based model answers with one whose
	// question the caller's words match when no intent does; cloud models
	// ignore them, and are given them in a system message instead.
	Answers []Answer
}

// Answer is a question callers asked and the answer that resolved it.
type Answer struct {
	Question string
	Answer   string
}

// ChatDelta is one streamed piece of an answer: text, tool calls, or both.
type ChatDelta struct {
	Text      string
	ToolCalls []ToolCall
}

// Transcript is a recognised piece of caller speech.
type Transcript struct {
	Text string
	// Final is true when the text of this segment will not change any more.
	Final bool
	// SpeechFinal is true when the provider also judged that the speaker
	// finished their utterance with it (Deepgram's speech_final): a cue,
	// with the text's own punctuation, that the caller's turn is over.
	SpeechFinal bool
}

// SpeechRequest asks a synthesizer for the audio of one sentence.
type SpeechRequest struct {
	Text     string
	Voice    string
	Language string
	// Format is the exact format the returned stream must carry. The session
	// asks for the call's outbound format so no conversion happens per call.
	Format media.Format
}

// ErrUnavailable is returned by a provider that cannot serve at all (for example
// a missing binary or key); the caller should fall back.
var ErrUnavailable = errors.New("ai: provider unavailable")

// TranscribeConfig configures one call's transcription stream.
type TranscribeConfig struct {
	// Format is the call's wire format (PCMU or PCMA at 8 kHz, L16 at
	// 16 kHz...): Send gets the caller's frames in it, as they came. A
	// stream that needs another format converts inside itself.
	Format   media.Format
	Language string
	// Params are the stream's custom parameters (Telnyx start.custom_parameters).
	// The offline simulator transcriber reads its script from them.
	Params map[string]string
}

// TranscriptStream is one call's speech-to-text stream: fed the caller's
// audio, it yields transcripts. Transcribers return it, so it lives here,
// where both the session and the providers can name it. Send is called from
// the stream's reader goroutine, EndOfSpeech and Close from the session's:
// implementations must allow that.
type TranscriptStream interface {
	// Send passes one frame of caller audio in the configured Format, the
	// bytes as they came off the wire (the call's reader decodes only for
	// its VAD). frame is the caller's buffer, reused once Send returns: a
	// stream copies what it keeps. Send must not block: a stream that
	// cannot keep up drops and counts.
	Send(frame []byte) error
	// EndOfSpeech tells the stream that the VAD found the end of an utterance:
	// a VAD-cut transcriber transcribes what it holds, a streaming one finalizes.
	EndOfSpeech() error
	// Results delivers transcripts; it is closed after Close.
	Results() <-chan Transcript
	Close() error
}

// ChatStream yields a chat model's answer piece by piece.
type ChatStream interface {
	// Recv returns the next piece, io.EOF after the last.
	Recv() (ChatDelta, error)
	Close() error
}

// Embedder turns texts into vectors for similarity search. Every vector of
// one Embedder has Dimensions() values and unit length, so a dot product is
// the cosine similarity. Vectors of different embedders (models or sizes)
// are not comparable.
type Embedder interface {
	// Embed returns one vector per text, in the order of texts.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dimensions is the length of every vector Embed returns.
	Dimensions() int
}

// Sentiment labels, the values of Sentiment.Label.
const (
	SentimentNegative = "negative"
	SentimentNeutral  = "neutral"
	SentimentPositive = "positive"
)

// SentimentThreshold is the score beyond which an utterance is no longer
// neutral: scores <= -SentimentThreshold are negative, >= SentimentThreshold
// positive. The call analytics bucket average sentiment the same way.
const SentimentThreshold = 0.25

// Sentiment is the mood of one caller utterance.
type Sentiment struct {
	// Score runs from -1 (very negative) to 1 (very positive).
	Score float64
	// Label is SentimentNegative, SentimentNeutral or SentimentPositive.
	Label string
	// Source names what scored it ("groq", "lexicon"...), for the call
	// record and the fallback metrics.
	Source string
}

// SentimentLabel returns the label of a score under SentimentThreshold.
func SentimentLabel(score float64) string {
	switch {
	case score <= -SentimentThreshold:
		return SentimentNegative
	case score >= SentimentThreshold:
		return SentimentPositive
	}
	return SentimentNeutral
}

// Trend is the least-squares slope of v against its index, 0 for fewer
// than two values: how a call's caller sentiment moves per turn.
func Trend(v []float64) float64 {
	n := float64(len(v))
	if n < 2 {
		return 0
	}
	var sx, sy, sxy, sxx float64
	for i, y := range v {
		x := float64(i)
		sx += x
		sy += y
		sxy += x * y
		sxx += x * x
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
