package deepgram_test

import (
	"testing"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/media"
)

// BenchmarkStreamSend is the transcriber's share of a caller frame on the
// reader goroutine: one 20 ms PCMU frame, as it came, into the stream's
// queue (the socket writer drains it meanwhile).
func BenchmarkStreamSend(b *testing.B) {
	srv := deepgramtest.NewServer(deepgramtest.Config{})
	defer srv.Close()
	c := newClient(b, srv, nil)
	st, err := c.Open(b.Context(), ai.TranscribeConfig{Format: media.PCMU8k})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	f := tone()
	b.ReportAllocs()
	for b.Loop() {
		_ = st.Send(f)
	}
}
