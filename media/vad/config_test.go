package vad

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	with := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // a substring of the error for each problem
	}{
		{"zero MinSpeech is rejected", with(func(c *Config) { c.MinSpeech = 0 }), []string{"MinSpeech"}},
		{"negative MinSpeech is rejected", with(func(c *Config) { c.MinSpeech = -time.Millisecond }), []string{"MinSpeech"}},
		{"zero MinSilence is rejected", with(func(c *Config) { c.MinSilence = 0 }), []string{"MinSilence"}},
		{"negative MinSilence is rejected", with(func(c *Config) { c.MinSilence = -time.Second }), []string{"MinSilence"}},
		{"zero BargeInMin is rejected", with(func(c *Config) { c.BargeInMin = 0 }), []string{"BargeInMin"}},
		{"negative BargeInMin is rejected", with(func(c *Config) { c.BargeInMin = -1 }), []string{"BargeInMin"}},
		{"negative Hangover is rejected", with(func(c *Config) { c.Hangover = -time.Millisecond }), []string{"Hangover"}},
		{"zero Hangover turns it off", with(func(c *Config) { c.Hangover = 0 }), nil},
		{"negative MaxSilence is rejected", with(func(c *Config) { c.MaxSilence = -time.Millisecond }), []string{"MaxSilence"}},
		{"zero MaxSilence turns the adaptive end off", with(func(c *Config) { c.MaxSilence = 0 }), nil},
		{"negative PauseMin is rejected", with(func(c *Config) { c.PauseMin = -time.Millisecond }), []string{"PauseMin"}},
		{"zero PauseMin turns Pause off", with(func(c *Config) { c.PauseMin = 0 }), nil},
		{"negative BackchannelMax is rejected", with(func(c *Config) { c.BackchannelMax = -time.Millisecond }), []string{"BackchannelMax"}},
		{"negative EchoMarginDB is rejected", with(func(c *Config) { c.EchoMarginDB = -1 }), []string{"EchoMarginDB"}},
		{"NaN EchoMarginDB is rejected", with(func(c *Config) { c.EchoMarginDB = math.NaN() }), []string{"EchoMarginDB"}},
		{"zero EchoMarginDB turns the echo gate off", with(func(c *Config) { c.EchoMarginDB = 0 }), nil},
		{"zero ThresholdDB is rejected", with(func(c *Config) { c.ThresholdDB = 0 }), []string{"ThresholdDB"}},
		{"negative ThresholdDB is rejected", with(func(c *Config) { c.ThresholdDB = -3 }), []string{"ThresholdDB"}},
		{"NaN ThresholdDB is rejected", with(func(c *Config) { c.ThresholdDB = math.NaN() }), []string{"ThresholdDB"}},
		{"infinite ThresholdDB is rejected", with(func(c *Config) { c.ThresholdDB = math.Inf(1) }), []string{"ThresholdDB"}},
		{"the zero Config reports every problem", Config{}, []string{"MinSpeech", "MinSilence", "BargeInMin", "ThresholdDB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to name %s", err, w)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.want) {
				t.Errorf("Validate() reports %d problems, want %d: %q", n, len(tt.want), err)
			}
		})
	}
}

func TestEventString(t *testing.T) {
	tests := []struct {
		e    Event
		want string
	}{
		{EventNone, "none"},
		{EventSpeechStart, "speech_start"},
		{EventBargeIn, "barge_in"},
		{EventSpeechEnd, "speech_end"},
		{EventNotSpeech, "not_speech"},
		{EventPause, "pause"},
		{Event(42), "Event(42)"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("Event(%d).String() = %q, want %q", uint8(tt.e), got, tt.want)
		}
	}
}
