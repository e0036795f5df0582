package openaitest

import (
	"encoding/binary"
	"math"
	"net/http"
	"unicode/utf8"
)

// groqMaxInput is Orpheus's input cap (docs/protocols/llm.md section 3.1).
const groqMaxInput = 200

func (s *Server) serveSpeech(w http.ResponseWriter, r *http.Request, req *SpeechRequest) {
	reply := s.nextSpeech()
	if !s.wait(r, reply.FirstByteDelay) {
		return
	}
	format := req.ResponseFormat
	if s.opts.Vendor == Groq {
		if format != "wav" {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "response_format must be one of [wav]", nil)
			return
		}
		if utf8.RuneCountInString(req.Input) > groqMaxInput {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "input must be at most 200 characters", nil)
			return
		}
	} else if format == "" {
		format = "mp3"
	}
	if format != "wav" && format != "pcm" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "the fake speaks only wav and pcm", nil)
		return
	}
	if req.Input == "" || req.Model == "" || req.Voice == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "model, input and voice are required", nil)
		return
	}
	if writeFault(w, reply.Fault, reply.RetryAfter, req.Model) {
		return
	}
	rate := reply.SampleRate
	if rate == 0 {
		rate = 48000
		if s.opts.Vendor == OpenAI {
			rate = 24000
		}
	}
	if format == "pcm" {
		rate = 24000 // OpenAI's pcm is always 24 kHz
	}
	audio := Tone(rate, durationOr(reply))
	body := audio
	if format == "wav" {
		body = append(WAVHeader(rate, len(audio), reply.StreamingHeader), audio...)
		w.Header().Set("Content-Type", "audio/wav")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	size := reply.ChunkBytes
	if size <= 0 {
		size = 4096
	}
	cutAfter := max(1, reply.CutAfter)
	for i := 0; len(body) > 0; i++ {
		if i > 0 && !s.wait(r, reply.ChunkDelay) {
			return
		}
		if i == cutAfter && reply.Fault == FaultCut {
			cut()
		}
		n := min(size, len(body))
		_, _ = w.Write(body[:n])
		body = body[n:]
		if fl != nil {
			fl.Flush()
		}
	}
	if reply.Hold {
		s.hold(r)
	}
}

func durationOr(r SpeechReply) (secs float64) {
	if r.Duration <= 0 {
		return 0.5
	}
	return r.Duration.Seconds()
}

// Tone returns secs of a 440 Hz sine at rate as 16-bit little-endian PCM.
func Tone(rate int, secs float64) []byte {
	n := int(math.Round(float64(rate) * secs))
	out := make([]byte, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
	}
	return out
}

// WAVHeader is the 44-byte header of a mono 16-bit PCM WAV file of dataLen
// bytes at rate; streaming writes 0xFFFFFFFF sizes instead.
func WAVHeader(rate, dataLen int, streaming bool) []byte {
	h := make([]byte, 44)
	riff, data := uint32(36+dataLen), uint32(dataLen)
	if streaming {
		riff, data = 0xFFFFFFFF, 0xFFFFFFFF
	}
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], riff)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], data)
	return h
}
