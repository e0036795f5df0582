package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
)

// speechBody is POST /audio/speech (docs/protocols/llm.md section 3).
type speechBody struct {
	Model          string `json:"model"`
	Input          string `json:"input"`
	Voice          string `json:"voice"`
	ResponseFormat string `json:"response_format"`
}

// Synthesize asks /audio/speech for req.Text and returns the audio in exactly
// req.Format, converted as it is read: the first bytes are readable as soon
// as the server sent them. The voice is req.Voice, else the configured one.
// Synthesize returns when the first byte has arrived (failures until then are
// retried) and, for WAV, once the header is read. Cancelling ctx or Close
// aborts the request; Close may be called from another goroutine than Read.
func (c *Client) Synthesize(ctx context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return nil, errors.New("openai speech: empty text")
	}
	if err := req.Format.Validate(); err != nil {
		return nil, fmt.Errorf("openai speech: format %s: %w", req.Format, err)
	}
	body, err := json.Marshal(speechBody{
		Model:          c.cfg.SpeechModel,
		Input:          text,
		Voice:          cmpOr(req.Voice, c.cfg.SpeechVoice),
		ResponseFormat: c.cfg.SpeechFormat,
	})
	if err != nil {
		return nil, fmt.Errorf("openai speech: %w", err)
	}
	accept := "audio/wav"
	if c.cfg.SpeechFormat == SpeechPCM {
		accept = "*/*" // the Content-Type of pcm answers is not documented
	}
	cn, r, err := c.open(ctx, c.speech, body, accept)
	if err != nil {
		return nil, err
	}
	audio := &speechAudio{cn: cn, op: c.speech, max: c.cfg.MaxSpeechBytes, remaining: -1}
	in := media.Format{Encoding: media.EncodingPCM16, SampleRate: c.cfg.SpeechPCMRate}
	if c.cfg.SpeechFormat == SpeechWAV {
		h, err := media.ReadWAVHeader(cn.body)
		if err != nil {
			if errors.Is(err, media.ErrInvalidWAV) {
				err = fmt.Errorf("openai speech: %w: %w", ErrMalformed, err)
			} else {
				err = cn.readErr(c.speech, err)
			}
			r.end(err)
			return nil, err
		}
		if h.Channels != 1 {
			err := fmt.Errorf("openai speech: %w: %d channels, want 1", ErrMalformed, h.Channels)
			r.end(err)
			return nil, err
		}
		in, audio.remaining = h.Format, h.DataSize
	}
	conv, err := media.NewConverter(in, req.Format)
	if err != nil {
		err = fmt.Errorf("openai speech: %w: %w", ErrMalformed, err)
		r.end(err)
		return nil, err
	}
	return &speechStream{r: r, audio: media.NewConvertReader(audio, conv)}, nil
}

// speechAudio reads a speech answer's audio as the server sends it: up to
// the data size of the WAV header when it gave one, within MaxSpeechBytes.
// It returns io.EOF only at a clean end; a short, oversized or broken
// answer ends with the provider's error.
type speechAudio struct {
	cn  *conn
	op  *operation
	max int64
	// remaining is how many bytes of WAV data are still to come, -1 when
	// the header did not say (read to EOF).
	remaining int64
}

func (b *speechAudio) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.remaining >= 0 && int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	var n int
	var err error
	if len(p) > 0 {
		n, err = b.cn.body.Read(p)
	} else {
		err = io.EOF // the announced data is complete; what follows is not audio
	}
	if b.remaining >= 0 {
		b.remaining -= int64(n)
	}
	if b.cn.dog.n > b.max {
		return 0, fmt.Errorf("openai speech: %w: more than %d bytes", ErrTooLarge, b.max)
	}
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF) && b.remaining > 0:
		return n, unavailable(b.op.name, fmt.Errorf("%w: %d bytes of audio missing", ErrTruncated, b.remaining))
	case errors.Is(err, io.EOF) && b.cn.cause() == nil && b.cn.callerCause() == nil:
		return n, io.EOF
	}
	return n, b.cn.readErr(b.op, err)
}

// speechStream is a speech answer converted to the requested format in the
// reader's goroutine. Close may be called from another goroutine than Read.
type speechStream struct {
	r      *request
	audio  *media.ConvertReader
	err    error // sticky once the answer ended: io.EOF or the failure
	closed atomic.Bool
}

func (s *speechStream) Read(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.audio.Read(p)
	if err != nil {
		s.err = err
		if errors.Is(err, io.EOF) {
			s.r.end(nil)
		} else {
			s.r.end(err)
		}
	}
	return n, err
}

// Close aborts the answer if it is still arriving and releases it.
func (s *speechStream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.r.end(ErrClosed)
	return nil
}
