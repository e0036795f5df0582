package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/deepgram"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/session"
)

// The provider keys: secrets, from the environment only.
const (
	envLLMKey      = "IACE_LLM_API_KEY"
	envDeepgramKey = "IACE_DEEPGRAM_API_KEY"
	envTelnyxKey   = "IACE_TELNYX_API_KEY"
)

// providers are the speech, language and telephony parts calls run with:
// a cloud provider where its key is set, the offline stand-in otherwise.
type providers struct {
	stt   session.Transcriber
	chat  session.ChatModel
	synth *ai.SpeechCache
	calls session.CallController
	names []any // slog attributes naming each choice
}

func newProviders(cfg config, reg prometheus.Registerer, log *slog.Logger) (*providers, error) {
	p := &providers{}
	if cfg.LLMKey != "" {
		c, err := openai.New(openai.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMKey, Model: cfg.LLMModel, Registerer: reg, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("llm: %w", err)
		}
		p.chat = c
		p.names = append(p.names, "llm", "OpenAI-compatible chat at "+cfg.LLMBaseURL+" (model "+cfg.LLMModel+")")
	} else {
		p.chat = local.NewRuleAgent()
		p.names = append(p.names, "llm", "offline rule-based agent (local.RuleAgent): answers from the agent's intents; set "+envLLMKey+" for a model")
	}

	var (
		speech  ai.SpeechSource
		ttsName string
	)
	if cfg.DeepgramKey != "" {
		dc := deepgram.DefaultConfig()
		dc.BaseURL, dc.APIKey, dc.Registerer, dc.Logger = cfg.DeepgramURL, cfg.DeepgramKey, reg, log
		c, err := deepgram.New(dc)
		if err != nil {
			return nil, fmt.Errorf("deepgram: %w", err)
		}
		p.stt, speech = c, c
		p.names = append(p.names, "speech_to_text", "Deepgram live streaming at "+cfg.DeepgramURL)
		ttsName = "Deepgram Aura at " + cfg.DeepgramURL
	} else {
		p.stt = local.NewSimTranscriber()
		p.names = append(p.names, "speech_to_text", "offline simulator transcriber (local.SimTranscriber): transcripts come from the stream's sim_script parameter; set "+envDeepgramKey+" for Deepgram")
		speech, ttsName = offlineSpeech(cfg)
	}
	p.synth = newSpeechCache(speech, cfg, reg)
	p.names = append(p.names, "text_to_speech", ttsName)

	if cfg.TelnyxKey != "" {
		cc := callcontrol.DefaultConfig()
		cc.BaseURL, cc.APIKey, cc.Registerer, cc.Logger = cfg.TelnyxAPIURL, cfg.TelnyxKey, reg, log
		c, err := callcontrol.New(cc)
		if err != nil {
			return nil, fmt.Errorf("telnyx call control: %w", err)
		}
		p.calls = telnyxCalls{c}
		p.names = append(p.names, "call_control", "Telnyx Call Control at "+cfg.TelnyxAPIURL)
	} else {
		p.names = append(p.names, "call_control", "none: transfers and hang-ups only close the media stream; set "+envTelnyxKey)
	}
	return p, nil
}

// offlineSpeech picks espeak-ng, or tones when it is missing.
func offlineSpeech(cfg config) (ai.SpeechSource, string) {
	es, err := local.NewEspeak(local.EspeakConfig{Binary: cfg.EspeakBinary, WordsPerMinute: cfg.EspeakWPM})
	if err != nil {
		return local.NewTones(), "offline tones (local.Tones): espeak-ng not found, install the espeak-ng package for speech"
	}
	return es, "offline espeak-ng (local.Espeak)"
}

// telnyxCalls adapts the Call Control client to the session's needs.
type telnyxCalls struct{ c *callcontrol.Client }

func (t telnyxCalls) Transfer(ctx context.Context, ccid, to string) error {
	return t.c.Transfer(ctx, ccid, callcontrol.TransferParams{To: to})
}

func (t telnyxCalls) Hangup(ctx context.Context, ccid string) error {
	return t.c.Hangup(ctx, ccid, callcontrol.HangupParams{})
}
