package rtc

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iace/iace/media"
)

func TestByteRingKeepsOrderAcrossTheWrapAndRefusesWhatDoesNotFit(t *testing.T) {
	r := newByteRing(10) // 16 bytes
	if len(r.buf) != 16 {
		t.Fatalf("size %d, want the power of two above 10", len(r.buf))
	}
	out := make([]byte, 16)
	var want, got []byte
	for i := range 20 {
		p := []byte{byte(3 * i), byte(3*i + 1), byte(3*i + 2)}
		if !r.write(p) {
			t.Fatalf("write %d refused with %d bytes queued", i, r.written()-r.r.Load())
		}
		want = append(want, p...)
		n := r.read(out[:4], 2) // whole units of 2 only
		if n%2 != 0 {
			t.Fatalf("read %d bytes: not whole units", n)
		}
		got = append(got, out[:n]...)
	}
	for n := r.read(out, 1); n > 0; n = r.read(out, 1) {
		got = append(got, out[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
	if !r.write(make([]byte, 16)) || r.write([]byte{1}) {
		t.Error("a full ring must take exactly its size")
	}
	r.skipTo(r.written() + 100) // never past what was written
	if n := r.read(out, 1); n != 0 {
		t.Errorf("read %d bytes after skipping all", n)
	}
	if !r.write([]byte{7}) || r.read(out, 1) != 1 || out[0] != 7 {
		t.Error("the ring does not work after a skip")
	}
}

// TestByteRingProducerAndConsumerNeverWait runs both ends at once (run it
// with -race): every byte arrives once, in order, or its write was refused.
func TestByteRingProducerAndConsumerNeverWait(t *testing.T) {
	r := newByteRing(64)
	var wg sync.WaitGroup
	var sent []byte
	wg.Go(func() {
		for i := range 5000 {
			p := []byte{byte(i), byte(i >> 8), byte(i), byte(i >> 8)}
			if r.write(p) {
				sent = append(sent, p...)
			}
		}
	})
	var got []byte
	buf := make([]byte, 8)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	for {
		n := r.read(buf, 4)
		got = append(got, buf[:n]...)
		if n == 0 {
			select {
			case <-done:
				for n := r.read(buf, 4); n > 0; n = r.read(buf, 4) {
					got = append(got, buf[:n]...)
				}
				if !bytes.Equal(got, sent) {
					t.Fatalf("got %d bytes, sent %d: not the same stream", len(got), len(sent))
				}
				return
			default:
			}
		}
	}
}

func TestMixingHalvesEachSideAndCannotClip(t *testing.T) {
	enc := func(v int16) []byte {
		b := make([]byte, pcmuFrame)
		pcm := make([]int16, pcmuFrame)
		for i := range pcm {
			pcm[i] = v
		}
		media.EncodeULawTo(b, pcm)
		return b
	}
	dec := func(b []byte) int16 {
		pcm := make([]int16, pcmuFrame)
		media.DecodeULawTo(pcm, b)
		return pcm[0]
	}
	silence := make([]byte, pcmuFrame)
	media.EncodingPCMU.FillSilence(silence)
	pa, pb, out := make([]int16, pcmuFrame), make([]int16, pcmuFrame), make([]byte, pcmuFrame)
	for _, tc := range []struct {
		name string
		a, b []byte
		lo   int16
		hi   int16
	}{
		{"silence and silence", silence, silence, 0, 0},
		{"one side alone is at half level", enc(16000), silence, 7600, 8400},
		{"two full-scale sides do not wrap", enc(32000), enc(32000), 30000, 32767},
		{"opposite sides cancel", enc(12000), enc(-12000), -200, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mixULaw(out, tc.a, tc.b, pa, pb)
			if v := dec(out); v < tc.lo || v > tc.hi {
				t.Errorf("mixed %d, want %d..%d", v, tc.lo, tc.hi)
			}
			if tc.name == "silence and silence" && !bytes.Equal(out, silence) {
				t.Errorf("silence mixed to %x, want mu-law silence 0xFF", out[:4])
			}
		})
	}
}

// monitorFor is a Monitor of a call in format f that no listener holds:
// its ticks write to unbound tracks, which pion drops.
func monitorFor(t testing.TB, f media.Format) *Monitor {
	t.Helper()
	s := &Server{cfg: DefaultConfig(), metrics: newMetrics(nil)}
	call := newFakeCall("m")
	call.format = f
	m, err := newMonitor(s, call)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTheAgentWaitsForTheCallersClockAndABargeInDropsWhatWasNotHeard: the
// pacer's audio sent ahead is played one frame per caller frame; after a
// clear, what was queued and not yet played is never played.
func TestTheAgentWaitsForTheCallersClockAndABargeInDropsWhatWasNotHeard(t *testing.T) {
	m := monitorFor(t, media.PCMU8k)
	agent := make([]byte, 5*pcmuFrame)
	media.EncodeULawTo(agent, tone(1000, 8000, 0, len(agent)))
	caller := make([]byte, pcmuFrame)
	media.EncodingPCMU.FillSilence(caller)
	m.AgentAudio(agent)
	m.AgentAudio(agent) // 200 ms ahead, as the pacer keeps it
	for i := range 3 {
		m.CallerAudio(caller)
		m.pump()
		if rms(decode(m.agentFrame)) < 4000 {
			t.Fatalf("tick %d: the agent frame is not the agent's audio", i)
		}
	}
	m.AgentCleared() // the caller barged in: 7 frames queued will not be heard
	m.CallerAudio(caller)
	m.pump()
	if !bytes.Equal(m.agentFrame, caller) {
		t.Error("audio cleared by a barge-in was still played")
	}
	m.AgentAudio(agent[:pcmuFrame]) // the next reply
	m.CallerAudio(caller)
	m.pump()
	if rms(decode(m.agentFrame)) < 4000 {
		t.Error("audio after the clear was not played")
	}
}

// TestAMonitorConvertsOtherFormatsToPCMU: an L16 16 kHz call is heard as
// PCMU 8 kHz, its tone intact.
func TestAMonitorConvertsOtherFormatsToPCMU(t *testing.T) {
	f := media.Format{Encoding: media.EncodingL16, SampleRate: 16000}
	m := monitorFor(t, f)
	frame := make([]byte, f.FrameBytes())
	var heard []int16
	for i := range 25 {
		media.EncodeL16To(frame, toneAt(500, 16000, i*320, 320))
		m.CallerAudio(frame)
		m.pump()
		heard = append(heard, decode(m.mixFrame)...)
	}
	tail := heard[len(heard)/2:]
	if r := rms(tail); r < 2000 || r > 3500 {
		t.Errorf("mixed RMS %.0f, want about 2830 (the tone at half level)", r)
	}
	if goertzel(tail, 500) < 100*goertzel(tail, 1500) {
		t.Error("the converted tone is not at 500 Hz")
	}
}

func toneAt(freq float64, rate, at, n int) []int16 {
	return tone(freq*8000/float64(rate), 8000, at, n)
}

func decode(b []byte) []int16 {
	pcm := make([]int16, len(b))
	media.DecodeULawTo(pcm, b)
	return pcm
}

// BenchmarkTapCallerAudio is what a listened call's reader pays per frame:
// the copy into the Monitor's ring and the wake-up signal.
func BenchmarkTapCallerAudio(b *testing.B) {
	m := monitorFor(b, media.PCMU8k)
	frame := make([]byte, pcmuFrame)
	out := make([]byte, pcmuFrame)
	b.ReportAllocs()
	for b.Loop() {
		m.CallerAudio(frame)
		m.caller.read(out, 1) // the Monitor's goroutine keeps up
		select {
		case <-m.wake:
		default:
		}
	}
}

// BenchmarkMonitorTick is the Monitor goroutine's work per frame, tracks
// unbound: convert, take the agent's frame, mix.
func BenchmarkMonitorTick(b *testing.B) {
	m := monitorFor(b, media.PCMU8k)
	frame := make([]byte, pcmuFrame)
	b.ReportAllocs()
	for b.Loop() {
		m.CallerAudio(frame)
		m.AgentAudio(frame)
		m.pump()
	}
}

// TestAStalledMonitorNeverHoldsTheCall: with the Monitor's goroutine stuck
// (a listener's trouble), the call's tap calls return at once and what does
// not fit is dropped and counted.
func TestAStalledMonitorNeverHoldsTheCall(t *testing.T) {
	m := monitorFor(t, media.PCMU8k)
	frame := make([]byte, pcmuFrame)
	start := time.Now()
	for range 500 { // ten seconds of call with nobody reading
		m.CallerAudio(frame)
		m.AgentAudio(frame)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("1,000 tap calls took %v", d)
	}
	kept := int(m.caller.written()) / pcmuFrame
	if dropped := int(testutil.ToFloat64(m.srv.metrics.droppedCaller)); dropped != 500-kept || kept == 0 {
		t.Errorf("%d caller frames kept, %d counted dropped, of 500", kept, dropped)
	}
	if dropped := testutil.ToFloat64(m.srv.metrics.droppedAgent); dropped == 0 {
		t.Error("no agent frame counted dropped")
	}
}
