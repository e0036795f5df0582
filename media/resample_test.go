package media

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var resampleTestRates = []int{8000, 16000, 22050, 24000, 48000}

// codecTestTone returns seconds of a sine of freq Hz at rate, with the given
// amplitude as a fraction of full scale, sample n at time n/rate.
func codecTestTone(rate int, freq, amp, seconds float64) []int16 {
	out := make([]int16, int(float64(rate)*seconds))
	for n := range out {
		out[n] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*freq*float64(n)/float64(rate))))
	}
	return out
}

// codecTestSNR measures got against the ideal sine (freq Hz, amplitude amp of
// full scale, zero phase at sample 0) at rate, skipping skip samples at both
// ends where the tone starts and stops. It returns the ratio in dB.
func codecTestSNR(got []int16, rate int, freq, amp float64, skip int) float64 {
	var sig, noise float64
	for n := skip; n < len(got)-skip; n++ {
		want := amp * 32767 * math.Sin(2*math.Pi*freq*float64(n)/float64(rate))
		d := float64(got[n]) - want
		sig += want * want
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}

// codecTestRMS is the root mean square of s without skip samples at both ends.
func codecTestRMS(s []int16, skip int) float64 {
	var sum float64
	for _, v := range s[skip : len(s)-skip] {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)-2*skip))
}

// resampleTestChunked runs src through r in 20 ms chunks and flushes.
func resampleTestChunked(t *testing.T, r *Resampler, src []int16, inRate int) []int16 {
	t.Helper()
	chunk := inRate / 50
	var out []int16
	for len(src) > 0 {
		c := min(chunk, len(src))
		before := len(out)
		out = r.Process(out, src[:c])
		if got, bound := len(out)-before, r.MaxOut(c); got > bound {
			t.Fatalf("Process appended %d samples for %d, MaxOut says at most %d", got, c, bound)
		}
		src = src[c:]
	}
	return r.Flush(out)
}

// TestResamplerSineSNR feeds a half-scale sine in 20 ms chunks and compares
// the output with the ideal sine at the output rate. The filter delay is
// compensated inside the Resampler, so the ideal sine has the same phase.
func TestResamplerSineSNR(t *testing.T) {
	const (
		amp     = 0.5
		seconds = 3
		minSNR  = 40
	)
	for _, in := range resampleTestRates {
		for _, out := range resampleTestRates {
			if in == out {
				continue
			}
			for _, freq := range []float64{440, 1000, 3000} {
				t.Run(fmt.Sprintf("%d Hz sine from %d to %d Hz keeps %d dB SNR", int(freq), in, out, minSNR), func(t *testing.T) {
					t.Parallel()
					r, err := NewResampler(in, out)
					if err != nil {
						t.Fatal(err)
					}
					got := resampleTestChunked(t, r, codecTestTone(in, freq, amp, seconds), in)
					if want := seconds * out; len(got) != want {
						t.Errorf("got %d samples, want %d", len(got), want)
					}
					// Skip the start and end transients: a few filter lengths.
					skip := out / 20
					snr := codecTestSNR(got, out, freq, amp, skip)
					t.Logf("%5d -> %5d Hz, %4.0f Hz tone: SNR %.1f dB (latency %.1f samples)", in, out, freq, snr, r.delay())
					if snr < minSNR {
						t.Errorf("SNR %.1f dB, want >= %d dB", snr, minSNR)
					}
				})
			}
		}
	}
}

func TestResamplerRoundTrip8kTo16kTo8k(t *testing.T) {
	for _, freq := range []float64{440, 1000} {
		up, err := NewResampler(8000, 16000)
		if err != nil {
			t.Fatal(err)
		}
		down, err := NewResampler(16000, 8000)
		if err != nil {
			t.Fatal(err)
		}
		wide := resampleTestChunked(t, up, codecTestTone(8000, freq, 0.5, 3), 8000)
		got := resampleTestChunked(t, down, wide, 16000)
		if len(got) != 3*8000 {
			t.Errorf("got %d samples, want %d", len(got), 3*8000)
		}
		snr := codecTestSNR(got, 8000, freq, 0.5, 400)
		t.Logf("8000 -> 16000 -> 8000 Hz, %4.0f Hz tone: SNR %.1f dB", freq, snr)
		if snr < 40 {
			t.Errorf("%v Hz: SNR %.1f dB, want >= 40 dB", freq, snr)
		}
	}
}

// TestResamplerAntiAliasing sends tones above the output Nyquist frequency:
// unfiltered, they would fold back into the band (6 kHz at 8 kHz reads as
// 2 kHz). They must come out at least 40 dB down.
func TestResamplerAntiAliasing(t *testing.T) {
	tests := []struct {
		in, out int
		freq    float64
	}{
		{16000, 8000, 6000},
		{16000, 8000, 4200},
		{22050, 8000, 7000},
		{24000, 8000, 7000},
		{48000, 8000, 7000},
		{48000, 8000, 20000},
		{48000, 16000, 9000},
		{24000, 22050, 11500},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d Hz tone from %d to %d Hz is attenuated 40 dB", int(tt.freq), tt.in, tt.out), func(t *testing.T) {
			t.Parallel()
			r, err := NewResampler(tt.in, tt.out)
			if err != nil {
				t.Fatal(err)
			}
			src := codecTestTone(tt.in, tt.freq, 0.5, 2)
			got := resampleTestChunked(t, r, src, tt.in)
			inRMS := codecTestRMS(src, tt.in/20)
			outRMS := codecTestRMS(got, tt.out/20)
			if outRMS == 0 {
				t.Logf("%5d Hz tone %5d -> %5d Hz: output is digital silence", int(tt.freq), tt.in, tt.out)
				return
			}
			att := 20 * math.Log10(inRMS/outRMS)
			t.Logf("%5d Hz tone %5d -> %5d Hz: attenuated %.1f dB (output RMS %.2f LSB)", int(tt.freq), tt.in, tt.out, att, outRMS)
			if att < 40 {
				t.Errorf("attenuation %.1f dB, want >= 40 dB", att)
			}
		})
	}
}

// TestResamplerImageRejection upsamples a tone; the images the zero-stuffing
// creates above the input Nyquist frequency must be filtered out, which the
// SNR against the pure tone measures.
func TestResamplerImageRejection(t *testing.T) {
	r, err := NewResampler(8000, 48000)
	if err != nil {
		t.Fatal(err)
	}
	got := resampleTestChunked(t, r, codecTestTone(8000, 3300, 0.5, 2), 8000)
	snr := codecTestSNR(got, 48000, 3300, 0.5, 2400)
	t.Logf("3300 Hz tone 8000 -> 48000 Hz: SNR %.1f dB", snr)
	if snr < 40 {
		t.Errorf("SNR %.1f dB, want >= 40 dB", snr)
	}
}

func TestResamplerChunkedEqualsOneShot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]int16, 12000)
	for i := range src {
		src[i] = int16(rng.IntN(40000) - 20000)
	}
	for _, in := range resampleTestRates {
		for _, out := range resampleTestRates {
			t.Run(fmt.Sprintf("%d to %d Hz in random chunks equals one shot", in, out), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(uint64(in), uint64(out)))
				one, err := NewResampler(in, out)
				if err != nil {
					t.Fatal(err)
				}
				want := one.Flush(one.Process(nil, src))

				r, err := NewResampler(in, out)
				if err != nil {
					t.Fatal(err)
				}
				var got []int16
				for rest := src; len(rest) > 0; {
					c := min(1+rng.IntN(1500), len(rest))
					before := len(got)
					got = r.Process(got, rest[:c])
					if n, bound := len(got)-before, r.MaxOut(c); n > bound {
						t.Fatalf("Process appended %d samples for %d, MaxOut says at most %d", n, c, bound)
					}
					rest = rest[c:]
				}
				before := len(got)
				got = r.Flush(got)
				if n, bound := len(got)-before, r.flushMax(); n > bound {
					t.Errorf("Flush appended %d samples, flushMax says at most %d", n, bound)
				}
				if len(got) != len(want) {
					t.Fatalf("chunked gave %d samples, one shot %d", len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("sample %d: chunked %d, one shot %d", i, got[i], want[i])
					}
				}
				if wantLen := (len(src)*out + in - 1) / in; len(got) != wantLen {
					t.Errorf("got %d samples for %d, want %d", len(got), len(src), wantLen)
				}
			})
		}
	}
}

func TestResamplerFlushResets(t *testing.T) {
	r, err := NewResampler(22050, 8000)
	if err != nil {
		t.Fatal(err)
	}
	src := codecTestTone(22050, 440, 0.5, 0.5)
	first := r.Flush(r.Process(nil, src))
	second := r.Flush(r.Process(nil, src))
	if len(first) != len(second) {
		t.Fatalf("second stream gave %d samples, first %d", len(second), len(first))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("sample %d differs after Flush: %d vs %d", i, second[i], first[i])
		}
	}
	if n := len(r.Flush(nil)); n != 0 {
		t.Errorf("Flush of an empty stream gave %d samples", n)
	}
}

func TestResamplerSameRateCopies(t *testing.T) {
	r, err := NewResampler(16000, 16000)
	if err != nil {
		t.Fatal(err)
	}
	src := []int16{1, -2, 3, math.MaxInt16}
	got := r.Flush(r.Process(nil, src))
	if fmt.Sprint(got) != fmt.Sprint(src) {
		t.Errorf("got %v, want %v", got, src)
	}
	if r.MaxOut(7) != 7 {
		t.Errorf("MaxOut(7) = %d, want 7", r.MaxOut(7))
	}
}

func TestResamplerSaturatesInsteadOfWrapping(t *testing.T) {
	// A full-scale square wave overshoots (Gibbs); the output must clip,
	// never wrap to the opposite sign.
	src := make([]int16, 4000)
	for i := range src {
		if (i/20)%2 == 0 {
			src[i] = math.MaxInt16
		} else {
			src[i] = math.MinInt16
		}
	}
	r, err := NewResampler(16000, 8000)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Flush(r.Process(nil, src))
	for i := 100; i < len(got)-100; i++ {
		if i%20 < 2 || i%20 > 8 && i%20 < 12 || i%20 > 18 {
			continue // near the edges the signal legitimately crosses zero
		}
		want := src[2*i]
		if (want > 0) != (got[i] > 0) {
			t.Fatalf("sample %d = %d, want the sign of %d", i, got[i], want)
		}
	}
}

func TestNewResamplerRejectsBadRates(t *testing.T) {
	for _, rates := range [][2]int{{0, 8000}, {8000, -1}, {8000, 10_000_000}, {191999, 8000}} {
		if _, err := NewResampler(rates[0], rates[1]); !errors.Is(err, ErrUnsupportedEncoding) {
			t.Errorf("NewResampler(%d, %d) error = %v, want ErrUnsupportedEncoding", rates[0], rates[1], err)
		}
	}
}

func TestResamplerDoesNotAllocate(t *testing.T) {
	for _, in := range resampleTestRates {
		for _, out := range resampleTestRates {
			r, err := NewResampler(in, out)
			if err != nil {
				t.Fatal(err)
			}
			src := codecTestTone(in, 440, 0.5, 0.02)
			dst := make([]int16, 0, r.MaxOut(len(src)))
			allocs := testing.AllocsPerRun(50, func() { dst = r.Process(dst[:0], src) })
			if allocs != 0 {
				t.Errorf("%d -> %d Hz: Process allocates %v times a frame, want 0", in, out, allocs)
			}
		}
	}
}

func BenchmarkResample16kTo8k20ms(b *testing.B) {
	r, err := NewResampler(16000, 8000)
	if err != nil {
		b.Fatal(err)
	}
	src := codecTestTone(16000, 440, 0.5, 0.02)
	dst := make([]int16, 0, r.MaxOut(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		dst = r.Process(dst[:0], src)
	}
}

func BenchmarkResample22050To8k20ms(b *testing.B) {
	r, err := NewResampler(22050, 8000)
	if err != nil {
		b.Fatal(err)
	}
	src := codecTestTone(22050, 440, 0.5, 0.02)
	dst := make([]int16, 0, r.MaxOut(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		dst = r.Process(dst[:0], src)
	}
}
