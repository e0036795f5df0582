//go:build silero

package silero

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// readWAV reads a mono RIFF WAV file of PCM16 or G.711 mu-law samples. It is
// a copy of the one in media/vad/wav_test.go, which another package's tests
// cannot import.
func readWAV(path string) (samples []int16, sampleRate int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a RIFF WAVE file")
	}
	var format, channels, bits uint16
	var data []byte
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		p += 8
		if size < 0 || p+size > len(b) {
			return nil, 0, fmt.Errorf("chunk %q overruns the file", id)
		}
		body := b[p : p+size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, 0, errors.New("short fmt chunk")
			}
			format = binary.LittleEndian.Uint16(body[0:2])
			channels = binary.LittleEndian.Uint16(body[2:4])
			sampleRate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = binary.LittleEndian.Uint16(body[14:16])
		case "data":
			data = body
		}
		p += size + size&1 // chunks are word aligned
	}
	if channels != 1 {
		return nil, 0, fmt.Errorf("%d channels, want mono", channels)
	}
	switch {
	case format == 1 && bits == 16: // WAVE_FORMAT_PCM
		samples = make([]int16, len(data)/2)
		for i := range samples {
			samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case format == 7 && bits == 8: // WAVE_FORMAT_MULAW
		samples = make([]int16, len(data))
		for i, u := range data {
			samples[i] = ulaw(u)
		}
	default:
		return nil, 0, fmt.Errorf("format %d with %d bits is neither PCM16 nor mu-law", format, bits)
	}
	return samples, sampleRate, nil
}

// ulaw decodes one G.711 mu-law byte (ITU-T G.711 table 2).
func ulaw(u byte) int16 {
	u = ^u
	t := (int16(u&0x0f)<<3 + 0x84) << (u >> 4 & 7)
	if u&0x80 != 0 {
		return 0x84 - t
	}
	return t - 0x84
}
