package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func TestConverterPCM16ToPCMUKeepsTheTone(t *testing.T) {
	in := Format{Encoding: EncodingPCM16, SampleRate: 22050}
	c, err := NewConverter(in, PCMU8k)
	if err != nil {
		t.Fatal(err)
	}
	for _, freq := range []float64{440, 1000} {
		t.Run(fmt.Sprintf("a %v Hz tone decodes back with 30 dB SNR", freq), func(t *testing.T) {
			tone := codecTestTone(22050, freq, 0.5, 3)
			src := make([]byte, 2*len(tone))
			EncodePCM16To(src, tone)
			var out []byte
			// 20 ms of 22050 Hz PCM16 is 882 bytes.
			for rest := src; len(rest) > 0; {
				n := min(882, len(rest))
				out = c.Convert(out, rest[:n])
				rest = rest[n:]
			}
			out = c.Flush(out)
			if len(out) != 3*8000 {
				t.Errorf("got %d bytes, want %d", len(out), 3*8000)
			}
			pcm := make([]int16, len(out))
			DecodeULawTo(pcm, out)
			// mu-law alone limits a half-scale sine to about 38 dB.
			snr := codecTestSNR(pcm, 8000, freq, 0.5, 400)

			// The same tone made at 8 kHz and mu-law coded: the ceiling.
			direct := codecTestTone(8000, freq, 0.5, 3)
			law := make([]byte, len(direct))
			EncodeULawTo(law, direct)
			DecodeULawTo(direct, law)
			ceiling := codecTestSNR(direct, 8000, freq, 0.5, 400)
			t.Logf("PCM16/22050 -> PCMU/8000, %4.0f Hz tone: SNR %.1f dB (mu-law alone: %.1f dB)", freq, snr, ceiling)
			if snr < 30 {
				t.Errorf("SNR %.1f dB, want >= 30 dB", snr)
			}
		})
	}
}

func TestConverterSplitsGiveTheSameBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]int16, 20000)
	for i := range noise {
		noise[i] = int16(rng.IntN(30000) - 15000)
	}
	tests := []struct {
		in, out Format
	}{
		{Format{EncodingPCM16, 22050}, PCMU8k},
		{Format{EncodingPCM16, 24000}, Format{EncodingPCMA, 8000}},
		{Format{EncodingL16, 16000}, Format{EncodingPCM16, 16000}},
		{Format{EncodingPCM16, 16000}, Format{EncodingL16, 8000}},
		{PCMU8k, Format{EncodingL16, 16000}},
		{PCMU8k, Format{EncodingPCMA, 8000}},
		{Format{EncodingPCM16, 48000}, Format{EncodingPCM16, 48000}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s to %s in odd-sized pieces equals one call", tt.in, tt.out), func(t *testing.T) {
			src := make([]byte, len(noise)*tt.in.Encoding.BytesPerSample())
			EncodeTo(src, noise, tt.in.Encoding)

			one, err := NewConverter(tt.in, tt.out)
			if err != nil {
				t.Fatal(err)
			}
			want := one.Flush(one.Convert(nil, src))

			c, err := NewConverter(tt.in, tt.out)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for rest := src; len(rest) > 0; {
				n := min(1+2*rng.IntN(400), len(rest)) // odd sizes split samples
				got = c.Convert(got, rest[:n])
				rest = rest[n:]
			}
			got = c.Flush(got)
			if !bytes.Equal(got, want) {
				t.Fatalf("split conversion differs: %d bytes vs %d", len(got), len(want))
			}
			wantLen := (len(noise)*tt.out.SampleRate + tt.in.SampleRate - 1) / tt.in.SampleRate * tt.out.Encoding.BytesPerSample()
			if len(got) != wantLen {
				t.Errorf("got %d bytes, want %d", len(got), wantLen)
			}
		})
	}
}

func TestConverterEncodingOnly(t *testing.T) {
	tests := []struct {
		name    string
		in, out Format
		src     []byte
		want    []byte
	}{
		{"mu-law silence becomes zero PCM16", PCMU8k, Format{EncodingPCM16, 8000}, []byte{0xFF, 0xFF}, []byte{0, 0, 0, 0}},
		{"mu-law peak becomes L16 big-endian", PCMU8k, Format{EncodingL16, 8000}, []byte{0x80}, []byte{0x7D, 0x7C}},
		{"PCM16 swaps into L16", Format{EncodingPCM16, 16000}, Format{EncodingL16, 16000}, []byte{0x02, 0x01}, []byte{0x01, 0x02}},
		{"A-law +8 becomes mu-law +8", Format{EncodingPCMA, 8000}, PCMU8k, []byte{0xD5}, []byte{0xFE}},
		{"equal formats copy bytes, odd ones too", Format{EncodingPCM16, 16000}, Format{EncodingPCM16, 16000}, []byte{1, 2, 3}, []byte{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewConverter(tt.in, tt.out)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Flush(c.Convert(nil, tt.src))
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got % X, want % X", got, tt.want)
			}
		})
	}
}

func TestConverterCarriesOddByte(t *testing.T) {
	c, err := NewConverter(Format{EncodingPCM16, 8000}, Format{EncodingL16, 8000})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, b := range []byte{0x02, 0x01, 0x04, 0x03, 0x06} {
		got = c.Convert(got, []byte{b})
	}
	if want := []byte{0x01, 0x02, 0x03, 0x04}; !bytes.Equal(got, want) {
		t.Errorf("got % X, want % X", got, want)
	}
	// Flush drops the half sample; the next stream starts clean.
	got = c.Convert(c.Flush(got[:0]), []byte{0x08, 0x07})
	if want := []byte{0x07, 0x08}; !bytes.Equal(got, want) {
		t.Errorf("after Flush got % X, want % X", got, want)
	}
}

func TestNewConverterRejectsBadFormats(t *testing.T) {
	tests := []struct {
		name    string
		in, out Format
	}{
		{"unknown input encoding", Format{EncodingUnknown, 8000}, PCMU8k},
		{"unsupported output rate", PCMU8k, Format{EncodingPCMU, 11025}},
		{"zero rate", Format{EncodingPCM16, 0}, PCMU8k},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewConverter(tt.in, tt.out); !errors.Is(err, ErrUnsupportedEncoding) {
				t.Errorf("error = %v, want ErrUnsupportedEncoding", err)
			}
		})
	}
}

func TestConverterDoesNotAllocate(t *testing.T) {
	c, err := NewConverter(Format{EncodingPCM16, 22050}, PCMU8k)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]byte, 883) // odd: exercises the carried byte
	EncodePCM16To(src, codecTestTone(22050, 440, 0.5, 0.02))
	dst := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() { dst = c.Convert(dst[:0], src) })
	if allocs != 0 {
		t.Errorf("Convert allocates %v times a frame, want 0", allocs)
	}
}

func BenchmarkConvertPCM16_22050ToPCMU8k20ms(b *testing.B) {
	c, err := NewConverter(Format{EncodingPCM16, 22050}, PCMU8k)
	if err != nil {
		b.Fatal(err)
	}
	src := make([]byte, 882)
	EncodePCM16To(src, codecTestTone(22050, 440, 0.5, 0.02))
	dst := c.Convert(make([]byte, 0, 256), src) // warm up: builds the mu-law table
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		dst = c.Convert(dst[:0], src)
	}
}

// convertAll is the whole of src from in to out in one Convert and Flush.
func convertAll(t *testing.T, in, out Format, src []byte) []byte {
	t.Helper()
	c, err := NewConverter(in, out)
	if err != nil {
		t.Fatal(err)
	}
	return c.Flush(c.Convert(nil, src))
}

func newConvertReader(t *testing.T, src io.Reader, in, out Format) *ConvertReader {
	t.Helper()
	c, err := NewConverter(in, out)
	if err != nil {
		t.Fatal(err)
	}
	return NewConvertReader(src, c)
}

func TestConvertReaderYieldsWhatOneConvertDoes(t *testing.T) {
	in := Format{EncodingPCM16, 22050}
	src := make([]byte, 2*22050+1) // a second, and half a sample the end drops
	EncodePCM16To(src, codecTestTone(22050, 440, 0.5, 1))
	want := convertAll(t, in, PCMU8k, src)
	sources := map[string]func() io.Reader{
		"whole reads":            func() io.Reader { return bytes.NewReader(src) },
		"one byte a read":        func() io.Reader { return iotest.OneByteReader(bytes.NewReader(src)) },
		"half reads":             func() io.Reader { return iotest.HalfReader(bytes.NewReader(src)) },
		"EOF with the last data": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(src)) },
		"an error that wraps EOF": func() io.Reader {
			return io.MultiReader(bytes.NewReader(src), iotest.ErrReader(fmt.Errorf("body: %w", io.EOF)))
		},
		"a few empty reads on the way": func() io.Reader { return &emptyReads{r: bytes.NewReader(src), every: 3} },
	}
	for name, source := range sources {
		t.Run(name, func(t *testing.T) {
			got, err := io.ReadAll(newConvertReader(t, source(), in, PCMU8k))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want the %d of one Convert and Flush", len(got), len(want))
			}
		})
	}
	t.Run("iotest.TestReader", func(t *testing.T) {
		if err := iotest.TestReader(newConvertReader(t, bytes.NewReader(src), in, PCMU8k), want); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reads into small buffers", func(t *testing.T) {
		r := newConvertReader(t, bytes.NewReader(src), in, PCMU8k)
		var got []byte
		p := make([]byte, 7)
		for {
			n, err := r.Read(p)
			got = append(got, p[:n]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, want %d", len(got), len(want))
		}
	})
}

// emptyReads returns (0, nil) before every every-th read of r.
type emptyReads struct {
	r     io.Reader
	every int
	n     int
}

func (e *emptyReads) Read(p []byte) (int, error) {
	if e.n++; e.n%e.every == 0 {
		return 0, nil
	}
	return e.r.Read(p)
}

func TestConvertReaderStopsAtTheSourcesError(t *testing.T) {
	in := Format{EncodingPCM16, 24000}
	src := make([]byte, 4800) // 100 ms
	EncodePCM16To(src, codecTestTone(24000, 440, 0.5, 0.1))
	boom := errors.New("connection reset")
	r := newConvertReader(t, io.MultiReader(bytes.NewReader(src), iotest.ErrReader(boom)), in, PCMU8k)
	got, err := io.ReadAll(r)
	if !errors.Is(err, boom) {
		t.Fatalf("ReadAll = %v, want the source's error", err)
	}
	// What came before the error is there, but not the resampler's tail:
	// the stream did not end, it broke.
	c, _ := NewConverter(in, PCMU8k)
	if want := c.Convert(nil, src); !bytes.Equal(got, want) {
		t.Errorf("read %d bytes before the error, want %d (converted, no tail)", len(got), len(want))
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, boom) {
		t.Errorf("Read after the error = %d, %v; want 0 and the same error", n, err)
	}
}

func TestConvertReaderPassesEqualFormatsThrough(t *testing.T) {
	src := []byte{1, 2, 3, 4, 5}
	r := newConvertReader(t, iotest.DataErrReader(bytes.NewReader(src)), PCMU8k, PCMU8k)
	p := make([]byte, 16)
	if n, err := r.Read(p); n != len(src) || !errors.Is(err, io.EOF) || !bytes.Equal(p[:n], src) {
		t.Errorf("Read = %d, %v, % X; want the source's own read", n, err, p[:n])
	}
}

func TestConvertReaderGivesUpOnASourceThatNeverReads(t *testing.T) {
	r := newConvertReader(t, &emptyReads{r: bytes.NewReader(nil), every: 1}, PCMU8k, Format{EncodingPCM16, 8000})
	if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("Read = %d, %v; want io.ErrNoProgress", n, err)
	}
}

func BenchmarkConvertReaderPCM16_22050ToPCMU8k(b *testing.B) {
	src := make([]byte, 2*22050)
	EncodePCM16To(src, codecTestTone(22050, 440, 0.5, 1))
	c, err := NewConverter(Format{EncodingPCM16, 22050}, PCMU8k)
	if err != nil {
		b.Fatal(err)
	}
	var br bytes.Reader
	r := NewConvertReader(&br, c)
	p := make([]byte, 4096)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(src)
		*r = ConvertReader{src: &br, conv: c, raw: r.raw, out: r.out[:0]}
		for {
			if _, err := r.Read(p); err != nil {
				break
			}
		}
	}
}
