package api_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/control/api"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// sseEvent is one Server-Sent Event as a client parses it.
type sseEvent struct {
	id, name string
	data     struct {
		Seq         uint64 `json:"seq"`
		Type        string `json:"type"`
		CallID      string `json:"call_id"`
		State       string `json:"state"`
		Role        string `json:"role"`
		Text        string `json:"text"`
		Digit       string `json:"digit"`
		Reason      string `json:"reason"`
		Interrupted bool   `json:"interrupted"`
		Call        *struct {
			ID string `json:"id"`
		} `json:"call"`
		Calls []struct {
			ID string `json:"id"`
		} `json:"calls"`
	}
}

// sseStream reads an event stream as a browser's fetch would.
type sseStream struct {
	t          *testing.T
	res        *http.Response
	events     chan sseEvent
	heartbeats atomic.Int32
}

// openEvents GETs path on srv with token and reads its events in the
// background until the stream ends.
func openEvents(t *testing.T, srv *httptest.Server, path, token string) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		t.Fatalf("GET %s: %d %s %s", path, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	s := &sseStream{t: t, res: res, events: make(chan sseEvent, 256)}
	t.Cleanup(func() { _ = res.Body.Close() })
	go s.read() // ends at the stream's end, or when the cleanup closes the body
	return s
}

func (s *sseStream) read() {
	defer close(s.events)
	sc := bufio.NewScanner(s.res.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			s.heartbeats.Add(1)
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				s.t.Errorf("data %q: %v", line, err)
			}
		default:
			s.t.Errorf("unexpected line %q", line)
		}
	}
}

// next waits for the stream's next event.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		if ev.name != ev.data.Type {
			s.t.Errorf("event %q carries data of type %q", ev.name, ev.data.Type)
		}
		if ev.id != "" && ev.id != strconv.FormatUint(ev.data.Seq, 10) {
			s.t.Errorf("event id %q, data seq %d", ev.id, ev.data.Seq)
		}
		return ev
	case <-time.After(10 * time.Second):
		s.t.Fatal("no event within 10 s")
		return sseEvent{}
	}
}

// until reads events up to the first of type typ, which it returns, and
// checks that their ids rise.
func (s *sseStream) until(typ string) sseEvent {
	s.t.Helper()
	last := uint64(0)
	for {
		ev := s.next()
		if ev.data.Seq <= last {
			s.t.Errorf("event %s has seq %d after %d", ev.name, ev.data.Seq, last)
		}
		last = ev.data.Seq
		if ev.name == typ {
			return ev
		}
	}
}

// closed waits for the stream to end.
func (s *sseStream) closed() {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			s.t.Fatalf("event %s after the last", ev.name)
		}
	case <-time.After(10 * time.Second):
		s.t.Fatal("the stream did not end")
	}
}

// caller plays Telnyx on one media stream: it opens the call and echoes
// the marks of the audio it is sent as if played at once.
type caller struct {
	t  *testing.T
	ws *websocket.Conn
	mu sync.Mutex // one writer at a time: the test and the mark echoes
}

func dialCall(t *testing.T, url string, to store.PhoneNumber) *caller {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &caller{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.Close() })
	c.send(map[string]any{"event": "connected", "version": "1.0.0"})
	c.send(map[string]any{"event": "start", "sequence_number": "1", "stream_id": "stream-1", "start": map[string]any{
		"call_control_id": "v3:events-test", "from": "+15551110001", "to": string(to),
		"media_format": map[string]any{"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}})
	go func() { // ends when the server closes the stream, or the cleanup does
		for {
			var m struct {
				Event string `json:"event"`
				Mark  struct {
					Name string `json:"name"`
				} `json:"mark"`
			}
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			if m.Event == "mark" {
				c.send(map[string]any{"event": "mark", "stream_id": "stream-1", "mark": map[string]any{"name": m.Mark.Name}})
			}
		}
	}()
	return c
}

// send writes one frame.
func (c *caller) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Error(err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.WriteMessage(websocket.TextMessage, b) // a closed stream shows in the events
}

// lived waits until each stream has sent n comment lines: they have been
// open for n heartbeats.
func lived(t *testing.T, n int32, streams ...*sseStream) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range streams {
		for s.heartbeats.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d heartbeats in 10 s, want %d", s.heartbeats.Load(), n)
			}
			time.Sleep(10 * time.Millisecond) //nolint:forbidigo // polling another goroutine's count, not ordering a race
		}
	}
}

// withDeadlines gives each request short read and write deadlines, as
// iace serve does for every API request (with 15 s and 30 s): an event
// stream must outlive them.
func withDeadlines(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(d))
		_ = rc.SetWriteDeadline(time.Now().Add(d))
		h.ServeHTTP(w, r)
	})
}

// TestLiveEventsOverServerSentEvents follows a real call through the API:
// the live list sees it start and end, a call's stream gives its events in
// order and ends with it; the key pressed is shown to a supervisor, not to
// a viewer; without a token it is 401, for another organization 404; and
// another organization's live list sees nothing of it.
func TestLiveEventsOverServerSentEvents(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, func(c *api.Config, _ *api.Deps) { c.EventHeartbeat = 50 * time.Millisecond })
		conn := telnyx.DefaultConnConfig()
		conn.AllowUnauthenticated = true
		streams := httptest.NewServer(telnyx.NewHandler(conn, e.engine, telnyx.NewMetrics(nil), slog.New(slog.DiscardHandler)))
		t.Cleanup(streams.Close)
		mediaURL := "ws" + strings.TrimPrefix(streams.URL, "http")

		ag := e.a.agent
		ag.Settings.CollectDigits = "order number for delivery tracking"
		if _, err := st.UpdateAgent(t.Context(), ag); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(withDeadlines(e.api, 300*time.Millisecond))
		t.Cleanup(srv.Close)

		listA := openEvents(t, srv, "/api/v1/calls/live/events", e.a.viewerTok)
		if ev := listA.next(); ev.name != "snapshot" || ev.data.Calls == nil || len(ev.data.Calls) != 0 {
			t.Fatalf("the live list opened with %+v, want an empty snapshot", ev)
		}
		listB := openEvents(t, srv, "/api/v1/calls/live/events", e.b.viewerTok)
		listB.next()

		callA := dialCall(t, mediaURL, e.a.number)
		started := listA.until("started")
		id := started.data.CallID
		if started.data.Call == nil || started.data.Call.ID != id || id == "" {
			t.Fatalf("started %+v", started.data)
		}
		path := "/api/v1/calls/" + id + "/events"
		e.do(http.MethodGet, path, "", nil).problem(t, http.StatusUnauthorized)
		e.do(http.MethodGet, path, e.b.supTok, nil).problem(t, http.StatusNotFound)
		e.do(http.MethodGet, "/api/v1/calls/no-such-call/events", e.a.viewerTok, nil).problem(t, http.StatusNotFound)
		e.do(http.MethodGet, "/api/v1/calls/"+strings.Repeat("x", 101)+"/events", e.a.viewerTok, nil).problem(t, http.StatusUnprocessableEntity)

		viewer := openEvents(t, srv, path, e.a.viewerTok)
		sup := openEvents(t, srv, path, e.a.supTok)
		for _, s := range []*sseStream{viewer, sup} {
			if ev := s.next(); ev.name != "snapshot" || ev.data.Call == nil || ev.data.Call.ID != id || ev.data.State == "" {
				t.Fatalf("a call's stream opened with %+v, want its snapshot", ev)
			}
		}
		callA.send(map[string]any{"event": "dtmf", "stream_id": "stream-1", "sequence_number": "2",
			"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "dtmf": map[string]any{"digit": "7"}})
		if ev := viewer.until("dtmf"); ev.data.Digit != "" {
			t.Errorf("a viewer was shown the digit %q", ev.data.Digit)
		}
		if ev := sup.until("dtmf"); ev.data.Digit != "7" {
			t.Errorf("a supervisor was shown digit %q, want 7", ev.data.Digit)
		}
		// The streams outlive the read and write deadlines the server gave
		// their requests.
		lived(t, 12, listA, viewer, sup)
		callA.send(map[string]any{"event": "stop", "stream_id": "stream-1", "sequence_number": "3", "stop": map[string]any{}})
		for _, s := range []*sseStream{viewer, sup} {
			if ev := s.until("ended"); ev.data.Reason != string(session.EndHangup) || ev.data.CallID != id {
				t.Errorf("ended %+v, want the call's end (hangup)", ev.data)
			}
			s.closed()
		}
		if ev := listA.until("ended"); ev.data.CallID != id {
			t.Errorf("the live list's end is of call %s, want %s", ev.data.CallID, id)
		}
		e.do(http.MethodGet, path, e.a.viewerTok, nil).problem(t, http.StatusNotFound) // over

		// Another organization's live list: its next event is its own call
		// starting, nothing of the first.
		callB := dialCall(t, mediaURL, e.b.number)
		if ev := listB.next(); ev.name != "started" || ev.data.CallID == id {
			t.Errorf("org-b's live list got %s of call %s, want its own call started", ev.name, ev.data.CallID)
		}
		callB.send(map[string]any{"event": "stop", "stream_id": "stream-1", "sequence_number": "2", "stop": map[string]any{}})
		listB.until("ended")
	})
}
