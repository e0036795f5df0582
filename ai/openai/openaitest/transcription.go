package openaitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/iace/iace/media"
)

// TranscriptionReply scripts one /audio/transcriptions answer.
type TranscriptionReply struct {
	// Text is the transcript; Whisper's json answers usually start with a
	// space, as the default does.
	Text           string
	FirstByteDelay time.Duration
	// Fault is a status fault (FaultRateLimit, FaultServerError,
	// FaultUnavailable, FaultCapacity), FaultCut (the connection drops
	// before the answer) or FaultMalformed (a body that is not JSON).
	Fault      Fault
	RetryAfter time.Duration
}

// TranscriptionRequest is the multipart form of a transcription request as
// the fake read it.
type TranscriptionRequest struct {
	Model          string
	Language       string
	Prompt         string
	ResponseFormat string
	Temperature    string
	// URL is the url field, sent instead of a file.
	URL string
	// Filename and FileContentType describe the file part, if any.
	Filename        string
	FileContentType string
	// File is the uploaded file.
	File []byte
	// Err says why the form or its WAV file did not parse; empty if it did.
	Err string
	// WAV is the file's header, and Samples its audio (mono PCM16), when
	// the file is a WAV file.
	WAV     *media.WAVHeader
	Samples []int16
}

// Duration is the length of the uploaded audio (0 if it was not WAV).
func (t *TranscriptionRequest) Duration() time.Duration {
	if t.WAV == nil || t.WAV.Format.SampleRate == 0 {
		return 0
	}
	return time.Duration(int64(len(t.Samples)) * int64(time.Second) / int64(t.WAV.Format.SampleRate))
}

// acceptedAudio are the file types Groq takes (docs/protocols/llm.md section 2).
var acceptedAudio = map[string]bool{".flac": true, ".mp3": true, ".mp4": true, ".mpeg": true, ".mpga": true,
	".m4a": true, ".ogg": true, ".wav": true, ".webm": true}

// parseTranscription reads a multipart/form-data body; it never returns nil.
func parseTranscription(contentType string, body []byte) *TranscriptionRequest {
	t := &TranscriptionRequest{}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		t.Err = "Content-Type must be multipart/form-data with a boundary"
		return t
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Err = "malformed multipart body: " + err.Error()
			return t
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Err = "malformed multipart body: " + err.Error()
			return t
		}
		switch p.FormName() {
		case "file":
			t.Filename, t.FileContentType, t.File = p.FileName(), p.Header.Get("Content-Type"), data
		case "model":
			t.Model = string(data)
		case "language":
			t.Language = string(data)
		case "prompt":
			t.Prompt = string(data)
		case "response_format":
			t.ResponseFormat = string(data)
		case "temperature":
			t.Temperature = string(data)
		case "url":
			t.URL = string(data)
		}
	}
	if t.File != nil && strings.EqualFold(path.Ext(t.Filename), ".wav") {
		h, err := media.ReadWAVHeader(bytes.NewReader(t.File))
		if err != nil {
			t.Err = "could not process file - is it a valid media file? " + err.Error()
			return t
		}
		samples, _, err := media.ReadWAV(bytes.NewReader(t.File))
		if err != nil {
			t.Err = "could not process file - is it a valid media file? " + err.Error()
			return t
		}
		t.WAV, t.Samples = &h, samples
	}
	return t
}

func (s *Server) serveTranscription(w http.ResponseWriter, r *http.Request, t *TranscriptionRequest, seq int) {
	reply := s.nextTranscription()
	if !s.wait(r, reply.FirstByteDelay) {
		return
	}
	format := t.ResponseFormat
	if format == "" {
		format = "json"
	}
	bad := func(msg string) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", msg, nil)
	}
	switch {
	case t.Err != "":
		bad(t.Err)
		return
	case t.File == nil && t.URL == "":
		bad("file or url must be provided")
		return
	case t.Model == "":
		bad("model is required")
		return
	case decommissioned[t.Model] || !strings.HasPrefix(t.Model, "whisper-"):
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", t.Model), nil)
		return
	case format != "json" && format != "text" && format != "verbose_json":
		bad("response_format must be one of [json text verbose_json]")
		return
	case t.File != nil && !acceptedAudio[strings.ToLower(path.Ext(t.Filename))]:
		bad("file must be one of the following types: [flac mp3 mp4 mpeg mpga m4a ogg wav webm]")
		return
	case t.WAV != nil && t.Duration() < 10*time.Millisecond:
		bad("audio file is too short. Minimum audio length is 0.01 seconds.")
		return
	}
	if writeFault(w, reply.Fault, reply.RetryAfter, t.Model) {
		return
	}
	switch reply.Fault {
	case FaultCut:
		cut()
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"text": " Friday wo`))
		return
	}
	reqID := fmt.Sprintf("req_fake%04d", seq)
	w.Header().Set("x-request-id", reqID)
	switch format {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(reply.Text))
	case "verbose_json":
		secs := t.Duration().Seconds()
		writeJSON(w, map[string]any{"task": "transcribe", "language": "english", "duration": secs, "text": reply.Text,
			"segments": []map[string]any{{"id": 0, "seek": 0, "start": 0.0, "end": secs, "text": reply.Text, "tokens": []int{50364},
				"temperature": 0.0, "avg_logprob": -0.12, "compression_ratio": 0.8, "no_speech_prob": 0.01}},
			"x_groq": map[string]string{"id": reqID}})
	default:
		writeJSON(w, map[string]any{"text": reply.Text, "x_groq": map[string]string{"id": reqID}})
	}
}

// writeJSON writes a 200 JSON answer.
func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-ratelimit-remaining-requests", "14399")
	_, _ = w.Write(b)
}
