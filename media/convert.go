package media

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// convBlock is how many samples the Converter decodes per step; it bounds the
// scratch buffers, which are allocated once in NewConverter.
const convBlock = 1024

// Converter turns a byte stream of one Format into another: decode, resample,
// encode. It is streaming: a trailing odd byte of a 2-byte encoding is held
// until the next call, and the resampler keeps its history.
//
// A Converter is not safe for concurrent use.
type Converter struct {
	in, out  Format
	rs       *Resampler // nil when the rates are equal
	carry    byte       // first byte of a split 2-byte sample
	hasCarry bool
	pcm      []int16 // decoded input, convBlock samples
	res      []int16 // resampled output scratch
}

// NewConverter returns a converter from in to out. Both formats must pass
// Validate.
func NewConverter(in, out Format) (*Converter, error) {
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("converter input %s: %w", in, err)
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("converter output %s: %w", out, err)
	}
	c := &Converter{in: in, out: out}
	if in == out {
		return c, nil
	}
	c.pcm = make([]int16, convBlock)
	if in.SampleRate != out.SampleRate {
		rs, err := NewResampler(in.SampleRate, out.SampleRate)
		if err != nil {
			return nil, fmt.Errorf("converter %s to %s: %w", in, out, err)
		}
		c.rs = rs
		c.res = make([]int16, 0, max(rs.MaxOut(convBlock), rs.flushMax()))
	}
	return c, nil
}

// String prints the conversion, as "PCM16/22050->PCMU/8000".
func (c *Converter) String() string { return c.in.String() + "->" + c.out.String() }

// Convert converts src, appends the result to dst and returns it. When the
// formats are equal it appends src unchanged. It does not allocate once dst has
// room for the output.
func (c *Converter) Convert(dst, src []byte) []byte {
	if c.in == c.out {
		return append(dst, src...)
	}
	if c.in.Encoding.BytesPerSample() == 2 {
		if c.hasCarry && len(src) > 0 {
			pair := [2]byte{c.carry, src[0]}
			c.hasCarry = false
			src = src[1:]
			n := DecodeTo(c.pcm, pair[:], c.in.Encoding)
			dst = c.emit(dst, c.pcm[:n])
		}
		if len(src)%2 == 1 {
			c.carry, c.hasCarry = src[len(src)-1], true
			src = src[:len(src)-1]
		}
	}
	bps := c.in.Encoding.BytesPerSample()
	for len(src) > 0 {
		n := DecodeTo(c.pcm, src, c.in.Encoding)
		src = src[n*bps:]
		dst = c.emit(dst, c.pcm[:n])
	}
	return dst
}

// Flush appends the resampler's tail and resets the converter for a new
// stream. A held odd byte, half a sample, is dropped.
func (c *Converter) Flush(dst []byte) []byte {
	c.hasCarry = false
	if c.rs == nil {
		return dst
	}
	c.res = c.rs.Flush(c.res[:0])
	return c.encode(dst, c.res)
}

// emit resamples pcm if needed and appends it encoded to dst.
func (c *Converter) emit(dst []byte, pcm []int16) []byte {
	if c.rs != nil {
		c.res = c.rs.Process(c.res[:0], pcm)
		pcm = c.res
	}
	return c.encode(dst, pcm)
}

func (c *Converter) encode(dst []byte, pcm []int16) []byte {
	n := len(pcm) * c.out.Encoding.BytesPerSample()
	dst = slices.Grow(dst, n)
	m := EncodeTo(dst[len(dst):len(dst)+n], pcm, c.out.Encoding)
	return dst[:len(dst)+m]
}

// convReadChunk is how much of its source a ConvertReader reads at a time.
const convReadChunk = 4096

// convMaxEmptyReads is how many reads in a row may return nothing before a
// ConvertReader gives up with io.ErrNoProgress, as bufio does.
const convMaxEmptyReads = 100

// ConvertReader reads a stream of one Format from a source and yields it in
// another, converted as it is read: the audio of each read of the source is
// readable as soon as that read returns. The synthesizers use it to hand the
// session their engine's audio in the call's format.
//
// When the source ends with io.EOF (or an error wrapping it) the converter is
// flushed, its tail read, and then Read returns io.EOF. Another error of the
// source is returned as it is once the audio converted before it has been
// read, without the tail; so is every later Read. When the Converter's two
// formats are equal, Read is the source's Read.
//
// A ConvertReader is not safe for concurrent use.
type ConvertReader struct {
	src     io.Reader
	conv    *Converter
	raw     []byte // one read of the source
	out     []byte // converted audio; out[pos:] is not yet read
	pos     int
	err     error // sticky: io.EOF or the source's error
	through bool  // the formats are equal: reads pass through
}

// NewConvertReader returns a reader of src through c, which it owns from then
// on: src is read in c's input format, Read returns c's output format.
func NewConvertReader(src io.Reader, c *Converter) *ConvertReader {
	r := &ConvertReader{src: src, conv: c, through: c.in == c.out}
	if !r.through {
		r.raw = make([]byte, convReadChunk)
	}
	return r
}

// String prints the conversion, as Converter does.
func (r *ConvertReader) String() string { return r.conv.String() }

// Read fills p with converted audio.
func (r *ConvertReader) Read(p []byte) (int, error) {
	if r.through {
		return r.src.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	for empty := 0; r.pos == len(r.out); {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.src.Read(r.raw)
		r.out, r.pos = r.conv.Convert(r.out[:0], r.raw[:n]), 0
		switch {
		case errors.Is(err, io.EOF):
			r.out, r.err = r.conv.Flush(r.out), io.EOF
		case err != nil:
			r.err = err
		case n == 0:
			if empty++; empty == convMaxEmptyReads {
				r.err = io.ErrNoProgress
			}
		}
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}
