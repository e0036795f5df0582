package deepgram_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/deepgram"
	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/media"
)

// nextFinal reads Results until a final transcript.
func nextFinal(t *testing.T, s ai.TranscriptStream) ai.Transcript {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case tr, ok := <-s.Results():
			if !ok {
				t.Fatal("Results closed before a final")
			}
			if tr.Final {
				return tr
			}
		case <-timeout:
			t.Fatal("no final transcript")
		}
	}
}

func TestListen(t *testing.T) {
	t.Run("audio goes in batches and Finalize yields the final transcript", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{Transcripts: []string{"I need to reschedule."}, TimeToFinal: 20 * time.Millisecond})
		c := newClient(t, srv, func(c *deepgram.Config) { c.QueueFrames = 200 })
		st, err := c.Open(ctxT(t), ai.TranscribeConfig{Format: media.PCMU8k, Language: "en-US"})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		const frames = 100
		f := tone()
		for range frames {
			if err := st.Send(f); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		if err := st.EndOfSpeech(); err != nil {
			t.Fatalf("EndOfSpeech: %v", err)
		}
		if got := nextFinal(t, st); got.Text != "I need to reschedule." {
			t.Errorf("final = %q", got.Text)
		}
		closeOK(t, st)
		if _, ok := <-st.Results(); ok {
			t.Error("Results still open after Close")
		}
		stats := st.(*deepgram.Stream).Stats()
		rec := srv.Listens()[0]
		if rec.AudioBytes != frames*160 {
			t.Errorf("fake got %d audio bytes, want %d", rec.AudioBytes, frames*160)
		}
		if rec.AudioMessages != int(stats.AudioMessages) || rec.AudioMessages > frames/3 {
			t.Errorf("%d binary messages for %d frames (client counted %d); want batches", rec.AudioMessages, frames, stats.AudioMessages)
		}
		if rec.Finalizes != 1 || rec.CloseStreams != 1 {
			t.Errorf("finalizes %d, closestreams %d; want 1 and 1; %+v %+v", rec.Finalizes, rec.CloseStreams, rec, stats)
		}
		q := rec.Query
		for k, want := range map[string]string{"model": "nova-3", "encoding": "mulaw", "sample_rate": "8000", "channels": "1",
			"interim_results": "true", "endpointing": "300", "utterance_end_ms": "1000", "smart_format": "true", "language": "en-US"} {
			if got := q[k]; len(got) != 1 || got[0] != want {
				t.Errorf("query %s = %v, want %s", k, got, want)
			}
		}
		if rec.Authorization != "Token <redacted>" {
			t.Errorf("Authorization scheme %q", rec.Authorization)
		}
	})

	t.Run("the call's frames go as they came, in the encoding the query names", func(t *testing.T) {
		for _, tt := range []struct {
			format   media.Format
			encoding string
			rate     string
		}{
			{media.PCMU8k, "mulaw", "8000"},
			{media.Format{Encoding: media.EncodingPCMA, SampleRate: 8000}, "alaw", "8000"},
			{media.Format{Encoding: media.EncodingPCMU, SampleRate: 16000}, "mulaw", "16000"},
			// L16 is big-endian; Deepgram's linear16 little-endian: swapped.
			{media.Format{Encoding: media.EncodingL16, SampleRate: 16000}, "linear16", "16000"},
			{media.Format{Encoding: media.EncodingPCM16, SampleRate: 24000}, "linear16", "24000"},
		} {
			t.Run(tt.format.String(), func(t *testing.T) {
				srv := newServer(t, deepgramtest.Config{Transcripts: []string{"hello"}})
				c := newClient(t, srv, nil)
				st, err := c.Open(ctxT(t), ai.TranscribeConfig{Format: tt.format})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				frame := toneIn(tt.format)
				for range 10 {
					if err := st.Send(frame); err != nil {
						t.Fatalf("Send: %v", err)
					}
				}
				_ = st.EndOfSpeech()
				if got := nextFinal(t, st); got.Text != "hello" {
					t.Errorf("final = %q", got.Text)
				}
				closeOK(t, st)
				rec := srv.Listens()[0]
				if q := rec.Query; q["encoding"][0] != tt.encoding || q["sample_rate"][0] != tt.rate {
					t.Errorf("query encoding %v sample_rate %v, want %s %s", q["encoding"], q["sample_rate"], tt.encoding, tt.rate)
				}
				if rec.AudioBytes != 10*len(frame) {
					t.Errorf("fake got %d audio bytes, want %d", rec.AudioBytes, 10*len(frame))
				}
				// What Deepgram hears, decoding as the query says, is the
				// caller's audio: the bytes were the encoding named.
				want := make([]int16, len(frame))
				want = want[:media.DecodeTo(want, frame, tt.format.Encoding)]
				if len(rec.Heard) != 10*len(want) {
					t.Fatalf("fake heard %d samples, want %d", len(rec.Heard), 10*len(want))
				}
				for i, v := range rec.Heard {
					if v != want[i%len(want)] {
						t.Fatalf("sample %d heard as %d, want %d: the audio is not in the encoding the query names", i, v, want[i%len(want)])
					}
				}
			})
		}
	})

	t.Run("Open refuses a format it cannot name", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{})
		c := newClient(t, srv, nil)
		if _, err := c.Open(ctxT(t), ai.TranscribeConfig{Format: media.Format{Encoding: media.EncodingPCMU, SampleRate: 11025}}); err == nil {
			t.Error("Open at 11025 Hz succeeded")
		}
		if n := len(srv.Listens()); n != 0 {
			t.Errorf("%d listen requests for a refused format, want 0", n)
		}
	})

	t.Run("the fake rejects an encoding Deepgram does not take", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{})
		for _, q := range []string{"encoding=pcm16&sample_rate=8000", "sample_rate=8000", "encoding=mulaw"} {
			req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, srv.HTTPURL()+"/v1/listen?model=nova-3&"+q, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Token "+deepgramtest.DefaultAPIKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
			}
		}
	})

	t.Run("an idle stream sends KeepAlive", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{})
		c := newClient(t, srv, func(c *deepgram.Config) { c.KeepAlive = 20 * time.Millisecond })
		st, err := c.Open(ctxT(t), ai.TranscribeConfig{Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		waitEvent(t, srv, deepgramtest.EventKeepAlive, 0)
		waitEvent(t, srv, deepgramtest.EventKeepAlive, 0)
		closeOK(t, st)
		if st.(*deepgram.Stream).Stats().KeepAlives < 2 {
			t.Error("fewer than 2 keepalives counted")
		}
	})

	t.Run("Send never blocks when Deepgram stops reading: the queue drops and counts", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{ReadBuffer: 4096, ListenFaults: []deepgramtest.ListenFault{{StallRead: true}}})
		c := newClient(t, srv, func(c *deepgram.Config) {
			c.QueueFrames = 10
			c.CloseTimeout = 100 * time.Millisecond
		})
		st, err := c.Open(ctxT(t), ai.TranscribeConfig{Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			f := tone()
			for range 20000 {
				_ = st.Send(f)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Send blocked")
		}
		if d := st.(*deepgram.Stream).Stats().DroppedFrames; d == 0 {
			t.Error("no frame dropped although the fake stopped reading")
		}
		closeOK(t, st)
	})

	t.Run("a dropped socket is redialled and transcripts continue", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{Transcripts: []string{"after the drop"},
			ListenFaults: []deepgramtest.ListenFault{{DropAfter: 1}}})
		c := newClient(t, srv, nil)
		st, err := c.Open(ctxT(t), ai.TranscribeConfig{Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		f := tone()
		for range 10 {
			_ = st.Send(f)
		}
		waitEvent(t, srv, deepgramtest.EventListenOpen, 1) // after the fake cut #0
		for range 10 {
			_ = st.Send(f)
		}
		_ = st.EndOfSpeech()
		if got := nextFinal(t, st); got.Text != "after the drop" {
			t.Errorf("final = %q", got.Text)
		}
		closeOK(t, st)
		if r := st.(*deepgram.Stream).Stats().Redials; r != 1 {
			t.Errorf("redials = %d, want 1", r)
		}
	})

	t.Run("when redials keep failing Results is closed", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{ListenFaults: []deepgramtest.ListenFault{{DropAfter: 1}, {Status: 503}, {Status: 503}, {Status: 429}}})
		c := newClient(t, srv, func(c *deepgram.Config) { c.Resilience.Redials = 3 })
		st, err := c.Open(ctxT(t), ai.TranscribeConfig{Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_ = st.Send(tone())
		timeout := time.After(5 * time.Second)
		for open := true; open; {
			select {
			case _, open = <-st.Results():
			case <-timeout:
				t.Fatal("Results not closed")
			}
		}
		closeOK(t, st)
		if n := len(srv.Listens()); n != 4 {
			t.Errorf("fake saw %d connection attempts, want 4", n)
		}
		if err := st.Send(tone()); !errors.Is(err, deepgram.ErrClosed) {
			t.Errorf("Send after Close: %v", err)
		}
	})

	t.Run("Open fails on a bad key and on a busy Deepgram", func(t *testing.T) {
		srv := newServer(t, deepgramtest.Config{ListenFaults: []deepgramtest.ListenFault{{}, {Status: 429}}})
		bad := newClient(t, srv, func(c *deepgram.Config) { c.APIKey = "wrong" })
		_, err := bad.Open(ctxT(t), ai.TranscribeConfig{Format: media.PCMU8k})
		var ae *deepgram.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "INVALID_AUTH" || errors.Is(err, ai.ErrUnavailable) {
			t.Errorf("bad key: %v", err)
		}
		busy := newClient(t, srv, nil)
		_, err = busy.Open(ctxT(t), ai.TranscribeConfig{Format: media.PCMU8k})
		if !errors.As(err, &ae) || ae.Status != 429 || !errors.Is(err, ai.ErrUnavailable) || ae.RequestID == "" {
			t.Errorf("busy: %v", err)
		}
	})

	t.Run("Close and cancellation leave no goroutine", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		srv := deepgramtest.NewServer(deepgramtest.Config{})
		defer srv.Close()
		c := newClient(t, srv, nil)
		ctx := ctxT(t)
		st, err := c.Open(ctx, ai.TranscribeConfig{Format: media.PCMU8k})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_ = st.Send(tone())
		closeOK(t, st)
		closeOK(t, st) // idempotent
		waitEvent(t, srv, deepgramtest.EventListenClosed, 0)
	})
}

func TestNewWithoutKey(t *testing.T) {
	_, err := deepgram.New(deepgram.DefaultConfig())
	if !errors.Is(err, deepgram.ErrNoAPIKey) || !errors.Is(err, ai.ErrUnavailable) {
		t.Errorf("New without key: %v", err)
	}
}
