package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/storetest"
)

// span is one span as the collector received it.
type span struct {
	name, scope, trace, id, parent string
	kind                           tracepb.Span_SpanKind
	start                          uint64
	attrs                          map[string]string
}

// collector is an OTLP/HTTP trace receiver: it decodes the protobuf
// ExportTraceServiceRequest bodies the exporter posts to /v1/traces.
type collector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []span
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want protobuf on /v1/traces", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		raw, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.add(&req)
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) add(req *coltracepb.ExportTraceServiceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range s.GetAttributes() {
					if v, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
						attrs[kv.GetKey()] = v.StringValue
					}
				}
				c.spans = append(c.spans, span{name: s.GetName(), scope: ss.GetScope().GetName(),
					trace: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()), parent: hex.EncodeToString(s.GetParentSpanId()),
					kind: s.GetKind(), start: s.GetStartTimeUnixNano(), attrs: attrs})
			}
		}
	}
}

// trace returns the spans of one trace, oldest first.
func (c *collector) trace(id string) []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []span
	for _, s := range c.spans {
		if s.trace == id {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b span) int { return int(int64(a.start) - int64(b.start)) })
	return out
}

// tree prints spans as an indented tree under their parents.
func tree(spans []span) string {
	var b strings.Builder
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.id] = true
	}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, s := range spans {
			if s.parent == parent || parent == "" && !ids[s.parent] {
				fmt.Fprintf(&b, "%s%s [%s, %s]\n", strings.Repeat("  ", depth), s.name, strings.TrimPrefix(s.kind.String(), "SPAN_KIND_"), s.scope)
				walk(s.id, depth+1)
			}
		}
	}
	walk("", 0)
	return b.String()
}

// TestOneTraceFromTheWebhookToTheProviders is the trace of a call from the
// webhook that announces it to each request it makes: iace serve on
// PostgreSQL and Redis, with the real cloud clients pointed at fakes of
// Telnyx, Deepgram and an OpenAI-compatible model, exports its spans to an
// OTLP receiver. The webhook's request span, its processing, the call
// continued from the stream token, the call's turns, every provider
// request (whose W3C traceparent the fake received) and the database and
// Redis commands are one trace; the reply latency histogram keeps that
// trace id as an exemplar; and the call's log lines name it.
func TestOneTraceFromTheWebhookToTheProviders(t *testing.T) {
	otlp := newCollector(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const line = "what are your opening hours"
	tx := callcontroltest.NewServer("tx-key")
	defer tx.Close()
	dg := deepgramtest.NewServer(deepgramtest.Config{APIKey: "dg-key", Transcripts: []string{line}})
	defer dg.Close()
	llm := openaitest.Start(openaitest.Options{APIKey: "llm-key"})
	defer llm.Close()
	llm.SetDefaultChat(openaitest.ChatReply{Text: []string{"We are open ", "Monday to Friday, ", "nine to five."}})
	dbURL, err := url.Parse(storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := dbURL.Query()
	q.Set("search_path", storetest.FreshSchema(t)+",public")
	dbURL.RawQuery = q.Encode()

	cfg, err := loadConfig([]string{"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "json",
		"--data-dir", t.TempDir(), "--default-agent", "", "--public-url", "https://iace.example.com",
		"--telnyx-public-key", base64.StdEncoding.EncodeToString(pub), "--telnyx-api-url", tx.BaseURL(),
		"--llm-base-url", llm.URL, "--deepgram-url", dg.URL(), "--sentiment", "lexicon",
		"--otlp-endpoint", otlp.srv.URL},
		env(map[string]string{
			"IACE_DATABASE_URL": dbURL.String(), "IACE_REDIS_URL": "redis://127.0.0.1:6379/0",
			envTelnyxKey: "tx-key", envLLMKey: "llm-key", envDeepgramKey: "dg-key",
			"IACE_STREAM_SECRET": "stream-secret-0123456789abcdef0123", "IACE_AUTH_SECRET": "auth-secret-0123456789abcdef012345",
		}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLog()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := newServer(ctx, cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	errc := s.start(ctx)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := s.shutdown(ctx, 5*time.Second, nil); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		for range 2 { // both listeners
			if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
		}
	}
	defer stop()

	// An organization whose agent answers the number.
	const number = "+15550001000"
	st := s.stores.backend
	if _, err := st.CreateOrg(ctx, store.Organization{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	agent := store.DefaultAgent()
	agent.ID, agent.OrgID, agent.Greeting = "desk", "acme", "Hello, thanks for calling."
	if _, err := st.CreateAgent(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if err := st.AllotNumber(ctx, "acme", number); err != nil {
		t.Fatal(err)
	}
	if err := st.AssignNumber(ctx, store.Number{OrgID: "acme", E164: number, AgentID: "desk"}); err != nil {
		t.Fatal(err)
	}

	// Telnyx announces the call; IACE answers it with a stream URL.
	run := rand.Text()[:8] // Redis remembers delivered event ids for a day
	ccid := "v3:traced-" + run
	base := "http://" + s.publicLn.Addr().String()
	if code := postSigned(t, base+"/webhooks/telnyx", priv,
		telnyxEvent("evt-t-"+run, "call.initiated", ccid, number, map[string]any{"direction": "incoming"}), time.Now()); code != 200 {
		t.Fatalf("call.initiated: %d", code)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	answer, err := tx.WaitApplied(wctx, "answer", ccid)
	if err != nil {
		t.Fatalf("no answer reached Telnyx: %v", err)
	}
	streamURL, err := url.Parse(fmt.Sprint(answer.Body["stream_url"]))
	if err != nil {
		t.Fatal(err)
	}
	token := streamURL.Query().Get("token")

	// Telnyx opens the stream with the token; the caller asks, the agent answers.
	rep, err := sim.Run(ctx, sim.Config{URL: "ws://" + s.publicLn.Addr().String() + "/media/telnyx", To: number, CallControlID: ccid,
		Script: []string{line}, StreamToken: func(int, string) (string, error) { return token, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CallsCompleted != 1 || rep.TurnsAnswered != 1 {
		t.Fatalf("the call: %+v\n%s", rep, logs.String())
	}
	metrics := scrapeOpenMetrics(t, "http://"+s.intLn.Addr().String()+"/metrics")
	stop() // flushes the spans to the collector

	// The webhook's request is the root of the call's trace.
	var root span
	otlp.mu.Lock()
	for _, sp := range otlp.spans {
		if sp.name == "POST /webhooks/telnyx" && sp.attrs["iace.webhook.event_type"] == "call.initiated" {
			root = sp
		}
	}
	otlp.mu.Unlock()
	if root.id == "" {
		t.Fatalf("no span of the call.initiated request among the spans received:\n%s", tree(otlp.spans))
	}
	spans := otlp.trace(root.trace)
	t.Logf("trace %s:\n%s", root.trace, tree(spans))

	one := func(name, parent string) span {
		t.Helper()
		for _, sp := range spans {
			if sp.name == name && (parent == "" || sp.parent == parent) {
				return sp
			}
		}
		t.Fatalf("no span %q under %s in the trace", name, parent)
		return span{}
	}
	process := one("webhook call.initiated", root.id)
	one("telnyx answer", process.id)
	call := one("call", process.id)
	if call.kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("the call span is a %v", call.kind)
	}
	one("deepgram listen", call.id)
	var reply span
	for _, sp := range spans {
		if sp.name == "turn" && sp.parent == call.id && sp.attrs["iace.turn.kind"] == "reply" {
			reply = sp
		}
	}
	if reply.id == "" {
		t.Fatal("no reply turn under the call")
	}
	chat := one("openai-compatible POST /chat/completions", reply.id)
	one("deepgram speak", reply.id)
	for _, sp := range []span{chat, one("telnyx answer", "")} {
		if sp.kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("%s is a %v span, want a client span", sp.name, sp.kind)
		}
	}
	count := func(scope string) int {
		n := 0
		for _, sp := range spans {
			if strings.HasPrefix(sp.scope, scope) {
				n++
			}
		}
		return n
	}
	if count("github.com/exaring/otelpgx") == 0 || count("github.com/redis/go-redis/extra/redisotel") == 0 {
		t.Errorf("%d database and %d Redis spans in the trace: want both", count("github.com/exaring/otelpgx"), count("github.com/redis/go-redis/extra/redisotel"))
	}

	// Each fake provider received the trace's context.
	inTrace := func(who, traceparent string) {
		t.Helper()
		if parts := strings.Split(traceparent, "-"); len(parts) != 4 || parts[1] != root.trace {
			t.Errorf("%s received traceparent %q, not of trace %s", who, traceparent, root.trace)
		}
	}
	inTrace("Telnyx (answer)", answer.TraceParent)
	if reqs := llm.Requests(); len(reqs) == 0 {
		t.Error("the model was not asked")
	} else {
		inTrace("the model", reqs[0].Header.Get("traceparent"))
	}
	if ls := dg.Listens(); len(ls) == 0 {
		t.Error("Deepgram was not dialled")
	} else {
		inTrace("Deepgram (listen)", ls[0].TraceParent)
	}
	for _, sp := range dg.Speaks() {
		// The holding phrase may be rendered at start, outside any call.
		if sp.Text != session.DefaultConfig().HoldingPhrase {
			inTrace("Deepgram (speak "+sp.Text+")", sp.TraceParent)
		}
	}

	// The reply's latency keeps the trace id as its exemplar.
	exemplar := `# {trace_id="` + root.trace + `"}`
	if !slices.ContainsFunc(strings.Split(metrics, "\n"), func(l string) bool {
		return strings.HasPrefix(l, "iace_session_reply_latency_ms_bucket") && strings.Contains(l, exemplar)
	}) {
		t.Errorf("no reply latency bucket with the exemplar %s", exemplar)
	}

	// The call's log lines name the trace.
	named := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var l struct {
			Msg     string `json:"msg"`
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.TraceID == root.trace {
			named[l.Msg] = true
		}
	}
	for _, msg := range []string{"call answered with a media stream", "telnyx call control attempt", "call started"} {
		if !named[msg] {
			t.Errorf("the log line %q does not name the trace", msg)
		}
	}
}

// scrapeOpenMetrics reads the metrics in the OpenMetrics text format, the
// one that carries exemplars.
func scrapeOpenMetrics(t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("metrics served as %q, want OpenMetrics", ct)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
