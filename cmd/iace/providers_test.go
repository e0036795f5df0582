package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestEveryCloudProviderAtOnce: with every key set and every cloud choice
// made, the providers share one metrics registry and the startup log names
// each choice.
func TestEveryCloudProviderAtOnce(t *testing.T) {
	cfg, err := loadConfig([]string{"--stt", "whisper", "--tts", "openai", "--sentiment", "model"},
		env(map[string]string{envLLMKey: "k", envDeepgramKey: "k", envTelnyxKey: "k", envEmbedKey: "k"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := newProviders(cfg, reg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	names := fmt.Sprint(p.names...)
	for _, want := range []string{"Whisper", "/audio/speech", "/embeddings", "JSON-mode", "Telnyx Call Control"} {
		if !strings.Contains(names, want) {
			t.Errorf("the startup log does not name %q: %s", want, names)
		}
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}
