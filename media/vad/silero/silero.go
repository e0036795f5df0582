//go:build silero

// Package silero runs the Silero VAD v5 model (MIT, snakers4/silero-vad) on
// 8 kHz telephone audio through ONNX Runtime, to measure it against the
// hand-built detector of media/vad on the barge-in corpus. It is an
// evaluation, built only with the "silero" tag and kept in its own module
// so that the main module stays pure Go: see README.md.
//
// The model takes 256 new samples at 8 kHz (32 ms) with the last 32 samples
// of the previous chunk in front of them, the sample rate, and a recurrent
// state of 2x1x128 floats; it returns the probability that the chunk holds
// speech and the next state. One Model (the ONNX Runtime session) is shared
// by every call; each call's Stream owns its tensors: the input, the two
// state tensors it swaps between chunks, and the output.
package silero

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// The model's framing at 8 kHz.
const (
	SampleRate     = 8000
	ChunkSamples   = 256 // new samples a chunk
	ContextSamples = 32  // samples of the previous chunk the model sees again
	ChunkDuration  = ChunkSamples * time.Second / SampleRate
	stateLen       = 2 * 1 * 128
)

// The environment variables OpenFromEnv reads.
const (
	EnvORTLib = "IACE_ORT_LIB"      // path of libonnxruntime.so (1.24 or later)
	EnvModel  = "IACE_SILERO_MODEL" // path of silero_vad.onnx (v5)
)

// ErrNoEnv means OpenFromEnv found an environment variable unset.
var ErrNoEnv = errors.New("silero: " + EnvORTLib + " and " + EnvModel + " must be set (see media/vad/silero/setup.sh)")

var (
	envOnce sync.Once
	envLib  string
	envErr  error
)

// initORT loads the ONNX Runtime library once per process; a later call
// with another path fails.
func initORT(lib string) error {
	envOnce.Do(func() {
		envLib = lib
		ort.SetSharedLibraryPath(lib)
		envErr = ort.InitializeEnvironment()
	})
	if envErr != nil {
		return fmt.Errorf("silero: loading %s: %w", envLib, envErr)
	}
	if lib != envLib {
		return fmt.Errorf("silero: ONNX Runtime already loaded from %s, not %s", envLib, lib)
	}
	return nil
}

// Model is a loaded Silero VAD session, shared by all streams. ONNX Runtime
// allows concurrent Run calls on one session.
type Model struct {
	session *ort.DynamicAdvancedSession
}

// OpenFromEnv opens the model at $IACE_SILERO_MODEL with the ONNX Runtime
// library at $IACE_ORT_LIB, running each chunk on one thread.
func OpenFromEnv() (*Model, error) {
	lib, model := os.Getenv(EnvORTLib), os.Getenv(EnvModel)
	if lib == "" || model == "" {
		return nil, ErrNoEnv
	}
	return Open(lib, model, 1)
}

// Open loads ONNX Runtime from lib (once per process) and the Silero VAD v5
// model from model, with threads intra-op threads a Run (1 suits a media
// server: many small calls, one core each).
func Open(lib, model string, threads int) (*Model, error) {
	if err := initORT(lib); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	s, err := ort.NewDynamicAdvancedSession(model,
		[]string{"input", "state", "sr"}, []string{"output", "stateN"}, opts)
	if err != nil {
		return nil, fmt.Errorf("silero: loading %s: %w", model, err)
	}
	return &Model{session: s}, nil
}

// Close releases the session; close every Stream first.
func (m *Model) Close() error { return m.session.Destroy() }

// Stream is one call's recurrent state and buffers. It is not safe for
// concurrent use; distinct streams of one Model are.
type Stream struct {
	m     *Model
	input *ort.Tensor[float32] // [1, ContextSamples+ChunkSamples]
	state [2]*ort.Tensor[float32]
	cur   int // state[cur] is the input state, state[1-cur] the output
	sr    *ort.Scalar[int64]
	out   *ort.Tensor[float32] // [1, 1]
	n     int                  // samples of the current chunk buffered
}

// NewStream allocates a stream with a zero state.
func (m *Model) NewStream() (*Stream, error) {
	s := &Stream{m: m}
	var err error
	if s.input, err = ort.NewEmptyTensor[float32](ort.NewShape(1, ContextSamples+ChunkSamples)); err != nil {
		return nil, err
	}
	for i := range s.state {
		if s.state[i], err = ort.NewEmptyTensor[float32](ort.NewShape(2, 1, 128)); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.sr, err = ort.NewScalar(int64(SampleRate)); err != nil {
		s.Close()
		return nil, err
	}
	if s.out, err = ort.NewEmptyTensor[float32](ort.NewShape(1, 1)); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Reset clears the state and the buffered samples, as for a new call.
func (s *Stream) Reset() {
	clear(s.input.GetData())
	clear(s.state[s.cur].GetData())
	s.n = 0
}

// Close releases the stream's tensors.
func (s *Stream) Close() {
	// Fields are nil where NewStream failed; a nil pointer in an interface
	// is not a nil interface, so test each one.
	for _, t := range []*ort.Tensor[float32]{s.input, s.state[0], s.state[1], s.out} {
		if t != nil {
			_ = t.Destroy()
		}
	}
	if s.sr != nil {
		_ = s.sr.Destroy()
	}
}

// StateBytes is the size of the tensor data a stream owns: the input with
// its context, both state tensors, the sample rate and the output.
func StateBytes() int {
	return 4*(ContextSamples+ChunkSamples) + 2*4*stateLen + 8 + 4
}

// Push buffers PCM16 samples at 8 kHz and runs the model on every chunk
// they complete, appending each chunk's speech probability to probs.
func (s *Stream) Push(pcm []int16, probs []float32) ([]float32, error) {
	buf := s.input.GetData()
	for len(pcm) > 0 {
		k := min(len(pcm), ChunkSamples-s.n)
		dst := buf[ContextSamples+s.n:]
		for i, v := range pcm[:k] {
			dst[i] = float32(v) / 32768
		}
		s.n += k
		pcm = pcm[k:]
		if s.n < ChunkSamples {
			break
		}
		p, err := s.run()
		if err != nil {
			return probs, err
		}
		probs = append(probs, p)
		copy(buf[:ContextSamples], buf[ChunkSamples:])
		s.n = 0
	}
	return probs, nil
}

// run runs one full chunk and swaps the state.
func (s *Stream) run() (float32, error) {
	in, next := s.state[s.cur], s.state[1-s.cur]
	err := s.m.session.Run([]ort.Value{s.input, in, s.sr}, []ort.Value{s.out, next})
	if err != nil {
		return 0, fmt.Errorf("silero: %w", err)
	}
	s.cur = 1 - s.cur
	return s.out.GetData()[0], nil
}
