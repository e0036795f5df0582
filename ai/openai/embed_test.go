package openai_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/ai/openai/openaitest"
)

var _ ai.Embedder = (*openai.Embedder)(nil)

func newEmbedder(t *testing.T, tweak func(*openai.Config, *openai.EmbedderConfig)) (*openaitest.Server, *openai.Embedder, *prometheus.Registry) {
	t.Helper()
	srv := openaitest.Start(openaitest.Options{APIKey: testKey, Vendor: openaitest.OpenAI})
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	cfg := openai.Config{
		BaseURL:    srv.URL,
		APIKey:     testKey,
		Retry:      openai.RetryConfig{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
		Breaker:    openai.BreakerConfig{Failures: 3, Delay: time.Minute},
		Registerer: reg,
		Logger:     slog.New(slog.DiscardHandler),
	}
	ec := openai.EmbedderConfig{}
	if tweak != nil {
		tweak(&cfg, &ec)
	}
	e, err := openai.NewEmbedder(cfg, ec)
	if err != nil {
		t.Fatalf("NewEmbedder: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return srv, e, reg
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestEmbedderBatchesAndKeepsOrder(t *testing.T) {
	srv, e, reg := newEmbedder(t, func(_ *openai.Config, ec *openai.EmbedderConfig) { ec.BatchSize = 3 })
	srv.EnqueueEmbeddings(openaitest.EmbeddingsReply{Reverse: true})
	texts := make([]string, 7)
	for i := range texts {
		texts[i] = fmt.Sprintf("pattern number %d about opening hours", i)
	}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(texts) || e.Dimensions() != 768 {
		t.Fatalf("%d vectors, dimensions %d", len(vecs), e.Dimensions())
	}
	for i, v := range vecs {
		if len(v) != 768 || math.Abs(dot(v, v)-1) > 1e-5 {
			t.Errorf("vector %d: %d values, norm^2 %v", i, len(v), dot(v, v))
		}
		// The fake's vector of the same text, unit length, in order
		// even though the first answer came reversed.
		want := openaitest.Vector(texts[i], 768)
		var n float64
		for _, x := range want {
			n += x * x
		}
		if math.Abs(float64(v[0])-want[0]/math.Sqrt(n)) > 1e-6 || math.Abs(float64(v[767])-want[767]/math.Sqrt(n)) > 1e-6 {
			t.Errorf("vector %d is not the vector of text %d", i, i)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (3+3+1)", len(reqs))
	}
	for i, want := range []int{3, 3, 1} {
		in, err := reqs[i].Embeddings.Texts()
		if err != nil || len(in) != want {
			t.Errorf("batch %d: %d texts (%v), want %d", i, len(in), err, want)
		}
		r := reqs[i].Embeddings
		if r.Model != openai.DefaultEmbeddingModel || r.Dimensions == nil || *r.Dimensions != 768 || r.EncodingFormat != "float" {
			t.Errorf("batch %d: model %q dimensions %v format %q", i, r.Model, r.Dimensions, r.EncodingFormat)
		}
	}
	if got := counter(t, reg, "iace_openai_requests_total", "embed", "ok"); got != 3 {
		t.Errorf("ok = %v, want 3", got)
	}
}

func TestEmbedderSimilarTextsAreCloser(t *testing.T) {
	_, e, _ := newEmbedder(t, nil)
	v, err := e.Embed(context.Background(), []string{
		"I want to book a cleaning on Friday",
		"Can I book a cleaning for Friday morning?",
		"My invoice has the wrong amount",
	})
	if err != nil {
		t.Fatal(err)
	}
	if near, far := dot(v[0], v[1]), dot(v[0], v[2]); near <= far+0.2 {
		t.Errorf("similar %v, unrelated %v: want similar clearly closer", near, far)
	}
}

func TestEmbedderChecksInputs(t *testing.T) {
	srv, e, _ := newEmbedder(t, func(_ *openai.Config, ec *openai.EmbedderConfig) { ec.MaxTextBytes = 20 })
	if _, err := e.Embed(context.Background(), []string{"fine", "  "}); !errors.Is(err, openai.ErrEmptyText) {
		t.Errorf("blank text: %v, want ErrEmptyText", err)
	}
	if v, err := e.Embed(context.Background(), nil); err != nil || len(v) != 0 {
		t.Errorf("no texts: %v, %v", v, err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests for invalid or empty input", n)
	}
	if _, err := e.Embed(context.Background(), []string{"a rather long sentence about parking behind the clinic"}); err != nil {
		t.Fatal(err)
	}
	in, _ := srv.Requests()[0].Embeddings.Texts()
	if len(in[0]) > 20 {
		t.Errorf("sent %d bytes, want at most 20", len(in[0]))
	}
}

func TestEmbedderOmitsDimensionsForOlderModels(t *testing.T) {
	srv, e, _ := newEmbedder(t, func(_ *openai.Config, ec *openai.EmbedderConfig) {
		ec.Model, ec.OmitDimensions = "nomic-embed-text-v1_5", true
	})
	if _, err := e.Embed(context.Background(), []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	if d := srv.Requests()[0].Embeddings.Dimensions; d != nil {
		t.Errorf("dimensions = %d, want none", *d)
	}
}

func TestEmbedderFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replies  []openaitest.EmbeddingsReply
		requests int
		check    func(error) bool
	}{
		{"a 503 is retried", []openaitest.EmbeddingsReply{{Fault: openaitest.FaultUnavailable}, {}}, 2,
			func(err error) bool { return err == nil }},
		{"a cut connection is retried", []openaitest.EmbeddingsReply{{Fault: openaitest.FaultCut}, {}}, 2,
			func(err error) bool { return err == nil }},
		{"a malformed answer fails", []openaitest.EmbeddingsReply{{Fault: openaitest.FaultMalformed}}, 1,
			func(err error) bool { return errors.Is(err, openai.ErrMalformed) }},
		{"a missing vector fails", []openaitest.EmbeddingsReply{{Short: true}}, 1,
			func(err error) bool { return errors.Is(err, openai.ErrMalformed) }},
		{"503 every time fails unavailable", []openaitest.EmbeddingsReply{{Fault: openaitest.FaultUnavailable},
			{Fault: openaitest.FaultUnavailable}, {Fault: openaitest.FaultUnavailable}}, 3,
			func(err error) bool { return errors.Is(err, ai.ErrUnavailable) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, e, _ := newEmbedder(t, nil)
			srv.EnqueueEmbeddings(tc.replies...)
			_, err := e.Embed(context.Background(), []string{"one", "two"})
			if !tc.check(err) {
				t.Errorf("err = %v", err)
			}
			if n := len(srv.Requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestEmbedderCancel(t *testing.T) {
	srv, e, reg := newEmbedder(t, nil)
	srv.EnqueueEmbeddings(openaitest.EmbeddingsReply{FirstByteDelay: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-srv.Arrivals()
		cancel()
	}()
	start := time.Now()
	_, err := e.Embed(ctx, []string{"hello"})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v, want context.Canceled at once", err, time.Since(start))
	}
	if got := counter(t, reg, "iace_openai_requests_total", "embed", "canceled"); got != 1 {
		t.Errorf("canceled = %v, want 1", got)
	}
}
