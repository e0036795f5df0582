package local_test

import (
	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/session"
)

// The providers fit the interfaces the session consumes.
var (
	_ session.Transcriber      = (*local.SimTranscriber)(nil)
	_ session.ChatModel        = (*local.RuleAgent)(nil)
	_ session.Synthesizer      = (*local.Espeak)(nil)
	_ session.Synthesizer      = (*local.Tones)(nil)
	_ ai.SpeechSource          = (*local.Espeak)(nil)
	_ session.TranscriptStream = (*local.SimStream)(nil)
	_ session.ChatStream       = (*local.RuleStream)(nil)
)
