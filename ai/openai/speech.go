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

// speechReadChunk is how much of the answer one fill reads.
const speechReadChunk = 4096

// speechBody is POST /audio/speech (protocol section 3).
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
	s := &speechStream{cn: cn, r: r, op: c.speech, max: c.cfg.MaxSpeechBytes, remaining: -1,
		raw: make([]byte, speechReadChunk)}
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
		in, s.remaining = h.Format, h.DataSize
	}
	conv, err := media.NewConverter(in, req.Format)
	if err != nil {
		err = fmt.Errorf("openai speech: %w: %w", ErrMalformed, err)
		r.end(err)
		return nil, err
	}
	s.conv = conv
	return s, nil
}

// speechStream converts a speech answer in the reader's goroutine.
type speechStream struct {
	cn   *conn
	r    *request
	op   *operation
	conv *media.Converter
	max  int64
	// remaining is how many bytes of WAV data are still to come, -1 when
	// the header did not say (read to EOF).
	remaining int64

	raw     []byte
	buf     []byte // converted audio
	pending []byte // unread part of buf
	err     error  // sticky: io.EOF or the failure
	closed  atomic.Bool
}

func (s *speechStream) Read(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	for len(s.pending) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		s.fill()
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// fill reads one piece of the answer into pending, or ends the stream.
func (s *speechStream) fill() {
	raw := s.raw
	if s.remaining >= 0 && int64(len(raw)) > s.remaining {
		raw = raw[:s.remaining]
	}
	var n int
	var err error
	if len(raw) > 0 {
		n, err = s.cn.body.Read(raw)
	} else {
		err = io.EOF // the announced data is complete; what follows is not audio
	}
	if s.remaining >= 0 {
		s.remaining -= int64(n)
	}
	s.buf = s.conv.Convert(s.buf[:0], raw[:n])
	if s.cn.dog.n > s.max {
		s.finish(fmt.Errorf("openai speech: %w: more than %d bytes", ErrTooLarge, s.max))
		return
	}
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) && s.remaining > 0:
		s.finish(unavailable(s.op.name, fmt.Errorf("%w: %d bytes of audio missing", ErrTruncated, s.remaining)))
		return
	case errors.Is(err, io.EOF) && s.cn.cause() == nil && s.cn.callerCause() == nil:
		s.buf = s.conv.Flush(s.buf)
		s.finish(io.EOF)
	default:
		s.finish(s.cn.readErr(s.op, err))
	}
	s.pending = s.buf
}

func (s *speechStream) finish(err error) {
	s.err = err
	if errors.Is(err, io.EOF) {
		s.r.end(nil)
		return
	}
	s.r.end(err)
}

// Close aborts the answer if it is still arriving and releases it.
func (s *speechStream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.r.end(ErrClosed)
	return nil
}
