//go:build silero

package silero

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The speech file media/vad's BenchmarkProcess20ms8k feeds.
const benchFile = "../testdata/speech1_white12.wav"

func benchSamples(b *testing.B) []int16 {
	s, rate, err := readWAV(benchFile)
	if err != nil {
		b.Fatal(err)
	}
	if rate != SampleRate {
		b.Fatalf("%s: %d Hz", benchFile, rate)
	}
	return s
}

// BenchmarkProcess20ms8k is media/vad's benchmark of the same name for
// Silero: ns/op is the cost of 20 ms of audio (on average 0.625 of a model
// run, since a chunk is 32 ms), on one thread:
//
//	go test -tags silero -run '^$' -bench .
func BenchmarkProcess20ms8k(b *testing.B) {
	m := openModel(b)
	defer m.Close()
	samples := benchSamples(b)
	frames := len(samples) / frameLen
	d, err := m.NewDetector(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	b.SetBytes(2 * frameLen)
	i := 0
	for b.Loop() {
		if _, err := d.Process(samples[i*frameLen : (i+1)*frameLen]); err != nil {
			b.Fatal(err)
		}
		if i++; i == frames {
			i = 0
		}
	}
}

// BenchmarkChunk32ms8k is one model run: 256 samples.
func BenchmarkChunk32ms8k(b *testing.B) {
	m := openModel(b)
	defer m.Close()
	samples := benchSamples(b)
	chunks := len(samples) / ChunkSamples
	s, err := m.NewStream()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	probs := make([]float32, 0, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if probs, err = s.Push(samples[i*ChunkSamples:(i+1)*ChunkSamples], probs[:0]); err != nil {
			b.Fatal(err)
		}
		if i++; i == chunks {
			i = 0
		}
	}
}

// BenchmarkProcess20ms8kParallel runs one Detector a goroutine on the shared
// session (GOMAXPROCS goroutines): ns/op over all cores, so the calls a core
// can carry are 20 ms / (ns/op * GOMAXPROCS).
func BenchmarkProcess20ms8kParallel(b *testing.B) {
	m := openModel(b)
	defer m.Close()
	samples := benchSamples(b)
	frames := len(samples) / frameLen
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d, err := m.NewDetector(DefaultConfig())
		if err != nil {
			b.Error(err)
			return
		}
		defer d.Close()
		i := 0
		for pb.Next() {
			if _, err := d.Process(samples[i*frameLen : (i+1)*frameLen]); err != nil {
				b.Error(err)
				return
			}
			if i++; i == frames {
				i = 0
			}
		}
	})
}

// rssBytes is the process's resident set (VmRSS), 0 if unknown.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestMemoryPerStream logs what a call costs in memory: the tensor data of a
// Stream, the Go heap and resident set that 1000 detectors (each run over
// a second of speech) add, and what one more session adds.
func TestMemoryPerStream(t *testing.T) {
	m := openModel(t)
	defer m.Close()
	samples, _, err := readWAV(benchFile)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	rss0 := rssBytes()
	ds := make([]*Detector, n)
	for i := range ds {
		if ds[i], err = m.NewDetector(DefaultConfig()); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 50; f++ {
			if _, err := ds[i].Process(samples[f*frameLen : (f+1)*frameLen]); err != nil {
				t.Fatal(err)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	rss1 := rssBytes()
	t.Logf("per stream: %d B of tensor data (input+context, 2 states, sr, output); %d detectors added %d B of Go heap (%d B each) and %d kB of RSS (%d B each)",
		StateBytes(), n, int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc), (int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/n,
		(rss1-rss0)>>10, (rss1-rss0)/n)
	for _, d := range ds {
		d.Close()
	}
	runtime.KeepAlive(ds)

	rss2 := rssBytes()
	m2, err := OpenFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	d, err := m2.NewDetector(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Process(samples[:frameLen*2]); err != nil {
		t.Fatal(err)
	}
	t.Logf("one more session (shared by all calls of a process): %d kB of RSS; process RSS now %d MB", (rssBytes()-rss2)>>10, rssBytes()>>20)
}
