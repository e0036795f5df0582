package deepgram_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/iace/iace/ai/deepgram"
	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/media"
	"github.com/iace/iace/session"
)

// The client is what the session consumes; the check lives here, where both
// sides are visible, so the provider never imports the session.
var (
	_ session.Transcriber = (*deepgram.Client)(nil)
	_ session.Synthesizer = (*deepgram.Client)(nil)
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a client of srv with short timeouts; edit adjusts it.
func newClient(t testing.TB, srv *deepgramtest.Server, edit func(*deepgram.Config)) *deepgram.Client {
	t.Helper()
	cfg := deepgram.DefaultConfig()
	cfg.BaseURL = srv.URL()
	cfg.APIKey = deepgramtest.DefaultAPIKey
	cfg.CloseTimeout = time.Second
	cfg.Resilience.Backoff = 5 * time.Millisecond
	cfg.Resilience.MaxBackoff = 20 * time.Millisecond
	cfg.Registerer = prometheus.NewRegistry()
	cfg.Logger = slog.New(slog.DiscardHandler)
	if edit != nil {
		edit(&cfg)
	}
	c, err := deepgram.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newServer(t *testing.T, cfg deepgramtest.Config) *deepgramtest.Server {
	t.Helper()
	srv := deepgramtest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

// waitEvent waits for the fake to notice kind on connection or request index
// (-1: any), skipping other events.
func waitEvent(t *testing.T, srv *deepgramtest.Server, kind string, index int) deepgramtest.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-srv.Events():
			if ev.Kind == kind && (index < 0 || ev.Index == index) {
				return ev
			}
		case <-timeout:
			t.Fatalf("the fake did not see %s on #%d", kind, index)
		}
	}
}

// tone is one 20 ms frame of PCMU at 8 kHz, the phone's own format.
func tone() []byte { return toneIn(media.PCMU8k) }

// tonePCM is one 20 ms frame of a 300 Hz tone at rate.
func tonePCM(rate int) []int16 {
	f := make([]int16, rate/50)
	for i := range f {
		f[i] = int16(6000 * math.Sin(2*math.Pi*300*float64(i)/float64(rate)))
	}
	return f
}

// toneIn is one 20 ms frame of a 300 Hz tone in f, as a call carries it.
func toneIn(f media.Format) []byte {
	pcm := tonePCM(f.SampleRate)
	out := make([]byte, len(pcm)*f.Encoding.BytesPerSample())
	return out[:media.EncodeTo(out, pcm, f.Encoding)]
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func closeOK(t *testing.T, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
