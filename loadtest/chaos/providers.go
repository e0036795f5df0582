package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/ai/openai/openaitest"
)

// providerKey is the key the provider fakes accept.
const providerKey = "chaos-provider-key"

// Providers whose failure the providers case plays, in turn.
const (
	provSTT = "stt" // Deepgram live transcription (/v1/listen)
	provLLM = "llm" // the OpenAI-compatible chat model
	provTTS = "tts" // Deepgram Aura (/v1/speak)
)

// fakeProviders are the in-repo fakes of Deepgram (speech to text and
// Aura) and of an OpenAI-compatible chat model, with the latencies of
// `iace fakes`, each behind a faultProxy that can make it fail.
type fakeProviders struct {
	dg       *deepgramtest.Server
	llm      *openaitest.Server
	dgProxy  *faultProxy
	llmProxy *faultProxy
}

func startProviders(ctx context.Context) (*fakeProviders, error) {
	dg := deepgramtest.NewServer(deepgramtest.Config{
		APIKey:          providerKey,
		Transcripts:     []string{"what are your opening hours", "how much does it cost", "goodbye"},
		Repeat:          true,
		TimeToFinal:     150 * time.Millisecond,
		TimeToFirstByte: 150 * time.Millisecond,
	})
	llm := openaitest.Start(openaitest.Options{APIKey: providerKey})
	llm.SetDefaultChat(openaitest.ChatReply{
		Text:           []string{"We are open ", "Monday to Friday, ", "nine to five. ", "Anything else?"},
		FirstByteDelay: 250 * time.Millisecond,
		ChunkDelay:     20 * time.Millisecond,
	})
	p := &fakeProviders{dg: dg, llm: llm}
	var err error
	// Deepgram serves both of its products on one host: the path tells them apart.
	if p.dgProxy, err = newFaultProxy(ctx, strings.TrimPrefix(dg.HTTPURL(), "http://"), func(path string) string {
		if strings.HasPrefix(path, "/v1/speak") {
			return provTTS
		}
		return provSTT
	}); err != nil {
		p.Close()
		return nil, err
	}
	if p.llmProxy, err = newFaultProxy(ctx, strings.TrimPrefix(strings.TrimSuffix(llm.URL, openaitest.BasePath), "http://"),
		func(string) string { return provLLM }); err != nil {
		p.Close()
		return nil, err
	}
	go p.dgProxy.serve(ctx)
	go p.llmProxy.serve(ctx)
	return p, nil
}

// DeepgramURL and LLMURL are the nodes' --deepgram-url and --llm-base-url:
// the proxies.
func (p *fakeProviders) DeepgramURL() string { return "ws://" + p.dgProxy.Addr() }
func (p *fakeProviders) LLMURL() string      { return "http://" + p.llmProxy.Addr() + openaitest.BasePath }

// Fail makes provider kind fail (true) or work again (false).
func (p *fakeProviders) Fail(kind string, on bool) {
	if kind == provLLM {
		p.llmProxy.Fail(kind, on)
		return
	}
	p.dgProxy.Fail(kind, on)
}

// Close stops the proxies and the fakes.
func (p *fakeProviders) Close() {
	if p.dgProxy != nil {
		p.dgProxy.Close()
	}
	if p.llmProxy != nil {
		p.llmProxy.Close()
	}
	p.dg.Close()
	p.llm.Close()
}

// faultProxy passes TCP connections to a provider fake, reading each
// connection's first request line to tell which product it is for (kind).
// While a kind fails, its connections in progress are cut (a streaming
// transcription or a reply mid-stream ends as when the provider's side
// drops) and new ones are answered 503 Service Unavailable: an outage as
// the node's clients see it, whatever they retry.
type faultProxy struct {
	ln      net.Listener
	backend string
	kindOf  func(path string) string

	mu     sync.Mutex
	failed map[string]bool
	conns  map[net.Conn]string // open client connections and their kind
	wg     sync.WaitGroup
}

func newFaultProxy(ctx context.Context, backend string, kindOf func(path string) string) (*faultProxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &faultProxy{ln: ln, backend: backend, kindOf: kindOf, failed: map[string]bool{}, conns: map[net.Conn]string{}}, nil
}

// Addr is the proxy's address.
func (f *faultProxy) Addr() string { return f.ln.Addr().String() }

// Fail starts (on) or ends an outage of kind.
func (f *faultProxy) Fail(kind string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed[kind] = on
	if !on {
		return
	}
	for c, k := range f.conns {
		if k == kind {
			_ = c.Close()
		}
	}
}

// Failing reports whether kind fails now.
func (f *faultProxy) Failing(kind string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed[kind]
}

// Close stops accepting and cuts every connection.
func (f *faultProxy) Close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// serve accepts until Close.
func (f *faultProxy) serve(ctx context.Context) {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Go(func() { f.handle(ctx, c) })
	}
}

// unavailable is the answer to a request for a failing provider.
const unavailable = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 71\r\n\r\n" +
	`{"error":{"message":"chaos: provider unavailable","type":"unavailable"}}`

// handle serves one client connection: its first request line names the
// kind; a failing kind gets 503, another is piped to the backend.
func (f *faultProxy) handle(ctx context.Context, c net.Conn) {
	defer func() { _ = c.Close() }()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	kind := f.kindOf(requestPath(line))
	f.mu.Lock()
	if f.failed[kind] {
		f.mu.Unlock()
		// The head is read so that the client is not reset mid-write.
		_, _ = http.ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader(line), br)))
		_, _ = io.WriteString(c, unavailable)
		return
	}
	f.conns[c] = kind
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
	}()
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	b, err := d.DialContext(dctx, "tcp", f.backend)
	cancel()
	if err != nil {
		return
	}
	defer func() { _ = b.Close() }()
	if _, err := io.WriteString(b, line); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { // ends when either side closes: both are closed on return
		_, _ = io.Copy(b, br)
		done <- struct{}{}
	}()
	go func() { // likewise
		_, _ = io.Copy(c, b)
		done <- struct{}{}
	}()
	<-done
	_ = c.Close()
	_ = b.Close()
	<-done
}

// requestPath is the path of an HTTP request line ("GET /v1/listen?x HTTP/1.1").
func requestPath(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	p, _, _ := strings.Cut(f[1], "?")
	return p
}
