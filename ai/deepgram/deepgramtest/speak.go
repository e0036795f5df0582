package deepgramtest

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iace/iace/media"
)

// Aura limits (docs/protocols/deepgram.md §3).
const (
	maxSpeakChars = 2000
	maxSpeakBody  = 2 << 20
)

// SpeakFormat reads the Aura query's encoding and sample_rate with Aura's
// defaults, as the fake renders them. ok is false for a combination Aura
// rejects or the fake cannot render.
func SpeakFormat(encoding, sampleRate string) (media.Format, bool) {
	var f media.Format
	switch encoding {
	case "mulaw":
		f.Encoding = media.EncodingPCMU
	case "alaw":
		f.Encoding = media.EncodingPCMA
	case "linear16", "":
		f.Encoding = media.EncodingPCM16
	default:
		return f, false
	}
	rate := 24000
	if f.Encoding != media.EncodingPCM16 {
		rate = 8000
	}
	if sampleRate != "" {
		n, err := strconv.Atoi(sampleRate)
		if err != nil {
			return f, false
		}
		rate = n
	}
	f.SampleRate = rate
	switch {
	case f.Encoding == media.EncodingPCM16 && (rate == 8000 || rate == 16000 || rate == 24000 || rate == 32000 || rate == 48000):
	case f.Encoding != media.EncodingPCM16 && (rate == 8000 || rate == 16000):
	default:
		return f, false
	}
	return f, true
}

// Speech is the audio the fake's Aura renders for text: a 440 Hz tone of
// SpeechPerChar a character, in f, without a container.
func (s *Server) Speech(text string, f media.Format) []byte {
	n := int(int64(utf8.RuneCountInString(text)) * int64(s.cfg.SpeechPerChar) * int64(f.SampleRate) / int64(time.Second))
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(f.SampleRate)))
	}
	out := make([]byte, n*f.Encoding.BytesPerSample())
	return out[:media.EncodeTo(out, pcm, f.Encoding)]
}

func (s *Server) serveSpeak(w http.ResponseWriter, r *http.Request) {
	rec := &SpeakRecord{Query: r.URL.Query(), TraceParent: r.Header.Get("traceparent")}
	var fault SpeakFault
	s.update(func() {
		rec.Index = len(s.speaks)
		s.speaks = append(s.speaks, rec)
		if rec.Index < len(s.cfg.SpeakFaults) {
			fault = s.cfg.SpeakFaults[rec.Index]
		}
	})
	s.emit(EventSpeakStart, rec.Index)
	id := requestID()
	fail := func(status int, code, msg string) {
		s.update(func() { rec.Status = status })
		reject(w, status, code, msg, id)
		s.emit(EventSpeakRejected, rec.Index)
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Use POST.")
		return
	}
	if !s.authorized(r) {
		fail(http.StatusUnauthorized, "", "")
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "text/plain" {
		fail(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Only application/json and text/plain are supported.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSpeakBody+1))
	if err != nil {
		return // the client is gone
	}
	if len(body) > maxSpeakBody {
		fail(http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "Payload Too Large")
		return
	}
	text := string(body)
	if mt == "application/json" {
		var in struct {
			Text *string `json:"text"`
			URL  *string `json:"url"`
		}
		if json.Unmarshal(body, &in) != nil || (in.Text == nil) == (in.URL == nil) {
			fail(http.StatusBadRequest, "PAYLOAD_ERROR", "Invalid JSON: exactly one of text and url is required.")
			return
		}
		if in.URL != nil {
			fail(http.StatusBadRequest, "PAYLOAD_ERROR", "The fake does not fetch urls.")
			return
		}
		text = *in.Text
	}
	s.update(func() { rec.Text = text })
	if strings.TrimSpace(text) == "" {
		fail(http.StatusBadRequest, "Bad Request", "Input text contains no characters.")
		return
	}
	if utf8.RuneCountInString(text) > maxSpeakChars {
		fail(http.StatusRequestEntityTooLarge, "Payload Too Large", "Input text exceeds maximum character limit of 2000.")
		return
	}
	q := r.URL.Query()
	f, ok := SpeakFormat(q.Get("encoding"), q.Get("sample_rate"))
	if !ok {
		fail(http.StatusBadRequest, "INVALID_QUERY_PARAMETER", "Unsupported audio format: check encoding and sample_rate.")
		return
	}
	if fault.Status != 0 {
		fail(fault.Status, "", "")
		return
	}
	audio := s.Speech(text, f)
	if c := q.Get("container"); c != "none" {
		if c != "" && c != "wav" {
			fail(http.StatusBadRequest, "INVALID_QUERY_PARAMETER", "Unsupported container.")
			return
		}
		audio = append(wavHeader(f, len(audio)), audio...) // docs/protocols/deepgram.md §3: without container=none a WAV header comes first
	}
	model := q.Get("model")
	if model == "" {
		model = "aura-asteria-en"
	}

	delay := s.cfg.TimeToFirstByte
	if fault.FirstByteDelay > 0 {
		delay = fault.FirstByteDelay
	}
	if !s.wait(r, rec, delay) {
		return
	}
	h := w.Header()
	h.Set("dg-request-id", id)
	h.Set("dg-model-name", model)
	h.Set("dg-char-count", strconv.Itoa(utf8.RuneCountInString(text)))
	h.Set("Content-Type", "application/octet-stream") // Aura's type for raw audio is unconfirmed
	w.WriteHeader(http.StatusOK)
	s.update(func() { rec.Status = http.StatusOK })
	flusher, _ := w.(http.Flusher)
	for sent := 0; sent < len(audio); {
		if sent > 0 && !s.wait(r, rec, s.cfg.ChunkDelay) {
			return
		}
		n := min(s.cfg.ChunkBytes, len(audio)-sent)
		if fault.CutAfter > 0 && sent+n > fault.CutAfter {
			n = max(fault.CutAfter-sent, 0)
		}
		if _, err := w.Write(audio[sent : sent+n]); err != nil {
			s.canceled(rec)
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if sent == 0 {
			s.emit(EventSpeakFirstByte, rec.Index)
		}
		sent += n
		s.update(func() { rec.BytesSent = sent })
		if fault.CutAfter > 0 && sent >= fault.CutAfter {
			panic(http.ErrAbortHandler) // cut the stream halfway: no final chunk
		}
	}
	s.update(func() { rec.Done = true })
	s.emit(EventSpeakDone, rec.Index)
}

// wait pauses for d, noticing a client that goes away; false means it went.
func (s *Server) wait(r *http.Request, rec *SpeakRecord, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-r.Context().Done():
			s.canceled(rec)
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		s.canceled(rec)
		return false
	case <-s.done:
		return false
	}
}

func (s *Server) canceled(rec *SpeakRecord) {
	s.update(func() { rec.Canceled = true })
	s.emit(EventSpeakCanceled, rec.Index)
}

// wavHeader is a 44-byte RIFF header; G.711 uses format codes 7 (mu-law)
// and 6 (A-law), PCM 1.
func wavHeader(f media.Format, n int) []byte {
	code := uint16(1)
	switch f.Encoding {
	case media.EncodingPCMU:
		code = 7
	case media.EncodingPCMA:
		code = 6
	}
	bps := f.Encoding.BytesPerSample()
	b := make([]byte, 44)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], code)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(f.SampleRate))
	binary.LittleEndian.PutUint32(b[28:], uint32(f.SampleRate*bps))
	binary.LittleEndian.PutUint16(b[32:], uint16(bps))
	binary.LittleEndian.PutUint16(b[34:], uint16(8*bps))
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	return b
}
