package local

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media"
)

// Tone rendering: the audio lasts about TonesPerChar per character of text,
// between tonesShortest and TonesMax, one soft tone per word.
const (
	// TonesPerChar is how much audio Tones renders per character of text,
	// close to the pace of speech (175 words a minute, 6 characters a word).
	TonesPerChar = 60 * time.Millisecond
	// TonesMax caps the audio of one sentence.
	TonesMax = 10 * time.Second

	tonesShortest  = 200 * time.Millisecond
	tonesAmplitude = 0.1 // of full scale, about -20 dBFS: soft
	tonesFade      = 8 * time.Millisecond
	tonesGap       = 0.25 // share of each word's time left silent
	tonesLowHz     = 220
	tonesSpanHz    = 220
)

// Tones is a stand-in synthesizer for when espeak-ng is missing: it does not
// speak, it renders each word of a sentence as a soft tone, so a conversation
// still has audio of plausible length and rhythm (barge-in, pacing and marks
// behave as with speech). Output is deterministic.
type Tones struct{}

// NewTones returns the tone synthesizer.
func NewTones() *Tones { return &Tones{} }

// Synthesize renders req.Text as tones in req.Format. The whole sentence is
// rendered at once; it is short and cheap.
func (*Tones) Synthesize(ctx context.Context, req ai.SpeechRequest) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Text) == "" {
		return nil, ErrEmptyText
	}
	if err := req.Format.Validate(); err != nil {
		return nil, fmt.Errorf("tones: format %s: %w", req.Format, err)
	}
	pcm := renderTones(req.Text, req.Format.SampleRate)
	out := make([]byte, len(pcm)*req.Format.Encoding.BytesPerSample())
	n := media.EncodeTo(out, pcm, req.Format.Encoding)
	return io.NopCloser(bytes.NewReader(out[:n])), nil
}

// TonesDuration returns how long the audio Tones renders for text lasts.
func TonesDuration(text string) time.Duration {
	d := time.Duration(utf8.RuneCountInString(strings.TrimSpace(text))) * TonesPerChar
	return min(max(d, tonesShortest), TonesMax)
}

// renderTones returns PCM16 samples at rate: the sentence's time is shared
// among its words by length, each word a tone with a pitch of its own (from a
// hash of the word) followed by a short silence.
func renderTones(text string, rate int) []int16 {
	total := int(int64(TonesDuration(text)) * int64(rate) / int64(time.Second))
	pcm := make([]int16, total)
	words := strings.Fields(text)
	weight := 0
	for _, w := range words {
		weight += utf8.RuneCountInString(w) + 1
	}
	fade := int(int64(tonesFade) * int64(rate) / int64(time.Second))
	cum := 0
	for _, w := range words {
		start := total * cum / weight
		cum += utf8.RuneCountInString(w) + 1
		end := total * cum / weight
		toneLen := int(float64(end-start) * (1 - tonesGap))
		h := fnv.New32a()
		_, _ = h.Write([]byte(strings.ToLower(w))) // a hash never fails to write
		hz := float64(tonesLowHz + h.Sum32()%tonesSpanHz)
		step := 2 * math.Pi * hz / float64(rate)
		f := min(fade, toneLen/2)
		for i := range toneLen {
			env := 1.0
			switch {
			case i < f:
				env = 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(f))
			case i >= toneLen-f:
				env = 0.5 - 0.5*math.Cos(math.Pi*float64(toneLen-i)/float64(f))
			}
			pcm[start+i] = int16(tonesAmplitude * math.MaxInt16 * env * math.Sin(step*float64(i)))
		}
	}
	return pcm
}
