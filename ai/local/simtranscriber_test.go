package local_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
)

func openSim(t *testing.T, script string) *local.SimStream {
	t.Helper()
	cfg := ai.TranscribeConfig{Format: media.PCMU8k}
	if script != "" {
		cfg.Params = map[string]string{local.SimScriptParam: script}
	}
	st, err := local.NewSimTranscriber().Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := st.(*local.SimStream)
	if !ok {
		t.Fatalf("Open returned %T, want *local.SimStream", st)
	}
	t.Cleanup(func() { closeOK(t, s) })
	return s
}

// utter sends a few frames and ends the utterance, then reads its transcript.
func utter(t *testing.T, s *local.SimStream) ai.Transcript {
	t.Helper()
	frame := make([]byte, 160)
	for range 10 {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndOfSpeech(); err != nil {
		t.Fatal(err)
	}
	select {
	case tr := <-s.Results():
		return tr
	default:
		t.Fatal("EndOfSpeech emitted no transcript")
		return ai.Transcript{}
	}
}

func TestSimTranscriberYieldsTheScriptInOrderThenPlaceholders(t *testing.T) {
	s := openSim(t, " I want to book a table |  for two people| |tomorrow at eight ")
	want := []string{"I want to book a table", "for two people", "tomorrow at eight", local.SimPlaceholder, local.SimPlaceholder}
	for i, w := range want {
		tr := utter(t, s)
		if tr.Text != w || !tr.Final {
			t.Fatalf("utterance %d = %+v, want final %q", i+1, tr, w)
		}
	}
	if got := s.Frames(); got != 50 {
		t.Errorf("Frames() = %d, want 50", got)
	}
}

func TestSimTranscriberWithoutScriptHearsPlaceholder(t *testing.T) {
	s := openSim(t, "")
	if tr := utter(t, s); tr.Text != local.SimPlaceholder {
		t.Errorf("got %q, want %q", tr.Text, local.SimPlaceholder)
	}
}

func TestSimTranscriberCapsTheScript(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	lines := make([]string, 100)
	for i := range lines {
		lines[i] = long
	}
	s := openSim(t, strings.Join(lines, "|"))
	got := utter(t, s).Text
	if len(got) > 500 || !strings.HasPrefix(long, got) || len(got) < 498 {
		t.Errorf("first line is %d bytes, want a prefix of at most 500 bytes on a rune boundary", len(got))
	}
	for i := 2; i <= 64; i++ {
		utter(t, s)
	}
	if got := utter(t, s).Text; got != local.SimPlaceholder {
		t.Errorf("line 65 = %.20q, want the placeholder (script capped at 64 lines)", got)
	}
}

func TestSimTranscriberNeverBlocksWhenResultsAreNotRead(t *testing.T) {
	s := openSim(t, "")
	for range 100 {
		if err := s.EndOfSpeech(); err != nil {
			t.Fatal(err)
		}
	}
	if s.Dropped() == 0 {
		t.Error("Dropped() = 0 after 100 unread transcripts, want some dropped")
	}
	if n := uint64(len(s.Results())); n+s.Dropped() != 100 {
		t.Errorf("buffered %d + dropped %d != 100", n, s.Dropped())
	}
}

func TestSimTranscriberCloseIsIdempotentAndClosesResults(t *testing.T) {
	s := openSim(t, "hello")
	if err := s.EndOfSpeech(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The buffered transcript is still delivered, then the channel is closed.
	if tr, ok := <-s.Results(); !ok || tr.Text != "hello" {
		t.Errorf("first result after Close = %+v, %v", tr, ok)
	}
	if _, ok := <-s.Results(); ok {
		t.Error("Results not closed after Close")
	}
	if err := s.Send(make([]byte, 160)); !errors.Is(err, local.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := s.EndOfSpeech(); !errors.Is(err, local.ErrClosed) {
		t.Errorf("EndOfSpeech after Close = %v, want ErrClosed", err)
	}
}

func TestSimTranscriberOpenHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := local.NewSimTranscriber().Open(ctx, ai.TranscribeConfig{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled context = %v, want context.Canceled", err)
	}
}
