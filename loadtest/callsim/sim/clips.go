package sim

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/iace/iace/loadtest/callsim/audio"
	"github.com/iace/iace/media"
)

const (
	frameDuration = media.FrameDuration
	sampleRate    = 8000
	// frameBytes is one 20 ms PCMU frame: 160 bytes, one a sample.
	frameBytes = sampleRate * int(frameDuration/time.Millisecond) / 1000
)

// clip is one caller utterance as ready-to-send media payloads: base64 of
// 160-byte PCMU frames, built once at start and shared read-only by all calls.
// Leading and trailing silence is trimmed, so its last frame is the caller's
// last voiced frame.
type clip struct {
	text   string
	source string // "file", "embedded" or "synthetic"
	frames []string
}

// library holds every payload the calls send.
type library struct {
	silence string   // a frame of mu-law silence (0xFF)
	noise   []string // background-noise frames when -noise is set
	clips   map[string]*clip
}

// noiseFrames is how many distinct background-noise frames are built (2.56 s);
// calls cycle through them from a random offset.
const noiseFrames = 128

// slug is the file name (without .wav) an utterance is looked up under: its
// lowercase letters and digits, runs of anything else turned into one "_".
// It matches what gen.sh writes.
func slug(text string) string {
	var b strings.Builder
	pending := false
	for _, r := range strings.ToLower(text) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if pending && b.Len() > 0 {
				b.WriteByte('_')
			}
			pending = false
			b.WriteRune(r)
			continue
		}
		pending = true
	}
	return b.String()
}

// loadLibrary builds the payloads for texts: each from <slug>.wav in dir (if
// set), else the embedded audio, else a synthetic speech-like signal.
func loadLibrary(dir fs.FS, texts []string, noiseDB float64, seed uint64) (*library, error) {
	lib := &library{clips: make(map[string]*clip, len(texts))}
	var silence [frameBytes]byte
	media.EncodingPCMU.FillSilence(silence[:])
	lib.silence = base64.StdEncoding.EncodeToString(silence[:])

	// One seeded source for all noise, so a run is reproducible with -seed.
	rng := rand.New(rand.NewPCG(seed, 0x6e6f697365))
	sigma := 0.0
	if noiseDB != 0 {
		sigma = 32767 * math.Pow(10, noiseDB/20)
		pcm := make([]int16, noiseFrames*frameBytes)
		addNoise(pcm, sigma, rng)
		lib.noise = encodeFrames(pcm)
	}
	for _, text := range texts {
		if _, ok := lib.clips[text]; ok {
			continue
		}
		pcm, source, err := loadPCM(dir, text)
		if err != nil {
			return nil, err
		}
		pcm = trimSilence(pcm)
		if sigma > 0 {
			addNoise(pcm, sigma, rng)
		}
		lib.clips[text] = &clip{text: text, source: source, frames: encodeFrames(pcm)}
	}
	return lib, nil
}

// loadPCM returns 8 kHz samples for text.
func loadPCM(dir fs.FS, text string) ([]int16, string, error) {
	name := slug(text) + ".wav"
	if name == ".wav" {
		return nil, "", fmt.Errorf("callsim: utterance %q has no letters or digits", text)
	}
	if dir != nil {
		pcm, err := readWAV8k(dir, name)
		if err == nil {
			return pcm, "file", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
	}
	pcm, err := readWAV8k(audio.FS, name)
	if err == nil {
		return pcm, "embedded", nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	return synthSpeech(text), "synthetic", nil
}

// readWAV8k reads a WAV and resamples it to 8 kHz.
func readWAV8k(dir fs.FS, name string) ([]int16, error) {
	f, err := dir.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read-only
	pcm, rate, err := media.ReadWAV(f)
	if err != nil {
		return nil, fmt.Errorf("callsim: %s: %w", name, err)
	}
	if rate == sampleRate {
		return pcm, nil
	}
	rs, err := media.NewResampler(rate, sampleRate)
	if err != nil {
		return nil, fmt.Errorf("callsim: %s: %w", name, err)
	}
	out := rs.Process(make([]int16, 0, rs.MaxOut(len(pcm))), pcm)
	return rs.Flush(out), nil
}

// trimSilence drops leading and trailing 20 ms frames that are quieter than
// 1/20 of the loudest frame (and than an absolute floor), so the clip starts
// and ends on voiced frames whatever WAV it came from.
func trimSilence(pcm []int16) []int16 {
	n := len(pcm) / frameBytes
	if n == 0 {
		return pcm
	}
	rms := make([]float64, n)
	peak := 0.0
	for i := range n {
		var sum float64
		for _, s := range pcm[i*frameBytes : (i+1)*frameBytes] {
			sum += float64(s) * float64(s)
		}
		rms[i] = math.Sqrt(sum / float64(frameBytes))
		peak = max(peak, rms[i])
	}
	threshold := max(peak/20, 100)
	first, last := 0, n-1
	for first < n && rms[first] < threshold {
		first++
	}
	for last > first && rms[last] < threshold {
		last--
	}
	if first > last {
		return pcm // all quiet: keep it, the server will hear nothing either way
	}
	return pcm[first*frameBytes : (last+1)*frameBytes]
}

// addNoise adds Gaussian white noise of standard deviation sigma, saturating.
func addNoise(pcm []int16, sigma float64, rng *rand.Rand) {
	for i, s := range pcm {
		v := float64(s) + rng.NormFloat64()*sigma
		pcm[i] = int16(max(min(v, math.MaxInt16), math.MinInt16))
	}
}

// encodeFrames splits pcm into 20 ms frames, padding the last one with
// silence, and returns each frame as base64 PCMU.
func encodeFrames(pcm []int16) []string {
	n := (len(pcm) + frameBytes - 1) / frameBytes
	frames := make([]string, 0, n)
	var raw [frameBytes]byte
	for i := 0; i < len(pcm); i += frameBytes {
		media.EncodingPCMU.FillSilence(raw[:])
		media.EncodeULawTo(raw[:], pcm[i:min(i+frameBytes, len(pcm))])
		frames = append(frames, base64.StdEncoding.EncodeToString(raw[:]))
	}
	return frames
}

// synthSpeech returns a speech-like signal for a text that has no WAV: a
// 120 Hz buzz with a few harmonics, shaped into one syllable-sized burst per
// word (about 0.3 s each, with short gaps), at about -12 dBFS. Any energy-based
// voice-activity detector hears speech of a plausible length; what the server
// transcribes comes from the sim_script custom parameter, not from this audio.
func synthSpeech(text string) []int16 {
	words := max(len(strings.Fields(text)), 1)
	const (
		word = 0.30 // seconds of voice per word
		gap  = 0.06 // seconds between words
		f0   = 120.0
		amp  = 8000.0
	)
	total := int(float64(words)*(word+gap)*sampleRate) - int(gap*sampleRate)
	pcm := make([]int16, total)
	for i := range pcm {
		t := float64(i) / sampleRate
		pos := math.Mod(t, word+gap)
		if pos > word {
			continue
		}
		env := math.Sin(math.Pi * pos / word) // one smooth syllable per word
		v := 0.0
		for h := 1; h <= 4; h++ {
			v += math.Sin(2*math.Pi*f0*float64(h)*t) / float64(h)
		}
		pcm[i] = int16(amp * env * v / 2)
	}
	return pcm
}
