package deepgram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
)

// maxSpeakChars is Aura's input limit (docs/protocols/deepgram.md §3: 413 beyond it).
const maxSpeakChars = 2000

// Synthesize asks Aura (POST /v1/speak) for the audio of one sentence and
// streams the answer body as it arrives, in exactly req.Format: Aura is asked
// for that format when it can produce it, otherwise for mu-law 8 kHz, which
// a media.ConvertReader converts as it is read. Closing the reader or
// cancelling ctx aborts the request.
//
// The request is retried with backoff only before the first audio byte, each
// attempt bounded by the time to first byte; a circuit breaker shared by the
// client's requests fails fast while Aura keeps failing. Errors for 429, 5xx,
// network failures, timeouts and an open breaker match ai.ErrUnavailable.
func (c *Client) Synthesize(ctx context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return nil, ErrEmptyText
	}
	if utf8.RuneCountInString(text) > maxSpeakChars {
		return nil, ErrTextTooLong
	}
	want := req.Format
	if want == (media.Format{}) {
		want = media.PCMU8k
	}
	if err := want.Validate(); err != nil {
		return nil, fmt.Errorf("deepgram speak: %w", err)
	}
	got, encoding := speakFormat(want)
	model := c.cfg.SpeakModel
	if strings.HasPrefix(req.Voice, "aura") {
		model = req.Voice
	}
	u := c.speakURL(model, encoding, got.SampleRate)
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{text})
	if err != nil {
		return nil, fmt.Errorf("deepgram speak: %w", err)
	}

	start := time.Now()
	var made []*speechReader // every attempt's reader, so a late timeout cannot leak one
	r, err := failsafe.With(c.retry, c.breaker, c.ttfb).WithContext(ctx).GetWithExecution(
		func(exec failsafe.Execution[*speechReader]) (*speechReader, error) {
			r, err := c.speakOnce(ctx, exec.Context(), u, body)
			if r != nil {
				made = append(made, r)
			}
			return r, err
		})
	for _, m := range made {
		if err != nil || m != r {
			_ = m.Close() // closing an aborted request reports nothing useful
		}
	}
	if err != nil {
		err = c.speakFailed(ctx, err)
		return nil, err
	}
	c.m.requests.WithLabelValues(provider, opSpeak, outcomeOK).Inc()
	media.ObserveTraced(ctx, c.m.firstByte, float64(time.Since(start).Microseconds())/1000)
	if got != want {
		conv, err := media.NewConverter(got, want)
		if err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("deepgram speak: %w", err)
		}
		return convertedSpeech{media.NewConvertReader(r, conv), r}, nil
	}
	return r, nil
}

// convertedSpeech is an Aura answer in another format than the requested
// one, converted as it is read; Close aborts the request.
type convertedSpeech struct {
	*media.ConvertReader
	io.Closer
}

// speakFailed counts a failed request and shapes its error.
func (c *Client) speakFailed(ctx context.Context, err error) error {
	outcome := outcomeUnavailable
	switch {
	case ctx.Err() != nil:
		outcome = outcomeCanceled
		err = fmt.Errorf("deepgram speak: %w", err)
	case errors.Is(err, circuitbreaker.ErrOpen):
		outcome = outcomeBreakerOpen
		err = fmt.Errorf("deepgram speak: %w: %w", ai.ErrUnavailable, err)
	case errors.Is(err, timeout.ErrExceeded):
		err = fmt.Errorf("%w: %w", ErrFirstByteTimeout, err)
	case errors.Is(err, ai.ErrUnavailable):
	default:
		outcome = outcomeRejected
	}
	c.m.requests.WithLabelValues(provider, opSpeak, outcome).Inc()
	return err
}

// speakFormat picks what to ask Aura for: want itself when Aura produces it
// (docs/protocols/deepgram.md §3: mulaw and alaw at 8 or 16 kHz; linear16), otherwise
// mu-law 8 kHz, the phone's own format, converted by the reader.
func speakFormat(want media.Format) (media.Format, string) {
	pcm := func(r int) bool {
		switch r {
		case 8000, 16000, 24000, 32000, 48000:
			return true
		}
		return false
	}
	g711 := want.SampleRate == 8000 || want.SampleRate == 16000
	switch {
	case want.Encoding == media.EncodingPCMU && g711:
		return want, "mulaw"
	case want.Encoding == media.EncodingPCMA && g711:
		return want, "alaw"
	case want.Encoding == media.EncodingPCM16 && pcm(want.SampleRate):
		return want, "linear16"
	case want.Encoding == media.EncodingL16 && pcm(want.SampleRate):
		// Aura's linear16 is little-endian: ask for it and swap the bytes.
		return media.Format{Encoding: media.EncodingPCM16, SampleRate: want.SampleRate}, "linear16"
	}
	return media.PCMU8k, "mulaw"
}

// speakURL builds /v1/speak; container=none keeps a WAV header out of the
// raw audio (docs/protocols/deepgram.md §3).
func (c *Client) speakURL(model, encoding string, rate int) string {
	q := url.Values{}
	q.Set("model", model)
	q.Set("encoding", encoding)
	q.Set("sample_rate", strconv.Itoa(rate))
	q.Set("container", "none")
	u := c.apiBase
	u.Path += "/v1/speak"
	u.RawQuery = q.Encode()
	return u.String()
}

// speakOnce is one attempt: it posts the text and waits for the first audio
// byte. attempt is cancelled by the time-to-first-byte timeout; ctx is the
// caller's, which the returned reader's request lives under.
func (c *Client) speakOnce(ctx, attempt context.Context, u string, body []byte) (*speechReader, error) {
	reqCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(attempt, cancel)
	fail := func(err error) (*speechReader, error) {
		stop()
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("deepgram speak: %w", ctx.Err())
		case attempt.Err() != nil:
			return nil, ErrFirstByteTimeout
		}
		return nil, unavailable(opSpeak, err)
	}
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		stop()
		cancel()
		return nil, fmt.Errorf("deepgram speak: %w", err)
	}
	req.Header = c.authHeader()
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	c.logAttempt(ctx, opSpeak, resp, err)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		ae := newAPIError(opSpeak, resp)
		_ = resp.Body.Close()
		stop()
		cancel()
		return nil, ae
	}
	r := &speechReader{body: resp.Body, cancel: cancel}
	n, err := readFirst(resp.Body, r.first[:])
	if !stop() {
		// The time to first byte ran out while we read.
		_ = r.Close()
		return nil, ErrFirstByteTimeout
	}
	switch {
	case errors.Is(err, io.EOF):
		r.eof = true
	case err != nil:
		_ = r.Close()
		return fail(err)
	}
	r.head = r.first[:n]
	return r, nil
}

// readFirst reads until it has at least one byte or an error.
func readFirst(r io.Reader, p []byte) (int, error) {
	for {
		n, err := r.Read(p)
		if n > 0 || err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				return n, io.EOF
			}
			return n, err
		}
	}
}

// speechReader streams an Aura answer body as Aura sent it. Close aborts
// the request.
type speechReader struct {
	body   io.ReadCloser
	cancel context.CancelFunc
	first  [1024]byte
	head   []byte // bytes read before the reader was returned
	eof    bool   // body ended

	once sync.Once
}

// Read returns the answer's audio.
func (r *speechReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	if r.eof {
		return 0, io.EOF
	}
	return r.body.Read(p)
}

// Close aborts the request if it is still streaming. It is idempotent.
func (r *speechReader) Close() error {
	r.once.Do(func() {
		r.cancel()
		_ = r.body.Close() // the request is cancelled; its close error says nothing
	})
	return nil
}
