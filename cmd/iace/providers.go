package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/deepgram"
	"github.com/iace/iace/ai/google"
	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/media/telnyx/callcontrol"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// The provider keys: secrets, from the environment only.
const (
	envLLMKey      = "IACE_LLM_API_KEY"
	envDeepgramKey = "IACE_DEEPGRAM_API_KEY"
	envTelnyxKey   = "IACE_TELNYX_API_KEY"
	envGoogleKey   = "IACE_GOOGLE_API_KEY"
	envEmbedKey    = "IACE_EMBED_API_KEY"
)

// providers are the speech, language and telephony parts calls run with:
// a cloud provider where its key is set, the offline stand-in otherwise.
type providers struct {
	stt   session.Transcriber
	chat  session.ChatModel
	synth *ai.SpeechCache
	calls session.CallController
	cc    *callcontrol.Client // nil without a Telnyx key
	// embed turns text into pattern vectors; sentiment scores caller turns.
	embed     ai.Embedder
	sentiment local.SentimentScorer
	names     []any // slog attributes naming each choice
	closers   []func()
	// extract finds what a finished call teaches (ai/learn); memoryModel,
	// when set, rewrites callers' memory (nil: the offline memory line).
	extract     learn.Extractor
	memoryModel learn.JSONModel
}

// Close releases what the providers hold (a transcriber's workers).
func (p *providers) Close() {
	for _, c := range p.closers {
		c()
	}
}

// With tp set, each request to a cloud provider is a client span carrying
// the W3C trace context.
func newProviders(cfg config, reg prometheus.Registerer, log *slog.Logger, tp trace.TracerProvider) (*providers, error) {
	p := &providers{}
	if cfg.LLMKey != "" {
		c, err := openai.New(openai.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMKey, Model: cfg.LLMModel, Registerer: reg, Logger: log,
			TracerProvider: tp})
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
		dc.BaseURL, dc.APIKey, dc.Registerer, dc.Logger, dc.TracerProvider = cfg.DeepgramURL, cfg.DeepgramKey, reg, log, tp
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
	if cfg.STT == "whisper" {
		if cfg.LLMKey == "" {
			return nil, fmt.Errorf("--stt whisper needs %s (the key of the OpenAI-compatible API at --llm-base-url)", envLLMKey)
		}
		tr, err := openai.NewTranscriber(openai.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMKey, Registerer: reg, Logger: log, TracerProvider: tp},
			openai.TranscriberConfig{Model: cfg.WhisperModel})
		if err != nil {
			return nil, fmt.Errorf("whisper: %w", err)
		}
		p.stt = tr
		p.closers = append(p.closers, func() { _ = tr.Close() })
		p.names = append(p.names, "speech_to_text", "Whisper on VAD-cut utterances at "+cfg.LLMBaseURL+" (model "+cfg.WhisperModel+")")
	}
	if err := p.addLanguage(cfg, reg, log, tp); err != nil {
		return nil, err
	}
	if cfg.TTS == "openai" {
		if cfg.LLMKey == "" {
			return nil, fmt.Errorf("--tts openai needs %s (the key of the OpenAI-compatible API at --llm-base-url)", envLLMKey)
		}
		c, err := openai.New(openai.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMKey, SpeechModel: cfg.TTSModel, SpeechVoice: cfg.TTSVoice,
			Registerer: reg, Logger: log, TracerProvider: tp})
		if err != nil {
			return nil, fmt.Errorf("tts: %w", err)
		}
		speech = openaiVoices{c}
		ttsName = "OpenAI-compatible /audio/speech at " + cfg.LLMBaseURL + " (model " + cfg.TTSModel + ", voice " + cfg.TTSVoice + ")"
	}
	p.synth = newSpeechCache(speech, cfg, reg)
	p.names = append(p.names, "text_to_speech", ttsName)

	if cfg.TelnyxKey != "" {
		cc := callcontrol.DefaultConfig()
		cc.BaseURL, cc.APIKey, cc.Registerer, cc.Logger, cc.TracerProvider = cfg.TelnyxAPIURL, cfg.TelnyxKey, reg, log, tp
		c, err := callcontrol.New(cc)
		if err != nil {
			return nil, fmt.Errorf("telnyx call control: %w", err)
		}
		p.calls, p.cc = telnyxCalls{c}, c
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

func (t telnyxCalls) Transfer(ctx context.Context, ccid, to string, handoff []byte) error {
	return t.c.Transfer(ctx, ccid, callcontrol.TransferParams{To: to, TargetLegClientState: handoff})
}

// Hangup hangs the call up; a call that has ended already is what a
// hang-up wants (the caller may have hung up as the session ended).
func (t telnyxCalls) Hangup(ctx context.Context, ccid string) error {
	if err := t.c.Hangup(ctx, ccid, callcontrol.HangupParams{}); err != nil && !callcontrol.IsCallEnded(err) {
		return err
	}
	return nil
}

// addLanguage picks the embedder and the sentiment scorer.
func (p *providers) addLanguage(cfg config, reg prometheus.Registerer, log *slog.Logger, tp trace.TracerProvider) error {
	switch {
	case cfg.GoogleKey != "":
		c, err := google.New(google.Config{APIKey: cfg.GoogleKey, Dimensions: store.EmbeddingDims, Registerer: reg, Logger: log, TracerProvider: tp})
		if err != nil {
			return fmt.Errorf("google embeddings: %w", err)
		}
		p.embed = c
		p.names = append(p.names, "embeddings", "Google gemini-embedding-001 at 768 dimensions")
	case cfg.EmbedKey != "":
		c, err := openai.NewEmbedder(openai.Config{BaseURL: cfg.EmbedBaseURL, APIKey: cfg.EmbedKey, Registerer: reg, Logger: log, TracerProvider: tp},
			openai.EmbedderConfig{Model: cfg.EmbedModel, Dimensions: store.EmbeddingDims})
		if err != nil {
			return fmt.Errorf("embeddings: %w", err)
		}
		p.embed = c
		p.names = append(p.names, "embeddings", "OpenAI-compatible /embeddings at "+cfg.EmbedBaseURL+" (model "+cfg.EmbedModel+")")
	default:
		e, err := local.NewHashEmbedder(store.EmbeddingDims)
		if err != nil {
			return err
		}
		p.embed = e
		p.names = append(p.names, "embeddings", "offline hashed embedder (local.HashEmbedder): shared words only; set "+envGoogleKey+" or "+envEmbedKey)
	}

	var primary local.SentimentScorer
	if cfg.LLMKey != "" && cfg.Sentiment == "model" {
		c, err := openai.NewSentiment(openai.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMKey, Model: cfg.LLMModel, Registerer: reg, Logger: log, TracerProvider: tp},
			openai.SentimentConfig{})
		if err != nil {
			return fmt.Errorf("sentiment: %w", err)
		}
		primary = c
		p.names = append(p.names, "sentiment", "JSON-mode chat model at "+cfg.LLMBaseURL+", offline lexicon when it fails")
	} else {
		p.names = append(p.names, "sentiment", "offline lexicon (local.LexiconSentiment)")
	}
	s, err := local.NewSentimentWithFallback(primary, local.SentimentFallbackConfig{Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	p.sentiment = s

	// Learning from finished calls: the model in JSON mode with the
	// heuristic as its fallback, or the heuristic alone offline.
	p.extract = learn.Heuristic{}
	if cfg.LLMKey != "" {
		jc, err := openai.NewJSON(openai.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMKey, Model: cfg.LLMModel, Registerer: reg, Logger: log, TracerProvider: tp},
			openai.JSONConfig{Operation: "learn"})
		if err != nil {
			return fmt.Errorf("learning: %w", err)
		}
		if p.extract, err = learn.NewLLM(jc, learn.LLMConfig{Registerer: reg}); err != nil {
			return fmt.Errorf("learning: %w", err)
		}
		p.memoryModel = jc
		p.names = append(p.names, "learning", "JSON-mode chat model at "+cfg.LLMBaseURL+", heuristic when it fails")
	} else {
		p.names = append(p.names, "learning", "offline heuristic (learn.Heuristic)")
	}
	return nil
}

// openaiVoices gives an OpenAI-compatible speech API the agent's voice only
// when it names one for it ("openai:alloy"); other agents' voices (an
// espeak-ng language, an Aura model) mean nothing there and get --tts-voice.
type openaiVoices struct{ c *openai.Client }

func (o openaiVoices) Synthesize(ctx context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	voice, ok := strings.CutPrefix(req.Voice, "openai:")
	if !ok {
		voice = ""
	}
	req.Voice = voice
	return o.c.Synthesize(ctx, req)
}
