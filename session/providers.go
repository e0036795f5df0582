package session

import (
	"context"
	"io"

	"github.com/iace/iace/ai"
)

// Transcriber opens one speech-to-text stream per call.
type Transcriber interface {
	Open(ctx context.Context, cfg ai.TranscribeConfig) (ai.TranscriptStream, error)
}

// TranscriptStream is the stream a Transcriber opens.
type TranscriptStream = ai.TranscriptStream

// ChatModel answers a conversation turn as a stream.
type ChatModel interface {
	Chat(ctx context.Context, req ai.ChatRequest) (ai.ChatStream, error)
}

// ChatStream is the answer stream of a ChatModel.
type ChatStream = ai.ChatStream

// Synthesizer turns one sentence into audio in exactly req.Format, streamed as
// it is produced. Cancelling ctx stops it.
type Synthesizer interface {
	Synthesize(ctx context.Context, req ai.SpeechRequest) (io.ReadCloser, error)
}

// speechLookup is what a Synthesizer may offer besides synthesis: the audio
// of a sentence it already holds, at once and shared with other calls
// (ai.SpeechCache). A turn queues such audio as soon as it has it, so a turn
// of cached speech needs no goroutine while it plays.
type speechLookup interface {
	Lookup(req ai.SpeechRequest) (ai.SharedSpeech, bool)
}

// CallController acts on the phone call behind a media stream (Telnyx Call
// Control): the session hands the caller to a human or hangs up through it.
type CallController interface {
	// Transfer bridges the caller to to; handoff, when not nil, is the new
	// leg's client state (the warm handoff: the call, the reason and the
	// summary, as JSON), echoed by Telnyx in that leg's webhooks.
	Transfer(ctx context.Context, callControlID, to string, handoff []byte) error
	Hangup(ctx context.Context, callControlID string) error
}
