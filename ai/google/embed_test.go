package google_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/google"
	"github.com/iace/iace/ai/google/googletest"
)

const testKey = "AIza-test-key"

func setup(t *testing.T, tweak func(*google.Config)) (*googletest.Server, *google.Client, *prometheus.Registry) {
	t.Helper()
	srv := googletest.Start(googletest.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	cfg := google.Config{
		BaseURL:    srv.URL,
		APIKey:     testKey,
		Retry:      google.RetryConfig{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
		Breaker:    google.BreakerConfig{Failures: 3, Delay: time.Minute},
		Registerer: reg,
		Logger:     slog.New(slog.DiscardHandler),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := google.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return srv, c, reg
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func counter(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() != outcome {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestEmbedSendsGooglesWireAndNormalises(t *testing.T) {
	srv, c, reg := setup(t, nil)
	texts := []string{"Cleanings take 45 minutes.", "Parking is behind the clinic."}
	vecs, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 2 || c.Dimensions() != 768 {
		t.Fatalf("%d vectors, dimensions %d", len(vecs), c.Dimensions())
	}
	for i, v := range vecs {
		raw := googletest.Vector(texts[i], 768)
		if n := norm(raw); math.Abs(n-1) < 0.01 {
			t.Fatalf("the fake's 768-value vector has norm %v: the test would prove nothing", n)
		}
		if len(v) != 768 || math.Abs(dot(v, v)-1) > 1e-5 {
			t.Errorf("vector %d: %d values, norm^2 %v, want unit length", i, len(v), dot(v, v))
		}
		if want := raw[5] / norm(raw); math.Abs(float64(v[5])-want) > 1e-6 {
			t.Errorf("vector %d is not the fake's vector scaled: %v vs %v", i, v[5], want)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "batchEmbedContents" || r.Model != google.DefaultModel || r.APIKey != testKey {
		t.Errorf("request %s for %s with key %q", r.Method, r.Model, r.APIKey)
	}
	for i, it := range r.Items {
		if it.Model != "models/gemini-embedding-001" || it.Text != texts[i] || it.OutputDimensionality != 768 || it.TaskType != google.DefaultTaskType {
			t.Errorf("item %d = %+v", i, it)
		}
	}
	if got := counter(t, reg, "iace_google_requests_total", "ok"); got != 1 {
		t.Errorf("ok = %v, want 1", got)
	}
}

func TestEmbedBatchesByAHundred(t *testing.T) {
	srv, c, _ := setup(t, nil)
	texts := make([]string, 250)
	for i := range texts {
		texts[i] = fmt.Sprintf("learned pattern %d", i)
	}
	vecs, err := c.EmbedTask(context.Background(), "RETRIEVAL_DOCUMENT", texts)
	if err != nil || len(vecs) != 250 {
		t.Fatalf("%d vectors, %v", len(vecs), err)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || len(reqs[0].Items) != 100 || len(reqs[1].Items) != 100 || len(reqs[2].Items) != 50 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[2].Items[49].Text != "learned pattern 249" || reqs[0].Items[0].TaskType != "RETRIEVAL_DOCUMENT" {
		t.Errorf("last item %+v", reqs[2].Items[49])
	}
	// Order across batches: the last vector is that of the last text.
	want, _ := c.Embed(context.Background(), []string{"learned pattern 249"})
	if math.Abs(dot(vecs[249], want[0])-1) > 1e-5 {
		t.Error("vectors are out of order")
	}
}

func TestEmbedSimilarTextsAreCloser(t *testing.T) {
	_, c, _ := setup(t, nil)
	v, err := c.Embed(context.Background(), []string{
		"caller wants to book a cleaning on friday",
		"book a cleaning for friday please",
		"the invoice amount is wrong",
	})
	if err != nil {
		t.Fatal(err)
	}
	if near, far := dot(v[0], v[1]), dot(v[0], v[2]); near <= far+0.2 {
		t.Errorf("similar %v, unrelated %v", near, far)
	}
}

func TestEmbedRetriesAndHonoursRetryInfo(t *testing.T) {
	srv, c, _ := setup(t, func(c *google.Config) {
		c.Retry.MaxAttempts = 4
		c.Breaker.Failures = 5
	})
	srv.Enqueue(googletest.Reply{Fault: googletest.FaultRateLimit, RetryAfter: time.Second},
		googletest.Reply{Fault: googletest.FaultInternal}, googletest.Reply{Fault: googletest.FaultCut})
	start := time.Now()
	v, err := c.Embed(context.Background(), []string{"hello"})
	if err != nil || len(v) != 1 {
		t.Fatalf("Embed = %v", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("succeeded after %v, before the 1s retryDelay", d)
	}
	if n := len(srv.Requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

func TestEmbedFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tweak    func(*google.Config)
		replies  []googletest.Reply
		requests int
		check    func(*testing.T, error)
	}{
		{"a daily quota is not retried", nil, []googletest.Reply{{Fault: googletest.FaultDailyQuota}}, 1,
			func(t *testing.T, err error) {
				var ae *google.APIError
				if !errors.As(err, &ae) || !ae.Daily || ae.Code != "RESOURCE_EXHAUSTED" || !errors.Is(err, ai.ErrUnavailable) {
					t.Errorf("err = %v", err)
				}
			}},
		{"a long retryDelay fails at once", nil, []googletest.Reply{{Fault: googletest.FaultRateLimit, RetryAfter: 30 * time.Second}}, 1,
			func(t *testing.T, err error) {
				var ae *google.APIError
				if !errors.As(err, &ae) || ae.RetryAfter != 30*time.Second {
					t.Errorf("err = %v", err)
				}
			}},
		{"a wrong key is a 400 API_KEY_INVALID", func(c *google.Config) { c.APIKey = "AIza-wrong" }, nil, 1,
			func(t *testing.T, err error) {
				var ae *google.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Reason != "API_KEY_INVALID" || errors.Is(err, ai.ErrUnavailable) {
					t.Errorf("err = %v", err)
				}
			}},
		{"a malformed answer", nil, []googletest.Reply{{Fault: googletest.FaultMalformed}}, 1,
			func(t *testing.T, err error) {
				if !errors.Is(err, google.ErrMalformed) {
					t.Errorf("err = %v", err)
				}
			}},
		{"a missing embedding", nil, []googletest.Reply{{Fault: googletest.FaultShort}}, 1,
			func(t *testing.T, err error) {
				if !errors.Is(err, google.ErrMalformed) {
					t.Errorf("err = %v", err)
				}
			}},
		{"503 every time", nil, []googletest.Reply{{Fault: googletest.FaultUnavailable}, {Fault: googletest.FaultUnavailable},
			{Fault: googletest.FaultUnavailable}}, 3,
			func(t *testing.T, err error) {
				if !errors.Is(err, ai.ErrUnavailable) {
					t.Errorf("err = %v", err)
				}
			}},
		{"slow every time times out", func(c *google.Config) { c.Timeout = 50 * time.Millisecond; c.Retry.MaxAttempts = 2 },
			[]googletest.Reply{{Delay: time.Second}, {Delay: time.Second}}, 2,
			func(t *testing.T, err error) {
				if !errors.Is(err, google.ErrTimeout) || !errors.Is(err, ai.ErrUnavailable) {
					t.Errorf("err = %v", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, _ := setup(t, tc.tweak)
			srv.Enqueue(tc.replies...)
			_, err := c.Embed(context.Background(), []string{"one", "two"})
			tc.check(t, err)
			if n := len(srv.Requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestEmbedBreakerOpens(t *testing.T) {
	srv, c, reg := setup(t, func(c *google.Config) {
		c.Retry.MaxAttempts = 1
		c.Breaker.Failures = 2
	})
	srv.Enqueue(googletest.Reply{Fault: googletest.FaultUnavailable}, googletest.Reply{Fault: googletest.FaultInternal})
	for range 2 {
		_, _ = c.Embed(context.Background(), []string{"x"})
	}
	_, err := c.Embed(context.Background(), []string{"x"})
	if !errors.Is(err, google.ErrCircuitOpen) || !errors.Is(err, ai.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if got := counter(t, reg, "iace_google_requests_total", "rejected"); got != 1 {
		t.Errorf("rejected = %v", got)
	}
}

func TestEmbedCancel(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.Enqueue(googletest.Reply{Delay: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Embed(ctx, []string{"x"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestEmbedChecksInputs(t *testing.T) {
	srv, c, _ := setup(t, func(c *google.Config) { c.MaxTextBytes = 16 })
	if _, err := c.Embed(context.Background(), []string{"ok", " "}); !errors.Is(err, google.ErrEmptyText) {
		t.Errorf("blank text: %v", err)
	}
	if len(srv.Requests()) != 0 {
		t.Fatal("a request for invalid input")
	}
	if _, err := c.Embed(context.Background(), []string{"a text well over sixteen bytes"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[0].Items[0].Text; len(got) > 16 {
		t.Errorf("sent %q", got)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := google.New(google.Config{})
	if !errors.Is(err, google.ErrNoAPIKey) || !errors.Is(err, ai.ErrUnavailable) {
		t.Errorf("no key: %v", err)
	}
	_, err = google.New(google.Config{APIKey: "k", Dimensions: 64, BatchSize: 101, BaseURL: "ftp://x"})
	for _, want := range []string{"dimensions", "batch size", "base URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v does not mention %s", err, want)
		}
	}
}
