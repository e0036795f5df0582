// Package deepgramtest is a fake Deepgram that speaks the real wire protocol
// (Deepgram's API reference, developers.deepgram.com; docs/protocols/deepgram.md): /v1/listen over WebSocket with
// scripted transcripts, and Aura's REST /v1/speak streaming audio in chunks,
// with scriptable latency and faults, recording what it received.
package deepgramtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/media"
)

// DefaultAPIKey is the key the fake accepts when Config.APIKey is empty.
const DefaultAPIKey = "test-key"

// Config scripts the fake. Zero values mean the defaults documented per field.
type Config struct {
	// APIKey is the only key accepted (DefaultAPIKey if empty).
	APIKey string

	// Transcripts are the caller's utterances: each final with audio behind
	// it takes the next one, across connections; once they are used up
	// finals carry "" as Deepgram does for silence.
	Transcripts []string
	// Repeat starts the Transcripts over once they are used up, for load
	// runs; without it later finals carry "".
	Repeat bool
	// TimeToFinal is the delay between a Finalize and its final Results.
	TimeToFinal time.Duration
	// FinalEvery produces a final (speech_final, as endpointing would) after
	// this much audio without one; 0 means finals come only on Finalize and
	// CloseStream.
	FinalEvery time.Duration
	// InterimEvery is the audio between interim results when the client
	// asked for interim_results (1 s).
	InterimEvery time.Duration
	// IdleTimeout closes a listen socket with 1011 NET-0001 when nothing
	// (or no audio since open) arrives for this long (10 s).
	IdleTimeout time.Duration
	// Models are the accepted listen models (nova-3, nova-2 and the other
	// names of docs/protocols/deepgram.md §1.1 when nil).
	Models []string
	// ListenFaults applies to the listen connections in order: the n-th
	// upgrade request gets ListenFaults[n]; later ones are served normally.
	ListenFaults []ListenFault
	// ReadBuffer, if positive, sets the receive buffer of every accepted TCP
	// connection, so a stalled reader pushes back on the client quickly.
	ReadBuffer int

	// TimeToFirstByte delays every Aura answer.
	TimeToFirstByte time.Duration
	// ChunkBytes is the size of each streamed Aura chunk (800: 100 ms of
	// mu-law 8 kHz).
	ChunkBytes int
	// ChunkDelay is the pause between Aura chunks.
	ChunkDelay time.Duration
	// SpeechPerChar is how much audio Aura makes per character of text
	// (40 ms).
	SpeechPerChar time.Duration
	// SpeakFaults applies to Aura requests in order, like ListenFaults.
	SpeakFaults []SpeakFault
}

// ListenFault is what goes wrong with one listen connection.
type ListenFault struct {
	// Status rejects the upgrade with this HTTP status (401, 429, 5xx...)
	// and Deepgram's error body.
	Status int
	// DropAfter cuts the TCP connection, without a close frame, after this
	// many client messages.
	DropAfter int
	// StallRead stops reading the socket: the client's writes back up.
	StallRead bool
}

// SpeakFault is what goes wrong with one Aura request.
type SpeakFault struct {
	// Status answers with this HTTP status and Deepgram's error body.
	Status int
	// FirstByteDelay replaces TimeToFirstByte for this request.
	FirstByteDelay time.Duration
	// CutAfter aborts the connection after this many audio bytes.
	CutAfter int
}

// Event kinds, as the fake notices them.
const (
	EventListenOpen     = "listen_open"
	EventListenRejected = "listen_rejected"
	EventListenDropped  = "listen_dropped" // the fake cut the socket (DropAfter, Outage)
	EventListenClosed   = "listen_closed"  // the socket ended (any reason)
	EventKeepAlive      = "keepalive"
	EventFinalize       = "finalize"
	EventCloseStream    = "closestream"
	EventFinalSent      = "final_sent"
	EventSpeakStart     = "speak_start"
	EventSpeakRejected  = "speak_rejected"
	EventSpeakFirstByte = "speak_first_byte"
	EventSpeakDone      = "speak_done"
	EventSpeakCanceled  = "speak_canceled" // the client went away mid-answer
)

// Event is something the fake noticed; Index is the listen connection or the
// speak request it belongs to.
type Event struct {
	Kind  string
	Index int
	At    time.Time
}

// maxHeardSeconds bounds ListenRecord.Heard.
const maxHeardSeconds = 30

// ListenRecord is what one listen connection received.
type ListenRecord struct {
	Index         int
	Query         map[string][]string
	Authorization string
	// TraceParent is the W3C traceparent header of the upgrade ("" if none).
	TraceParent string
	Upgraded    bool
	// Format is the audio the query announced (encoding and sample_rate;
	// linear16 is little-endian PCM16), set once the socket is upgraded.
	Format media.Format
	// Heard is the audio decoded as Format says, as Deepgram would hear it
	// (the first 30 s): audio sent in another encoding than the query
	// names comes out as noise here, as it would at Deepgram.
	Heard         []int16
	AudioBytes    int
	AudioMessages int
	TextMessages  int
	KeepAlives    int
	Finalizes     int
	CloseStreams  int
	Finals        int // final Results sent
	Closed        bool
}

// SpeakRecord is what one Aura request received and got.
type SpeakRecord struct {
	Index int
	Query map[string][]string
	// TraceParent is the W3C traceparent header of the request ("" if none).
	TraceParent string
	Text        string
	Status      int
	BytesSent   int
	Canceled    bool
	Done        bool
}

// Server is a running fake Deepgram on a loopback port.
type Server struct {
	cfg      Config
	http     *httptest.Server
	upgrader websocket.Upgrader
	events   chan Event
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup // listen sessions, which outlive their handlers once hijacked

	mu      sync.Mutex
	cut     chan struct{} // closed when listen goes down (Outage), new when it comes back
	down    bool
	listens []*ListenRecord
	speaks  []*SpeakRecord
	next    int // next transcript
}

// NewServer starts a fake. Close it when done.
func NewServer(cfg Config) *Server {
	if cfg.APIKey == "" {
		cfg.APIKey = DefaultAPIKey
	}
	if cfg.InterimEvery <= 0 {
		cfg.InterimEvery = time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Second
	}
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = 800
	}
	if cfg.SpeechPerChar <= 0 {
		cfg.SpeechPerChar = 40 * time.Millisecond
	}
	if cfg.Models == nil {
		cfg.Models = []string{"nova-3", "nova-3-general", "nova-3-medical", "nova-2", "nova-2-general", "nova-2-phonecall",
			"nova-2-meeting", "nova", "nova-phonecall", "enhanced", "enhanced-phonecall", "base", "base-general", "phonecall"}
	}
	s := &Server{cfg: cfg, events: make(chan Event, 4096), done: make(chan struct{}), cut: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/listen", s.serveListen)
	mux.HandleFunc("/v1/speak", s.serveSpeak)
	s.http = httptest.NewUnstartedServer(mux)
	if cfg.ReadBuffer > 0 {
		s.http.Listener = &smallBufListener{Listener: s.http.Listener, size: cfg.ReadBuffer}
	}
	s.http.Start()
	return s
}

// URL is the WebSocket base URL (ws://127.0.0.1:port), for deepgram.Config.BaseURL.
func (s *Server) URL() string { return "ws" + strings.TrimPrefix(s.http.URL, "http") }

// HTTPURL is the same server's http:// base URL.
func (s *Server) HTTPURL() string { return s.http.URL }

// Events delivers what the fake noticed, in order. It holds 4096 events;
// beyond that new ones are dropped.
func (s *Server) Events() <-chan Event { return s.events }

// Close ends every session, stops the server and waits for its goroutines.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	s.http.Close()
	s.wg.Wait()
}

// Outage takes live transcription down (true) or brings it back (false).
// Going down cuts every open listen socket without a close frame, as a lost
// connection would; while down, upgrades are answered 503.
func (s *Server) Outage(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case down && !s.down:
		close(s.cut)
	case !down && s.down:
		s.cut = make(chan struct{})
	}
	s.down = down
}

// listenUp reports whether listen is up and, if it is, the channel that is
// closed when it goes down.
func (s *Server) listenUp() (cut <-chan struct{}, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut, !s.down
}

// Listens returns a copy of the listen records, by connection.
func (s *Server) Listens() []ListenRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ListenRecord, len(s.listens))
	for i, r := range s.listens {
		out[i] = *r
		out[i].Heard = slices.Clone(r.Heard)
	}
	return out
}

// Speaks returns a copy of the Aura request records, by request.
func (s *Server) Speaks() []SpeakRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SpeakRecord, len(s.speaks))
	for i, r := range s.speaks {
		out[i] = *r
	}
	return out
}

func (s *Server) emit(kind string, index int) {
	select {
	case s.events <- Event{Kind: kind, Index: index, At: time.Now()}:
	default:
	}
}

// update changes a record under the server's lock.
func (s *Server) update(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
}

// authorized checks "Authorization: Token <key>" (scheme case-insensitive) or
// "Bearer <key>" (docs/protocols/deepgram.md §0).
func (s *Server) authorized(r *http.Request) bool {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "token", "bearer":
		return strings.TrimSpace(key) == s.cfg.APIKey
	}
	return false
}

// reject answers an HTTP error the way Deepgram does: dg-request-id and
// dg-error headers, and the JSON body of docs/protocols/deepgram.md §0.
func reject(w http.ResponseWriter, status int, code, msg, requestID string) {
	if code == "" {
		code, msg = statusCode(status)
	}
	h := w.Header()
	h.Set("dg-request-id", requestID)
	h.Set("dg-error", msg)
	h.Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"err_code": code, "err_msg": msg, "request_id": requestID})
}

// statusCode gives the err_code and err_msg Deepgram documents for a status.
func statusCode(status int) (string, string) {
	switch status {
	case http.StatusUnauthorized:
		return "INVALID_AUTH", "Invalid credentials."
	case http.StatusPaymentRequired:
		return "ASR_PAYMENT_REQUIRED", "Project does not have enough credits."
	case http.StatusForbidden:
		return "INSUFFICIENT_PERMISSIONS", "Project does not have access to the requested model."
	case http.StatusTooManyRequests:
		return "TOO_MANY_REQUESTS", "Too many requests. Please try again later"
	}
	return http.StatusText(status), "The service is unavailable. Please try again later."
}

// requestID returns a made-up UUID.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// smallBufListener shrinks the receive buffer of accepted connections.
type smallBufListener struct {
	net.Listener
	size int
}

func (l *smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(l.size) // best effort: a fake's tuning knob
	}
	return c, nil
}
