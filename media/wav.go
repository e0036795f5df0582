package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ErrInvalidWAV is returned for a WAV file that is malformed, truncated, too
// large or in a format IACE does not read.
var ErrInvalidWAV = errors.New("media: invalid WAV")

// WAV format tags (RFC 2361, mmreg.h).
const (
	wavFormatPCM        = 1
	wavFormatALaw       = 6
	wavFormatMuLaw      = 7
	wavFormatExtensible = 0xFFFE
)

const (
	// wavMaxBytes caps what ReadWAV reads and what ReadWAVHeader skips: 64 MiB
	// is over half an hour of 16 kHz PCM16, far more than any prompt.
	wavMaxBytes = 64 << 20
	// wavStreamingSize is the placeholder size espeak-ng writes before the data
	// when it cannot seek back to patch it (espeak-ng --stdout writes
	// 0x7FFFF000); sizes from here up mean "read to EOF".
	wavStreamingSize = 0x7FFFF000
	wavMaxRate       = 384000
)

// WAVHeader is what ReadWAVHeader learns from a RIFF/WAVE header.
type WAVHeader struct {
	// Format is the encoding of each channel's samples (EncodingPCM16,
	// EncodingPCMU or EncodingPCMA) and the sample rate.
	Format Format
	// Channels is 1 or 2; the data interleaves the channels sample by sample.
	Channels int
	// DataSize is the length of the data chunk in bytes, or -1 when the
	// header does not know it (a streaming header): read to EOF.
	DataSize int64
}

// BlockAlign is the size of one frame, a sample of every channel, in bytes.
func (h WAVHeader) BlockAlign() int { return h.Channels * h.Format.Encoding.BytesPerSample() }

// ReadWAVHeader reads a RIFF/WAVE header from r, skipping chunks other than
// "fmt " and "data", and stops at the first byte of the audio data, so the
// caller can stream the rest of r.
func ReadWAVHeader(r io.Reader) (WAVHeader, error) {
	var b [12]byte
	if _, err := io.ReadFull(r, b[:12]); err != nil {
		return WAVHeader{}, wavReadErr("RIFF header", err)
	}
	if string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return WAVHeader{}, fmt.Errorf("%w: not a RIFF/WAVE file", ErrInvalidWAV)
	}
	var (
		h       WAVHeader
		haveFmt bool
		skipped int64
	)
	for {
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return WAVHeader{}, wavReadErr("chunk header", err)
		}
		id := string(b[0:4])
		size := int64(binary.LittleEndian.Uint32(b[4:8]))
		switch id {
		case "fmt ":
			fh, err := readWAVFmt(r, size)
			if err != nil {
				return WAVHeader{}, err
			}
			h, haveFmt = fh, true
		case "data":
			if !haveFmt {
				return WAVHeader{}, fmt.Errorf("%w: data chunk before fmt chunk", ErrInvalidWAV)
			}
			h.DataSize = size
			if size == 0 || size >= wavStreamingSize {
				h.DataSize = -1
			}
			return h, nil
		default:
			// LIST, fact, cue and the like; chunks are padded to even size.
			size += size & 1
			skipped += size
			if skipped > wavMaxBytes {
				return WAVHeader{}, fmt.Errorf("%w: more than %d bytes before the data chunk", ErrInvalidWAV, wavMaxBytes)
			}
			if err := wavSkip(r, size, "chunk "+fmt.Sprintf("%q", id)); err != nil {
				return WAVHeader{}, err
			}
		}
	}
}

// readWAVFmt parses a "fmt " chunk of the given size (WAVEFORMATEX, or
// WAVEFORMATEXTENSIBLE whose sub-format GUID starts with the format tag).
func readWAVFmt(r io.Reader, size int64) (WAVHeader, error) {
	if size < 16 {
		return WAVHeader{}, fmt.Errorf("%w: fmt chunk of %d bytes", ErrInvalidWAV, size)
	}
	var b [40]byte
	n := min(size, int64(len(b)))
	if _, err := io.ReadFull(r, b[:n]); err != nil {
		return WAVHeader{}, wavReadErr("fmt chunk", err)
	}
	if err := wavSkip(r, size-n+(size&1), "fmt chunk"); err != nil {
		return WAVHeader{}, err
	}
	tag := binary.LittleEndian.Uint16(b[0:2])
	channels := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := binary.LittleEndian.Uint32(b[4:8])
	bits := binary.LittleEndian.Uint16(b[14:16])
	if tag == wavFormatExtensible {
		if n < 40 {
			return WAVHeader{}, fmt.Errorf("%w: extensible fmt chunk of %d bytes", ErrInvalidWAV, size)
		}
		tag = binary.LittleEndian.Uint16(b[24:26])
	}
	var h WAVHeader
	switch {
	case tag == wavFormatPCM && bits == 16:
		h.Format.Encoding = EncodingPCM16
	case tag == wavFormatMuLaw && bits == 8:
		h.Format.Encoding = EncodingPCMU
	case tag == wavFormatALaw && bits == 8:
		h.Format.Encoding = EncodingPCMA
	default:
		return WAVHeader{}, fmt.Errorf("%w: format tag %d with %d bits a sample is not supported (want 16-bit PCM, mu-law or A-law)", ErrInvalidWAV, tag, bits)
	}
	if channels != 1 && channels != 2 {
		return WAVHeader{}, fmt.Errorf("%w: %d channels (want 1 or 2)", ErrInvalidWAV, channels)
	}
	if rate == 0 || rate > wavMaxRate {
		return WAVHeader{}, fmt.Errorf("%w: sample rate %d", ErrInvalidWAV, rate)
	}
	h.Format.SampleRate = int(rate)
	h.Channels = channels
	return h, nil
}

// ReadWAV reads a whole WAV file of 16-bit PCM, mu-law or A-law, mono or
// stereo, and returns its samples as mono 16-bit PCM (stereo is mixed down) and
// its sample rate. It reads at most 64 MiB of audio.
func ReadWAV(r io.Reader) (samples []int16, sampleRate int, err error) {
	h, err := ReadWAVHeader(r)
	if err != nil {
		return nil, 0, err
	}
	var data []byte
	if h.DataSize >= 0 {
		if h.DataSize > wavMaxBytes {
			return nil, 0, fmt.Errorf("%w: data chunk of %d bytes exceeds %d", ErrInvalidWAV, h.DataSize, wavMaxBytes)
		}
		// ReadAll grows with what actually arrives, so a lying size
		// costs no large allocation.
		data, err = io.ReadAll(io.LimitReader(r, h.DataSize))
		if err != nil {
			return nil, 0, fmt.Errorf("wav data: %w", err)
		}
		if int64(len(data)) < h.DataSize {
			return nil, 0, fmt.Errorf("%w: data chunk truncated at %d of %d bytes", ErrInvalidWAV, len(data), h.DataSize)
		}
	} else {
		data, err = io.ReadAll(io.LimitReader(r, wavMaxBytes+1))
		if err != nil {
			return nil, 0, fmt.Errorf("wav data: %w", err)
		}
		if len(data) > wavMaxBytes {
			return nil, 0, fmt.Errorf("%w: data exceeds %d bytes", ErrInvalidWAV, wavMaxBytes)
		}
	}

	// A trailing partial frame (a cut stream) is dropped.
	frames := len(data) / h.BlockAlign()
	samples = make([]int16, frames*h.Channels)
	DecodeTo(samples, data, h.Format.Encoding)
	if h.Channels == 2 {
		for i := range frames {
			samples[i] = int16((int32(samples[2*i]) + int32(samples[2*i+1])) >> 1)
		}
		samples = slices.Clip(samples[:frames])
	}
	return samples, h.Format.SampleRate, nil
}

// WriteWAV writes samples as a mono 16-bit PCM WAV file at sampleRate.
func WriteWAV(w io.Writer, sampleRate int, samples []int16) error {
	if sampleRate <= 0 || sampleRate > wavMaxRate {
		return fmt.Errorf("%w: sample rate %d", ErrInvalidWAV, sampleRate)
	}
	dataSize := int64(len(samples)) * 2
	if dataSize > 0xFFFFFFFF-36 {
		return fmt.Errorf("%w: %d samples do not fit a WAV file", ErrInvalidWAV, len(samples))
	}
	var hdr [44]byte
	copy(hdr[0:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(36+dataSize))
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], wavFormatPCM)
	binary.LittleEndian.PutUint16(hdr[22:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], uint32(sampleRate))
	binary.LittleEndian.PutUint32(hdr[28:], uint32(sampleRate*2))
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], uint32(dataSize))
	if _, err := w.Write(hdr[:]); err != nil {
		return fmt.Errorf("wav header: %w", err)
	}
	buf := make([]byte, 8192)
	for len(samples) > 0 {
		n := EncodePCM16To(buf, samples)
		samples = samples[n/2:]
		if _, err := w.Write(buf[:n]); err != nil {
			return fmt.Errorf("wav data: %w", err)
		}
	}
	return nil
}

// wavSkip discards n bytes of r.
func wavSkip(r io.Reader, n int64, what string) error {
	if n <= 0 {
		return nil
	}
	m, err := io.CopyN(io.Discard, r, n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s truncated at %d of %d bytes", ErrInvalidWAV, what, m, n)
		}
		return fmt.Errorf("wav %s: %w", what, err)
	}
	return nil
}

// wavReadErr classifies a failed header read: running out of input means a
// truncated file, anything else is the reader's own error.
func wavReadErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated %s", ErrInvalidWAV, what)
	}
	return fmt.Errorf("wav %s: %w", what, err)
}
