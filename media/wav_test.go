package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"testing/iotest"
)

// wavTestChunk is one RIFF chunk of a hand-built file. declared, when set,
// replaces the true size in the chunk header.
type wavTestChunk struct {
	id       string
	body     []byte
	declared *uint32
}

func wavTestSize(n uint32) *uint32 { return &n }

// wavTestFile assembles a RIFF/WAVE file, padding odd chunks as RIFF requires.
func wavTestFile(chunks ...wavTestChunk) []byte {
	var body bytes.Buffer
	body.WriteString("WAVE")
	for _, c := range chunks {
		size := uint32(len(c.body))
		if c.declared != nil {
			size = *c.declared
		}
		body.WriteString(c.id)
		_ = binary.Write(&body, binary.LittleEndian, size)
		body.Write(c.body)
		if len(c.body)%2 == 1 && c.id != "data" {
			body.WriteByte(0)
		}
	}
	var f bytes.Buffer
	f.WriteString("RIFF")
	_ = binary.Write(&f, binary.LittleEndian, uint32(body.Len()))
	f.Write(body.Bytes())
	return f.Bytes()
}

// wavTestFmt is a "fmt " chunk of 16 bytes (WAVEFORMAT with bits).
func wavTestFmt(tag, channels, rate, bits int) wavTestChunk {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b[0:], uint16(tag))
	binary.LittleEndian.PutUint16(b[2:], uint16(channels))
	binary.LittleEndian.PutUint32(b[4:], uint32(rate))
	align := channels * bits / 8
	binary.LittleEndian.PutUint32(b[8:], uint32(rate*align))
	binary.LittleEndian.PutUint16(b[12:], uint16(align))
	binary.LittleEndian.PutUint16(b[14:], uint16(bits))
	return wavTestChunk{id: "fmt ", body: b}
}

// wavTestExtensible is a 40-byte WAVE_FORMAT_EXTENSIBLE "fmt " chunk.
func wavTestExtensible(sub, channels, rate, bits int) wavTestChunk {
	c := wavTestFmt(0xFFFE, channels, rate, bits)
	ext := make([]byte, 24)
	binary.LittleEndian.PutUint16(ext[0:], 22)           // cbSize
	binary.LittleEndian.PutUint16(ext[2:], uint16(bits)) // valid bits
	binary.LittleEndian.PutUint16(ext[8:], uint16(sub))  // GUID, first two bytes
	copy(ext[10:], "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71")
	c.body = append(c.body, ext...)
	return c
}

func wavTestPCM(samples ...int16) []byte {
	b := make([]byte, 2*len(samples))
	EncodePCM16To(b, samples)
	return b
}

func TestWAVRoundTrip(t *testing.T) {
	tone := codecTestTone(22050, 440, 0.5, 0.5)
	tone = append(tone, math.MaxInt16, math.MinInt16, 0)
	var buf bytes.Buffer
	if err := WriteWAV(&buf, 22050, tone); err != nil {
		t.Fatal(err)
	}
	if want := 44 + 2*len(tone); buf.Len() != want {
		t.Errorf("file is %d bytes, want %d", buf.Len(), want)
	}
	got, rate, err := ReadWAV(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if rate != 22050 {
		t.Errorf("rate = %d, want 22050", rate)
	}
	if len(got) != len(tone) {
		t.Fatalf("read %d samples, want %d", len(got), len(tone))
	}
	for i := range got {
		if got[i] != tone[i] {
			t.Fatalf("sample %d = %d, want %d", i, got[i], tone[i])
		}
	}
}

func TestReadWAV(t *testing.T) {
	stereo := wavTestPCM(1000, 3000, -100, -300, math.MaxInt16, math.MaxInt16, math.MinInt16, math.MinInt16)
	tests := []struct {
		name     string
		file     []byte
		want     []int16
		wantRate int
	}{
		{
			name:     "mono PCM16",
			file:     wavTestFile(wavTestFmt(1, 1, 16000, 16), wavTestChunk{id: "data", body: wavTestPCM(1, -2, 3)}),
			want:     []int16{1, -2, 3},
			wantRate: 16000,
		},
		{
			name:     "stereo PCM16 is mixed down to mono",
			file:     wavTestFile(wavTestFmt(1, 2, 24000, 16), wavTestChunk{id: "data", body: stereo}),
			want:     []int16{2000, -200, math.MaxInt16, math.MinInt16},
			wantRate: 24000,
		},
		{
			name:     "mu-law",
			file:     wavTestFile(wavTestFmt(7, 1, 8000, 8), wavTestChunk{id: "data", body: []byte{0xFF, 0x80, 0x00}}),
			want:     []int16{0, 32124, -32124},
			wantRate: 8000,
		},
		{
			name:     "stereo A-law",
			file:     wavTestFile(wavTestFmt(6, 2, 8000, 8), wavTestChunk{id: "data", body: []byte{0xD5, 0x55, 0xAA, 0xAA}}),
			want:     []int16{0, 32256},
			wantRate: 8000,
		},
		{
			name: "LIST and odd-sized chunks around fmt are skipped",
			file: wavTestFile(
				wavTestChunk{id: "LIST", body: []byte("INFOISFT\x05\x00\x00\x00Lavf\x00")},
				wavTestFmt(1, 1, 48000, 16),
				wavTestChunk{id: "fact", body: []byte{1, 2, 3}},
				wavTestChunk{id: "data", body: wavTestPCM(7, 8)},
			),
			want:     []int16{7, 8},
			wantRate: 48000,
		},
		{
			name: "fmt chunk longer than 16 bytes",
			file: wavTestFile(
				wavTestChunk{id: "fmt ", body: append(wavTestFmt(1, 1, 8000, 16).body, 0, 0)},
				wavTestChunk{id: "data", body: wavTestPCM(5)},
			),
			want:     []int16{5},
			wantRate: 8000,
		},
		{
			name:     "WAVE_FORMAT_EXTENSIBLE with PCM sub-format",
			file:     wavTestFile(wavTestExtensible(1, 1, 16000, 16), wavTestChunk{id: "data", body: wavTestPCM(-9)}),
			want:     []int16{-9},
			wantRate: 16000,
		},
		{
			name:     "espeak-ng --stdout streaming size 0x7FFFF000 reads to EOF",
			file:     wavTestFile(wavTestFmt(1, 1, 22050, 16), wavTestChunk{id: "data", body: wavTestPCM(1, 2, 3, 4), declared: wavTestSize(0x7FFFF000)}),
			want:     []int16{1, 2, 3, 4},
			wantRate: 22050,
		},
		{
			name:     "streaming size 0xFFFFFFFF reads to EOF",
			file:     wavTestFile(wavTestFmt(1, 1, 22050, 16), wavTestChunk{id: "data", body: wavTestPCM(1, 2), declared: wavTestSize(0xFFFFFFFF)}),
			want:     []int16{1, 2},
			wantRate: 22050,
		},
		{
			name:     "streaming size 0 reads to EOF, dropping a partial sample",
			file:     append(wavTestFile(wavTestFmt(1, 1, 22050, 16), wavTestChunk{id: "data", body: wavTestPCM(6), declared: wavTestSize(0)}), 0x01),
			want:     []int16{6},
			wantRate: 22050,
		},
		{
			name:     "an empty data chunk",
			file:     wavTestFile(wavTestFmt(1, 1, 8000, 16), wavTestChunk{id: "data"}),
			want:     []int16{},
			wantRate: 8000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader proves the parser copes with short reads.
			got, rate, err := ReadWAV(iotest.OneByteReader(bytes.NewReader(tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if rate != tt.wantRate {
				t.Errorf("rate = %d, want %d", rate, tt.wantRate)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestReadWAVHeaderStopsAtTheData(t *testing.T) {
	data := wavTestPCM(10, 20, 30)
	file := wavTestFile(
		wavTestChunk{id: "LIST", body: []byte("INFO")},
		wavTestFmt(7, 2, 8000, 8),
		wavTestChunk{id: "data", body: data},
	)
	r := bytes.NewReader(file)
	h, err := ReadWAVHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	want := WAVHeader{Format: Format{Encoding: EncodingPCMU, SampleRate: 8000}, Channels: 2, DataSize: int64(len(data))}
	if h != want {
		t.Errorf("header = %+v, want %+v", h, want)
	}
	if h.BlockAlign() != 2 {
		t.Errorf("BlockAlign = %d, want 2", h.BlockAlign())
	}
	rest, _ := io.ReadAll(r)
	if !bytes.Equal(rest, data) {
		t.Errorf("after the header the reader holds % X, want the data % X", rest, data)
	}

	stream := wavTestFile(wavTestFmt(1, 1, 22050, 16), wavTestChunk{id: "data", declared: wavTestSize(0x7FFFF000)})
	h, err = ReadWAVHeader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if h.DataSize != -1 {
		t.Errorf("streaming header DataSize = %d, want -1", h.DataSize)
	}
}

func TestReadWAVRejectsBadFiles(t *testing.T) {
	good := wavTestFile(wavTestFmt(1, 1, 8000, 16), wavTestChunk{id: "data", body: wavTestPCM(1, 2, 3, 4)})
	tests := []struct {
		name string
		file []byte
	}{
		{"empty input", nil},
		{"only the RIFF tag", []byte("RIFF")},
		{"not RIFF", append([]byte("RIFX"), good[4:]...)},
		{"not WAVE", append(append([]byte{}, good[:8]...), append([]byte("AVI "), good[12:]...)...)},
		{"cut inside the fmt chunk", good[:30]},
		{"no data chunk", wavTestFile(wavTestFmt(1, 1, 8000, 16))},
		{"data before fmt", wavTestFile(wavTestChunk{id: "data", body: wavTestPCM(1)}, wavTestFmt(1, 1, 8000, 16))},
		{"fmt chunk too short", wavTestFile(wavTestChunk{id: "fmt ", body: make([]byte, 14)}, wavTestChunk{id: "data"})},
		{"24-bit PCM", wavTestFile(wavTestFmt(1, 1, 8000, 24), wavTestChunk{id: "data", body: make([]byte, 6)})},
		{"8-bit PCM", wavTestFile(wavTestFmt(1, 1, 8000, 8), wavTestChunk{id: "data", body: make([]byte, 6)})},
		{"IEEE float", wavTestFile(wavTestFmt(3, 1, 8000, 32), wavTestChunk{id: "data", body: make([]byte, 8)})},
		{"16-bit mu-law", wavTestFile(wavTestFmt(7, 1, 8000, 16), wavTestChunk{id: "data", body: make([]byte, 8)})},
		{"three channels", wavTestFile(wavTestFmt(1, 3, 8000, 16), wavTestChunk{id: "data", body: make([]byte, 6)})},
		{"zero channels", wavTestFile(wavTestFmt(1, 0, 8000, 16), wavTestChunk{id: "data", body: make([]byte, 6)})},
		{"zero sample rate", wavTestFile(wavTestFmt(1, 1, 0, 16), wavTestChunk{id: "data", body: make([]byte, 6)})},
		{"extensible fmt cut short", wavTestFile(wavTestChunk{id: "fmt ", body: wavTestExtensible(1, 1, 8000, 16).body[:30]}, wavTestChunk{id: "data"})},
		{"data shorter than declared", wavTestFile(wavTestFmt(1, 1, 8000, 16), wavTestChunk{id: "data", body: wavTestPCM(1, 2), declared: wavTestSize(100)})},
		{"data larger than 64 MiB", wavTestFile(wavTestFmt(1, 1, 8000, 16), wavTestChunk{id: "data", declared: wavTestSize(65 << 20)})},
		{"LIST chunk runs past the end", wavTestFile(wavTestChunk{id: "LIST", body: []byte("INFO"), declared: wavTestSize(1 << 20)})},
		{"LIST chunk larger than the cap", wavTestFile(wavTestChunk{id: "LIST", declared: wavTestSize(0x7FFFFFFF)})},
		{"garbage", []byte("this is not audio at all, just text that goes on")},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is an invalid WAV", func(t *testing.T) {
			_, _, err := ReadWAV(bytes.NewReader(tt.file))
			if !errors.Is(err, ErrInvalidWAV) {
				t.Errorf("error = %v, want ErrInvalidWAV", err)
			}
		})
	}
}

func TestReadWAVPassesReaderErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	_, _, err := ReadWAV(iotest.ErrReader(boom))
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalidWAV) {
		t.Errorf("error = %v, want the reader's error, not ErrInvalidWAV", err)
	}
}

func TestWriteWAVRejectsBadRate(t *testing.T) {
	if err := WriteWAV(io.Discard, 0, []int16{1}); !errors.Is(err, ErrInvalidWAV) {
		t.Errorf("error = %v, want ErrInvalidWAV", err)
	}
}

func TestWriteWAVHeaderBytes(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteWAV(&buf, 8000, []int16{0x0102}); err != nil {
		t.Fatal(err)
	}
	want := []byte("RIFF\x26\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1F\x00\x00\x80\x3E\x00\x00\x02\x00\x10\x00data\x02\x00\x00\x00\x02\x01")
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got\n% X\nwant\n% X", buf.Bytes(), want)
	}
}

// FuzzReadWAV checks that no input makes the parser panic or return samples
// that contradict its header. The seed corpus is in testdata/fuzz/FuzzReadWAV.
func FuzzReadWAV(f *testing.F) {
	f.Add(wavTestFile(wavTestFmt(1, 1, 8000, 16), wavTestChunk{id: "data", body: wavTestPCM(1, 2, 3)}))
	f.Add(wavTestFile(wavTestFmt(7, 2, 8000, 8), wavTestChunk{id: "data", body: []byte{1, 2, 3}}))
	f.Add(wavTestFile(wavTestChunk{id: "LIST", body: []byte("INFO")}, wavTestExtensible(6, 1, 8000, 8), wavTestChunk{id: "data", body: []byte{0xD5}, declared: wavTestSize(0x7FFFF000)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, herr := ReadWAVHeader(bytes.NewReader(data))
		samples, rate, err := ReadWAV(bytes.NewReader(data))
		if (herr == nil) != (err == nil) && !errors.Is(err, ErrInvalidWAV) {
			t.Fatalf("header error %v but ReadWAV error %v", herr, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidWAV) {
				t.Fatalf("error %v does not wrap ErrInvalidWAV", err)
			}
			return
		}
		if rate != h.Format.SampleRate || rate <= 0 {
			t.Fatalf("rate %d, header says %d", rate, h.Format.SampleRate)
		}
		if len(samples)*h.Format.Encoding.BytesPerSample()*h.Channels > len(data) {
			t.Fatalf("%d samples from %d bytes", len(samples), len(data))
		}
	})
}
