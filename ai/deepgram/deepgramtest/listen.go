package deepgramtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iace/iace/media"
)

// listenParams are the parsed /v1/listen query parameters the fake acts on.
type listenParams struct {
	model          string
	encoding       string
	sampleRate     int
	format         media.Format // what encoding and sample_rate say the audio is
	interim        bool
	punctuate      bool
	vadEvents      bool
	utteranceEndMs int
}

// badParam is a 400 answer for the upgrade (docs/protocols/deepgram.md §1.1: a bad
// parameter fails the upgrade, no 101).
type badParam struct{ code, msg string }

func parseBool(q url.Values, key string) (bool, *badParam) {
	switch v := q.Get(key); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, &badParam{"INVALID_QUERY_PARAMETER", "Failed to deserialize query parameters: " + key + "=" + v}
	}
}

func (s *Server) parseListen(q url.Values) (listenParams, *badParam) {
	var p listenParams
	p.model = q.Get("model")
	if p.model == "" {
		// Deepgram would default to base-general; the fake insists, because
		// our client must always name its model (docs/protocols/deepgram.md §1.1).
		return p, &badParam{"Bad Request", "No such model/language/tier combination found."}
	}
	if !slices.Contains(s.cfg.Models, p.model) {
		return p, &badParam{"Bad Request", "No such model/language/tier combination found."}
	}
	if q.Has("keywords") && strings.HasPrefix(p.model, "nova-3") {
		return p, &badParam{"INVALID_QUERY_PARAMETER", "Keywords are not supported for Nova-3; use keyterm."}
	}
	p.encoding = q.Get("encoding")
	switch p.encoding {
	case "mulaw":
		p.format.Encoding = media.EncodingPCMU
	case "alaw":
		p.format.Encoding = media.EncodingPCMA
	case "linear16":
		p.format.Encoding = media.EncodingPCM16 // little-endian
	case "":
		return p, &badParam{"INVALID_QUERY_PARAMETER", "Unsupported audio format: raw audio needs encoding and sample_rate."}
	default:
		return p, &badParam{"INVALID_QUERY_PARAMETER", "Unsupported audio format: the fake decodes mulaw, alaw and linear16 only."}
	}
	rate, err := strconv.Atoi(q.Get("sample_rate"))
	if err != nil || rate < 8000 || rate > 48000 {
		return p, &badParam{"INVALID_QUERY_PARAMETER", "Unsupported audio format: bad sample_rate."}
	}
	p.sampleRate = rate
	p.format.SampleRate = rate
	if ch := q.Get("channels"); ch != "" && ch != "1" {
		return p, &badParam{"INVALID_QUERY_PARAMETER", "Failed to deserialize query parameters: the fake is mono only."}
	}
	var bad *badParam
	if p.interim, bad = parseBool(q, "interim_results"); bad != nil {
		return p, bad
	}
	var smart bool
	if smart, bad = parseBool(q, "smart_format"); bad != nil {
		return p, bad
	}
	if p.punctuate, bad = parseBool(q, "punctuate"); bad != nil {
		return p, bad
	}
	p.punctuate = p.punctuate || smart
	if p.vadEvents, bad = parseBool(q, "vad_events"); bad != nil {
		return p, bad
	}
	if e := q.Get("endpointing"); e != "" && e != "false" && e != "true" {
		if n, err := strconv.Atoi(e); err != nil || n < 0 {
			return p, &badParam{"INVALID_QUERY_PARAMETER", "Failed to deserialize query parameters: endpointing=" + e}
		}
	}
	if u := q.Get("utterance_end_ms"); u != "" {
		n, err := strconv.Atoi(u)
		if err != nil || n < 1000 || n > 5000 {
			return p, &badParam{"INVALID_QUERY_PARAMETER", "Failed to deserialize query parameters: utterance_end_ms=" + u}
		}
		if !p.interim {
			return p, &badParam{"INVALID_QUERY_PARAMETER", "utterance_end_ms requires interim_results=true."}
		}
		p.utteranceEndMs = n
	}
	return p, nil
}

func (s *Server) serveListen(w http.ResponseWriter, r *http.Request) {
	rec := &ListenRecord{Query: r.URL.Query(), Authorization: redactAuth(r.Header.Get("Authorization")), TraceParent: r.Header.Get("traceparent")}
	var fault ListenFault
	s.update(func() {
		rec.Index = len(s.listens)
		s.listens = append(s.listens, rec)
		if rec.Index < len(s.cfg.ListenFaults) {
			fault = s.cfg.ListenFaults[rec.Index]
		}
	})
	id := requestID()
	if !s.authorized(r) {
		reject(w, http.StatusUnauthorized, "", "", id)
		s.emit(EventListenRejected, rec.Index)
		return
	}
	p, bad := s.parseListen(r.URL.Query())
	if bad != nil {
		reject(w, http.StatusBadRequest, bad.code, bad.msg, id)
		s.emit(EventListenRejected, rec.Index)
		return
	}
	cut, up := s.listenUp()
	if !up {
		fault.Status = http.StatusServiceUnavailable
	}
	if fault.Status != 0 {
		reject(w, fault.Status, "", "", id)
		s.emit(EventListenRejected, rec.Index)
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, http.Header{"dg-request-id": {id}})
	if err != nil {
		return // Upgrade has answered the client
	}
	s.update(func() { rec.Upgraded = true })
	s.emit(EventListenOpen, rec.Index)
	ls := &listenSession{s: s, rec: rec, conn: conn, p: p, fault: fault, cut: cut, id: id, sha: sha256.New(), opened: time.Now(),
		bytesPerSec: p.format.Encoding.BytesPerSample() * p.sampleRate, maxHeard: maxHeardSeconds * p.sampleRate}
	s.update(func() { rec.Format = p.format })
	s.wg.Add(1)
	go func() { // owned by the Server: Close waits for it
		defer s.wg.Done()
		ls.run()
	}()
}

// redactAuth keeps the scheme of an Authorization header and hides the key.
func redactAuth(h string) string {
	scheme, _, ok := strings.Cut(h, " ")
	if !ok {
		return h
	}
	return scheme + " <redacted>"
}

// listenSession is one upgraded /v1/listen socket. run owns its state and
// all its writes; a reader goroutine hands it the client's messages.
type listenSession struct {
	s           *Server
	rec         *ListenRecord
	conn        *websocket.Conn
	p           listenParams
	fault       ListenFault
	cut         <-chan struct{} // closed when the fake's listen goes down (Server.Outage)
	id          string
	sha         hash.Hash
	opened      time.Time
	bytesPerSec int
	maxHeard    int     // samples kept in ListenRecord.Heard
	heard       []int16 // decode scratch

	audio       int // bytes received
	finalAt     int // audio bytes covered by finals
	interimAt   int // audio bytes at the last interim
	lastWordEnd float64
	utterEnd    bool // an UtteranceEnd is due once enough audio follows the last final
	messages    int
	speaking    bool // SpeechStarted sent for the current segment
}

type inbound struct {
	typ  int
	data []byte
	err  error
}

func (l *listenSession) run() {
	defer func() { l.s.emit(EventListenClosed, l.rec.Index) }()
	defer l.s.update(func() { l.rec.Closed = true })
	if l.fault.StallRead {
		<-l.s.done
		_ = l.conn.Close()
		return
	}
	in := make(chan inbound)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the reader; run waits for it
		defer wg.Done()
		for {
			typ, data, err := l.conn.ReadMessage()
			select {
			case in <- inbound{typ, data, err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(quit)
	defer func() { _ = l.conn.Close() }()

	idle := time.NewTimer(l.s.cfg.IdleTimeout)
	defer idle.Stop()
	var final <-chan time.Time
	var finalTimer *time.Timer
	for {
		select {
		case <-l.s.done:
			l.closeWith(websocket.CloseGoingAway, "")
			return
		case <-l.cut:
			_ = l.conn.NetConn().Close() // no close frame: a dropped connection
			l.s.emit(EventListenDropped, l.rec.Index)
			return
		case <-idle.C:
			// docs/protocols/deepgram.md §1.5: nothing (or no audio) for 10 s.
			l.closeWith(websocket.CloseInternalServerErr, "NET-0001")
			return
		case <-final:
			final = nil
			l.sendFinal(true)
		case m := <-in:
			if m.err != nil {
				return
			}
			l.messages++
			if l.audio > 0 || m.typ == websocket.BinaryMessage {
				idle.Reset(l.s.cfg.IdleTimeout) // KeepAlive alone does not hold a fresh socket
			}
			if l.fault.DropAfter > 0 && l.messages >= l.fault.DropAfter {
				_ = l.conn.NetConn().Close() // no close frame: a dropped connection
				l.s.emit(EventListenDropped, l.rec.Index)
				return
			}
			if m.typ == websocket.BinaryMessage {
				if !l.onAudio(m.data) {
					return
				}
				continue
			}
			switch l.onText(m.data) {
			case ctrlFinalize:
				if final == nil {
					if l.s.cfg.TimeToFinal <= 0 {
						l.sendFinal(true)
						continue
					}
					finalTimer = time.NewTimer(l.s.cfg.TimeToFinal)
					final = finalTimer.C
				}
			case ctrlCloseStream:
				if finalTimer != nil {
					finalTimer.Stop()
				}
				// The last finals, then Metadata, then close 1000 (docs/protocols/deepgram.md §1.2).
				if final != nil || l.audio > l.finalAt {
					l.sendFinal(final != nil)
				}
				l.send(map[string]any{"type": "Metadata", "transaction_key": "deprecated", "request_id": l.id,
					"sha256": hex.EncodeToString(l.sha.Sum(nil)), "created": l.opened.UTC().Format("2006-01-02T15:04:05.000Z"),
					"duration": l.seconds(l.audio), "channels": 1})
				l.closeWith(websocket.CloseNormalClosure, "")
				return
			}
		}
	}
}

type ctrl int

const (
	ctrlNone ctrl = iota
	ctrlFinalize
	ctrlCloseStream
)

// onText handles a control message and says which one needs the loop.
func (l *listenSession) onText(data []byte) ctrl {
	l.s.update(func() { l.rec.TextMessages++ })
	var m struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		// [proto] SchemaError: the session stays open.
		l.send(map[string]any{"type": "Error", "variant": "SchemaError", "code": "SCHEMA-0000", "description": "malformed client message", "message": "malformed client message"})
		return ctrlNone
	}
	switch m.Type {
	case "KeepAlive":
		l.s.update(func() { l.rec.KeepAlives++ })
		l.s.emit(EventKeepAlive, l.rec.Index)
	case "Finalize":
		l.s.update(func() { l.rec.Finalizes++ })
		l.s.emit(EventFinalize, l.rec.Index)
		return ctrlFinalize
	case "CloseStream":
		l.s.update(func() { l.rec.CloseStreams++ })
		l.s.emit(EventCloseStream, l.rec.Index)
		return ctrlCloseStream
	case "Configure":
		l.send(map[string]any{"type": "ConfigureSuccess", "request_id": l.id, "keyterms": []string{}})
	default:
		l.send(map[string]any{"type": "Error", "variant": "SchemaError", "code": "SCHEMA-0000", "description": "unknown message type " + m.Type, "message": "unknown message type"})
	}
	return ctrlNone
}

// onAudio takes one binary message; false means the session closed.
func (l *listenSession) onAudio(data []byte) bool {
	if len(data) == 0 {
		// docs/protocols/deepgram.md §1.2: a zero-length binary frame closes the stream.
		l.closeWith(websocket.CloseInternalServerErr, "NET-0000")
		return false
	}
	if l.p.encoding == "linear16" && len(data)%2 != 0 {
		l.closeWith(websocket.ClosePolicyViolation, "DATA-0000")
		return false
	}
	l.audio += len(data)
	l.sha.Write(data)
	// Deepgram hears the bytes as the query's encoding says, whatever they are.
	l.heard = slices.Grow(l.heard[:0], len(data))[:len(data)]
	pcm := l.heard[:media.DecodeTo(l.heard, data, l.p.format.Encoding)]
	l.s.update(func() {
		l.rec.AudioBytes += len(data)
		l.rec.AudioMessages++
		if room := l.maxHeard - len(l.rec.Heard); room > 0 {
			l.rec.Heard = append(l.rec.Heard, pcm[:min(room, len(pcm))]...)
		}
	})
	if l.p.vadEvents && !l.speaking {
		l.speaking = true
		l.send(map[string]any{"type": "SpeechStarted", "channel": []int{0, 1}, "timestamp": round(l.seconds(l.audio - len(data)))})
	}
	if l.utterEnd && l.p.utteranceEndMs > 0 && l.audio-l.finalAt >= l.p.utteranceEndMs*l.bytesPerSec/1000 {
		l.utterEnd = false
		l.send(map[string]any{"type": "UtteranceEnd", "channel": []int{0, 1}, "last_word_end": round(l.lastWordEnd)})
	}
	if every := l.s.cfg.FinalEvery; every > 0 && l.audio-l.finalAt >= int(every.Seconds()*float64(l.bytesPerSec)) {
		l.sendFinal(false)
		return true
	}
	if l.p.interim && l.audio-l.interimAt >= int(l.s.cfg.InterimEvery.Seconds()*float64(l.bytesPerSec)) {
		l.interimAt = l.audio
		l.sendResults(l.peek(), false, false, false)
	}
	return true
}

// peek returns the transcript the next final will carry.
func (l *listenSession) peek() string {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if n := len(l.s.cfg.Transcripts); n > 0 && l.s.cfg.Repeat {
		return l.s.cfg.Transcripts[l.s.next%n]
	}
	if l.s.next < len(l.s.cfg.Transcripts) {
		return l.s.cfg.Transcripts[l.s.next]
	}
	return ""
}

// sendFinal finalizes the audio since the last final (speech_final, as
// endpointing or Finalize would): the next scripted
// transcript when there is audio behind it, "" otherwise.
func (l *listenSession) sendFinal(fromFinalize bool) {
	text := ""
	if l.audio > l.finalAt {
		l.s.mu.Lock()
		if n := len(l.s.cfg.Transcripts); n > 0 && l.s.cfg.Repeat {
			text = l.s.cfg.Transcripts[l.s.next%n]
			l.s.next++
		} else if l.s.next < n {
			text = l.s.cfg.Transcripts[l.s.next]
			l.s.next++
		}
		l.s.mu.Unlock()
	}
	l.sendResults(text, true, true, fromFinalize)
	l.s.update(func() { l.rec.Finals++ })
	l.s.emit(EventFinalSent, l.rec.Index)
}

// sendResults sends a Results message for the audio since the last final
// (docs/protocols/deepgram.md §1.3); a final moves the start of the next segment.
func (l *listenSession) sendResults(text string, isFinal, speechFinal, fromFinalize bool) {
	start, end := l.seconds(l.finalAt), l.seconds(l.audio)
	type word struct {
		Word           string  `json:"word"`
		Start          float64 `json:"start"`
		End            float64 `json:"end"`
		Confidence     float64 `json:"confidence"`
		PunctuatedWord string  `json:"punctuated_word,omitempty"`
	}
	fields := strings.Fields(text)
	if !isFinal {
		fields = fields[:(len(fields)+1)/2] // an interim hears the first half
	}
	words := make([]word, 0, len(fields))
	step := (end - start) / float64(max(len(fields), 1))
	for i, f := range fields {
		w := word{Word: strings.ToLower(strings.Trim(f, ".,?!;:")), Start: round(start + float64(i)*step), End: round(start + float64(i+1)*step), Confidence: 0.98}
		if l.p.punctuate {
			w.PunctuatedWord = f
		}
		words = append(words, w)
	}
	transcript := strings.Join(fields, " ")
	if !l.p.punctuate {
		transcript = strings.ToLower(strings.Map(func(r rune) rune {
			if strings.ContainsRune(".,?!;:", r) {
				return -1
			}
			return r
		}, transcript))
	}
	msg := map[string]any{
		"type": "Results", "channel_index": []int{0, 1}, "start": round(start), "duration": round(end - start),
		"is_final": isFinal, "speech_final": speechFinal,
		"channel": map[string]any{"alternatives": []any{map[string]any{"transcript": transcript, "confidence": 0.97, "words": words}}},
		"metadata": map[string]any{"request_id": l.id, "model_uuid": "0f1e2d3c-2222-4b5a-8c7d-abcdefabcdef",
			"model_info": map[string]any{"name": "general-" + l.p.model, "version": "2025-01-01.0", "arch": l.p.model}},
	}
	if fromFinalize {
		msg["from_finalize"] = true
	}
	l.send(msg)
	if isFinal {
		l.finalAt, l.interimAt = l.audio, l.audio
		l.speaking = false
		if len(words) > 0 {
			l.lastWordEnd = words[len(words)-1].End
			l.utterEnd = l.p.interim
		}
	}
}

func (l *listenSession) seconds(bytes int) float64 { return float64(bytes) / float64(l.bytesPerSec) }

func round(f float64) float64 { return math.Round(f*1000) / 1000 }

func (l *listenSession) send(msg any) {
	data, err := json.Marshal(msg)
	if err != nil {
		panic(err) // our own maps always marshal
	}
	_ = l.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = l.conn.WriteMessage(websocket.TextMessage, data) // a gone client is noticed by the reader
}

// closeWith sends a close frame whose reason is Deepgram's code string
// (docs/protocols/deepgram.md §1.5).
func (l *listenSession) closeWith(code int, reason string) {
	_ = l.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	_ = l.conn.Close()
}
