package deepgram_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/deepgram"
	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/media"
)

func TestSpeak(t *testing.T) {
	const text = "Your appointment is confirmed for Tuesday."

	t.Run("mu-law streams through byte for byte", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{ChunkBytes: 160})
		c := newClient(t, srv, nil)
		r, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: text, Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Synthesize: %v", err)
		}
		got, err := io.ReadAll(r)
		closeOK(t, r)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if want := srv.Speech(text, media.PCMU8k); !bytes.Equal(got, want) {
			t.Errorf("got %d bytes, want the fake's %d", len(got), len(want))
		}
		rec := srv.Speaks()[0]
		for k, want := range map[string]string{"model": deepgram.DefaultSpeakModel, "encoding": "mulaw", "sample_rate": "8000", "container": "none"} {
			if g := rec.Query[k]; len(g) != 1 || g[0] != want {
				t.Errorf("query %s = %v, want %s", k, g, want)
			}
		}
		if rec.Text != text {
			t.Errorf("fake heard %q", rec.Text)
		}
	})

	t.Run("a format Aura does not make is converted in Read", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{})
		c := newClient(t, srv, nil)
		want := media.Format{Encoding: media.EncodingPCM16, SampleRate: 22050}
		r, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: text, Format: want})
		if err != nil {
			t.Fatalf("Synthesize: %v", err)
		}
		got, err := io.ReadAll(r)
		closeOK(t, r)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		in := srv.Speech(text, media.PCMU8k)
		if wantLen := len(in) * 22050 / 8000 * 2; len(got) < wantLen*9/10 || len(got)%2 != 0 {
			t.Errorf("got %d bytes of PCM16/22050, want about %d", len(got), wantLen)
		}
		if q := srv.Speaks()[0].Query; q["encoding"][0] != "mulaw" {
			t.Errorf("asked Aura for %v", q)
		}
	})

	t.Run("closing the reader mid-stream is seen by the fake within 50 ms", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{ChunkBytes: 160, ChunkDelay: 20 * time.Millisecond})
		c := newClient(t, srv, nil)
		r, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: text, Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Synthesize: %v", err)
		}
		if _, err := io.ReadFull(r, make([]byte, 320)); err != nil {
			t.Fatalf("read: %v", err)
		}
		at := time.Now()
		closeOK(t, r)
		ev := waitEvent(t, srv, deepgramtest.EventSpeakCanceled, 0)
		if d := ev.At.Sub(at); d > 50*time.Millisecond {
			t.Errorf("fake saw the cancellation after %s", d)
		}
	})

	t.Run("cancelling the context mid-stream is seen by the fake within 50 ms", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{ChunkBytes: 160, ChunkDelay: 20 * time.Millisecond})
		c := newClient(t, srv, nil)
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		r, err := c.Synthesize(ctx, ai.SpeechRequest{Text: text, Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Synthesize: %v", err)
		}
		defer closeOK(t, r)
		if _, err := io.ReadFull(r, make([]byte, 160)); err != nil {
			t.Fatalf("read: %v", err)
		}
		at := time.Now()
		cancel()
		ev := waitEvent(t, srv, deepgramtest.EventSpeakCanceled, 0)
		if d := ev.At.Sub(at); d > 50*time.Millisecond {
			t.Errorf("fake saw the cancellation after %s", d)
		}
		if _, err := io.ReadAll(r); err == nil {
			t.Error("read after cancel succeeded")
		}
	})

	t.Run("a 5xx before the first byte is retried", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{SpeakFaults: []deepgramtest.SpeakFault{{Status: 503}, {Status: 429}}})
		c := newClient(t, srv, nil)
		r, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: text, Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Synthesize: %v", err)
		}
		_, _ = io.Copy(io.Discard, r)
		closeOK(t, r)
		if n := len(srv.Speaks()); n != 3 {
			t.Errorf("fake saw %d requests, want 3", n)
		}
	})

	t.Run("a slow first byte times out and is retried", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{SpeakFaults: []deepgramtest.SpeakFault{{FirstByteDelay: 2 * time.Second}}})
		c := newClient(t, srv, func(c *deepgram.Config) { c.Resilience.FirstByteTimeout = 100 * time.Millisecond })
		r, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: text, Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Synthesize: %v", err)
		}
		_, _ = io.Copy(io.Discard, r)
		closeOK(t, r)
		waitEvent(t, srv, deepgramtest.EventSpeakCanceled, 0)
		if s := srv.Speaks(); len(s) != 2 || !s[1].Done {
			t.Errorf("requests %+v", s)
		}
	})

	t.Run("the breaker opens after repeated failures", func(t *testing.T) {
		faults := make([]deepgramtest.SpeakFault, 10)
		for i := range faults {
			faults[i].Status = 502
		}
		srv := newServer(t, deepgramtest.Config{SpeakFaults: faults})
		c := newClient(t, srv, func(c *deepgram.Config) {
			c.Resilience.SpeakRetries = 0
			c.Resilience.BreakerFailures = 3
		})
		for i := range 3 {
			_, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: text})
			var ae *deepgram.APIError
			if !errors.Is(err, ai.ErrUnavailable) || !errors.As(err, &ae) || ae.Status != 502 {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		_, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: text})
		if !errors.Is(err, circuitbreaker.ErrOpen) || !errors.Is(err, ai.ErrUnavailable) {
			t.Errorf("with the breaker open: %v", err)
		}
		if n := len(srv.Speaks()); n != 3 {
			t.Errorf("fake saw %d requests, want 3", n)
		}
	})

	t.Run("a bad key is not worth a retry", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{})
		c := newClient(t, srv, func(c *deepgram.Config) { c.APIKey = "nope" })
		_, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: text})
		var ae *deepgram.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || errors.Is(err, ai.ErrUnavailable) {
			t.Errorf("bad key: %v", err)
		}
		if n := len(srv.Speaks()); n != 1 {
			t.Errorf("fake saw %d requests, want 1", n)
		}
		if _, err := c.Synthesize(ctxT(t), ai.SpeechRequest{Text: "  "}); !errors.Is(err, deepgram.ErrEmptyText) {
			t.Errorf("empty text: %v", err)
		}
	})
}
