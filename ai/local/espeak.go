package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
)

// Espeak defaults and limits.
const (
	espeakDefaultBinary = "espeak-ng"
	espeakDefaultWPM    = 175
	espeakDefaultVoice  = "en-us"
	espeakDefaultMax    = 1000
	// espeakMaxTextBytes bounds MaxTextBytes so the text always fits the
	// stdin pipe's buffer (at least one 4 KiB page on Linux): it is written
	// before espeak-ng starts, with no goroutine to feed it.
	espeakMaxTextBytes = 4096
	espeakMaxVoice     = 64
	espeakStderrKeep   = 512
)

// espeakFormat is what espeak-ng --stdout writes (its voices are 22050 Hz).
var espeakFormat = media.Format{Encoding: media.EncodingPCM16, SampleRate: 22050}

// EspeakConfig configures the espeak-ng synthesizer; zero fields take defaults.
type EspeakConfig struct {
	// Binary is the espeak-ng executable, a name looked up in PATH or a path.
	// Default "espeak-ng".
	Binary string
	// WordsPerMinute is the speaking rate, 80 to 450. Default 175.
	WordsPerMinute int
	// DefaultVoice is used when a request names neither voice nor language.
	// Default "en-us".
	DefaultVoice string
	// MaxTextBytes is the longest text one request may carry, at most 4096.
	// Default 1000.
	MaxTextBytes int
}

// Espeak is the offline text-to-speech provider: it runs one espeak-ng process
// per sentence and streams its audio, converted to the requested format as it
// is read. It is safe for concurrent use.
type Espeak struct {
	path  string
	wpm   string
	voice string
	max   int
}

// NewEspeak checks cfg and finds the espeak-ng binary. If the binary is not
// installed, the error wraps ai.ErrUnavailable so the caller can fall back
// (to Tones, for example) and say so.
func NewEspeak(cfg EspeakConfig) (*Espeak, error) {
	if cfg.Binary == "" {
		cfg.Binary = espeakDefaultBinary
	}
	if cfg.WordsPerMinute == 0 {
		cfg.WordsPerMinute = espeakDefaultWPM
	}
	if cfg.DefaultVoice == "" {
		cfg.DefaultVoice = espeakDefaultVoice
	}
	if cfg.MaxTextBytes == 0 {
		cfg.MaxTextBytes = espeakDefaultMax
	}
	var errs []error
	if cfg.WordsPerMinute < 80 || cfg.WordsPerMinute > 450 {
		errs = append(errs, fmt.Errorf("espeak: words per minute %d out of range 80-450", cfg.WordsPerMinute))
	}
	if !validVoice(cfg.DefaultVoice) {
		errs = append(errs, fmt.Errorf("espeak: default voice %q: %w", cfg.DefaultVoice, ErrBadVoice))
	}
	if cfg.MaxTextBytes < 0 || cfg.MaxTextBytes > espeakMaxTextBytes {
		errs = append(errs, fmt.Errorf("espeak: max text bytes %d out of range 1-%d", cfg.MaxTextBytes, espeakMaxTextBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	path, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: espeak: %w", ai.ErrUnavailable, err)
	}
	return &Espeak{
		path:  path,
		wpm:   strconv.Itoa(cfg.WordsPerMinute),
		voice: cfg.DefaultVoice,
		max:   cfg.MaxTextBytes,
	}, nil
}

// validVoice reports whether v is a plausible espeak-ng voice name ("en-us",
// "en-us+f3", "fr"): it is passed as a command argument, so only these
// characters, and not a leading '-', are allowed.
func validVoice(v string) bool {
	if v == "" || len(v) > espeakMaxVoice || v[0] == '-' {
		return false
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '_' || r == '+' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// Synthesize starts espeak-ng for req.Text and returns its audio in exactly
// req.Format, streamed: the first bytes are readable as soon as espeak-ng has
// produced them. The voice is req.Voice, else req.Language (espeak-ng names
// its voices by language), else the default. The text goes to espeak-ng on
// stdin, never on the command line. Cancelling ctx kills the process; Close
// kills it if it is still running and reaps it. Errors of espeak-ng itself (an
// unknown voice, for example) are returned by Read.
func (e *Espeak) Synthesize(ctx context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	text := strings.TrimSpace(strings.ToValidUTF8(req.Text, "\uFFFD"))
	if text == "" {
		return nil, ErrEmptyText
	}
	if len(text) > e.max {
		return nil, fmt.Errorf("espeak: %w: %d bytes, limit %d", ErrTextTooLong, len(text), e.max)
	}
	voice := e.voice
	switch {
	case req.Voice != "":
		voice = req.Voice
	case req.Language != "":
		voice = req.Language
	}
	if !validVoice(voice) {
		return nil, fmt.Errorf("espeak: voice %q: %w", voice, ErrBadVoice)
	}
	// Built now so a bad format fails here, not on the first Read.
	conv, err := media.NewConverter(espeakFormat, req.Format)
	if err != nil {
		return nil, fmt.Errorf("espeak: %w", err)
	}

	// The text is written into the stdin pipe before espeak-ng starts; it fits
	// the pipe buffer, so no goroutine has to feed it.
	stdin, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("espeak: stdin pipe: %w", err)
	}
	// The child holds its own copy of the read end once started.
	defer func() { _ = stdin.Close() }()
	_, err = w.WriteString(text)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("espeak: write text: %w", err)
	}

	// -b 1: the input is UTF-8. --stdin: read all of it, not line by line.
	//nolint:gosec // G204: no shell; the voice is checked by validVoice, the text goes to stdin.
	cmd := exec.CommandContext(ctx, e.path, "--stdout", "--stdin", "-b", "1", "-v", voice, "-s", e.wpm)
	cmd.Stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("espeak: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("espeak: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("espeak: start: %w", err)
	}
	return &espeakStream{
		cmd:    cmd,
		stdout: stdout,
		stderr: stderr,
		format: req.Format,
		conv:   conv,
		ctxErr: ctx.Err,
	}, nil
}

// espeakStream is the audio of one espeak-ng run. Read converts espeak-ng's
// output in the caller's goroutine; Close may be called from another
// goroutine to abort a Read.
type espeakStream struct {
	cmd            *exec.Cmd
	stdout, stderr io.Reader
	format         media.Format
	// ctxErr is the Err method of the Synthesize context.
	ctxErr func() error

	// Read's state.
	// conv is espeakFormat to the requested one (built by Synthesize, so a
	// bad format fails there), replaced if the WAV header says otherwise.
	conv  *media.Converter
	audio *media.ConvertReader // nil until the WAV header is read
	err   error                // sticky: io.EOF or the stream's failure

	closed   atomic.Bool
	reapOnce sync.Once
	waitErr  error  // set in reapOnce
	stderrS  string // set in reapOnce: the start of espeak-ng's stderr
}

func (s *espeakStream) Read(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.audio == nil && !s.start() {
		return 0, s.err
	}
	n, err := s.audio.Read(p)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		s.finish(nil, false)
	default:
		s.finish(err, true)
	}
	return n, s.err
}

// start reads espeak-ng's WAV header and sets up the conversion of what
// follows, or ends the stream.
func (s *espeakStream) start() bool {
	if err := s.ctxErr(); err != nil {
		s.finish(err, true)
		return false
	}
	h, err := media.ReadWAVHeader(s.stdout)
	if err != nil {
		s.finish(fmt.Errorf("espeak output: %w", err), true)
		return false
	}
	if h.Channels != 1 {
		s.finish(fmt.Errorf("espeak output: %d channels, want 1", h.Channels), true)
		return false
	}
	if h.Format != espeakFormat {
		conv, err := media.NewConverter(h.Format, s.format)
		if err != nil {
			s.finish(fmt.Errorf("espeak output: %w", err), true)
			return false
		}
		s.conv = conv
	}
	s.audio = media.NewConvertReader(espeakOutput{r: s.stdout, ctxErr: s.ctxErr}, s.conv)
	return true
}

// espeakOutput is espeak-ng's audio after the header, read while the
// Synthesize context lasts.
type espeakOutput struct {
	r      io.Reader
	ctxErr func() error
}

func (o espeakOutput) Read(p []byte) (int, error) {
	if err := o.ctxErr(); err != nil {
		return 0, err
	}
	n, err := o.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("espeak output: %w", err)
	}
	return n, err
}

// finish reaps the process and sets the stream's final error from what ended
// it (cause, nil at the end of espeak-ng's output): a concurrent Close or a
// cancellation first, then espeak-ng's own failure with its message, then
// cause; io.EOF only if all went well.
func (s *espeakStream) finish(cause error, kill bool) {
	waitErr := s.reap(kill)
	var exitErr *exec.ExitError
	switch {
	case s.closed.Load():
		s.err = ErrClosed
	case s.ctxErr() != nil && (waitErr != nil || cause != nil):
		s.err = s.ctxErr()
	case errors.As(waitErr, &exitErr) && exitErr.ExitCode() > 0:
		s.err = fmt.Errorf("espeak: %w: %s", waitErr, s.stderrS)
	case cause != nil:
		s.err = cause
	case waitErr != nil:
		s.err = fmt.Errorf("espeak: %w", waitErr)
	default:
		s.err = io.EOF
	}
}

// reap kills the process if asked, collects its stderr and waits for it,
// once, whoever calls first (Read at the end of the stream, or Close).
func (s *espeakStream) reap(kill bool) error {
	s.reapOnce.Do(func() {
		if kill {
			// os.ErrProcessDone is fine: it exited on its own.
			_ = s.cmd.Process.Kill()
		}
		// stderr reaches EOF when the process has exited; read it all so
		// espeak-ng never blocks on a full pipe, keep the start.
		var b [espeakStderrKeep]byte
		n, _ := io.ReadFull(s.stderr, b[:])
		_, _ = io.Copy(io.Discard, s.stderr)
		s.stderrS = strings.TrimSpace(strings.ToValidUTF8(string(b[:n]), ""))
		s.waitErr = s.cmd.Wait()
	})
	return s.waitErr
}

// Close kills espeak-ng if it is still running and waits for it, so neither a
// process nor a goroutine is left. It is idempotent.
func (s *espeakStream) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		_ = s.reap(true) // Read reports how the stream ended
	}
	return nil
}
