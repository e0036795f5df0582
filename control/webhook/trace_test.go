package webhook_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/media/telnyx/callcontrol"
)

// TestTheAnswerContinuesTheTraceOfTheWebhook: the webhook request is a
// server span (under a traceparent the request brings); the event's
// processing, processed after the answer to Telnyx, continues it; the
// answer to Call Control is a client span whose context Telnyx receives;
// and the stream token carries the processing span's context, so the call
// continues the same trace.
func TestTheAnswerContinuesTheTraceOfTheWebhook(t *testing.T) {
	st := embeddedStore(t)
	e := newEnv(t, st, nil)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.WithoutCancel(t.Context())) }()
	cc, err := callcontrol.New(callcontrol.Config{BaseURL: e.fake.BaseURL(), APIKey: "test-key", MaxRetries: -1, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	h, err := webhook.New(e.cfg, webhook.Deps{Agents: st, Calls: st, Control: cc, Dedupe: webhook.NewStoreDeduper(st),
		Metrics: webhook.NewMetrics(prometheus.NewRegistry()), Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- h.Run(ctx) }()

	const upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	const ccid = "v3:traced"
	body := ev{id: "ev-t1", typ: webhook.TypeCallInitiated, ccid: ccid}.body()
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/webhooks/telnyx", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("telnyx-timestamp", stamp)
	req.Header.Set("telnyx-signature-ed25519", b64(ed25519.Sign(e.priv, append([]byte(stamp+"|"), body...))))
	req.Header.Set("traceparent", upstream)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = s
	}
	request, process, answer := byName["POST /webhooks/telnyx"], byName["webhook call.initiated"], byName["telnyx answer"]
	if request == nil || process == nil || answer == nil {
		t.Fatalf("spans %v: want the request, its processing and the answer", byName)
	}
	if request.SpanKind() != trace.SpanKindServer || request.Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("request span %v under %v: want a server span under the incoming traceparent", request.SpanKind(), request.Parent())
	}
	for _, s := range []sdktrace.ReadOnlySpan{request, process, answer} {
		if s.SpanContext().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
			t.Errorf("%s is in trace %s", s.Name(), s.SpanContext().TraceID())
		}
	}
	if process.Parent().SpanID() != request.SpanContext().SpanID() || answer.Parent().SpanID() != process.SpanContext().SpanID() {
		t.Error("the processing is not under the request, or the answer not under the processing")
	}
	cmds := e.commands("answer")
	if len(cmds) != 1 {
		t.Fatalf("%d answers", len(cmds))
	}
	if want := "00-" + answer.SpanContext().TraceID().String() + "-" + answer.SpanContext().SpanID().String() + "-01"; cmds[0].TraceParent != want {
		t.Errorf("Telnyx received traceparent %q, want %q", cmds[0].TraceParent, want)
	}
	su, _ := cmds[0].Body["stream_url"].(string)
	u, err := url.Parse(su)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := telnyx.Verify(secret, u.Query().Get("token"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := "00-" + process.SpanContext().TraceID().String() + "-" + process.SpanContext().SpanID().String() + "-01"; claims.TraceParent != want {
		t.Errorf("the stream token's trace parent %q, want the processing span %q", claims.TraceParent, want)
	}
}
