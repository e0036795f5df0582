package media

import (
	"math"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"
)

// TestEchoRingKeepsTheFarEndsTimeline: audio put at a position reads back
// there, wrapped around the ring; a gap reads as silence, so does what a
// truncate dropped, what was never written and what the ring has since
// overwritten; negative positions (the pacer's clock before its epoch,
// as under a test's fake clock) work as well as positive ones.
func TestEchoRingKeepsTheFarEndsTimeline(t *testing.T) {
	for _, base := range []int64{0, -6_799_429_020_000} {
		r := newEchoRing(PCMU8k, base)
		tone := func(n int, amp int16) ([]int16, []byte) {
			pcm := make([]int16, n)
			for i := range pcm {
				pcm[i] = int16(float64(amp) * math.Sin(float64(i)/3))
			}
			b := make([]byte, n)
			EncodeULawTo(b, pcm)
			DecodeULawTo(pcm, b) // what reads back: G.711 quantizes
			return pcm, b
		}
		a, ab := tone(800, 8000)
		at := base + 8000 - 300 // wraps the 8192-sample ring
		r.put(at, ab)
		got := make([]int16, 1000)
		r.read(got, at-100)
		for i, v := range got {
			want := int16(0)
			if i >= 100 && i < 900 {
				want = a[i-100]
			}
			if v != want {
				t.Fatalf("base %d: sample %d reads %d, want %d", base, i, v, want)
			}
		}
		// A gap of 200 samples, then more audio; a clear 100 samples into it.
		b, bb := tone(400, 3000)
		r.put(at+1000, bb)
		r.truncate(at + 1100)
		r.read(got[:600], at+800)
		for i, v := range got[:600] {
			want := int16(0)
			if i >= 200 && i < 300 {
				want = b[i-200]
			}
			if v != want {
				t.Fatalf("base %d: after the gap and the clear, sample %d reads %d, want %d", base, i, v, want)
			}
		}
		// Far on, the first audio is overwritten: silence, not stale audio.
		r.put(at+20000, bb)
		r.read(got[:800], at)
		for i, v := range got[:800] {
			if v != 0 {
				t.Fatalf("base %d: audio overwritten long ago reads %d at %d, want silence", base, v, i)
			}
		}
	}
}

// TestEchoAudioIsWhatTheFarEndPlays: a playout's EchoAudio reads, at the
// far end's position now, the audio it sent that the far end plays now
// (it plays a second sent at once from the first frame on, the lead
// ahead), and silence again once a clear has dropped what was queued.
func TestEchoAudioIsWhatTheFarEndPlays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t)
		defer p.Close()
		out := &fakeOutput{start: time.Now()}
		pl := p.NewPlayout(out, PCMU8k)
		defer pl.Close()
		frame := make([]int16, 160)
		pl.EchoAudio(frame, pl.EchoPosition()) // from now on the playout keeps what it sends
		pcm := make([]int16, 8000)             // a second of noise: every stretch tells where it is
		r := rand.New(rand.NewPCG(3, 4))
		for i := range pcm {
			pcm[i] = int16(r.IntN(16001) - 8000)
		}
		audio := make([]byte, len(pcm))
		EncodeULawTo(audio, pcm)
		DecodeULawTo(pcm, audio)
		start := pl.EchoPosition()
		pl.Write(pl.Generation(), audio)
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		now := pl.EchoPosition()
		pl.EchoAudio(frame, now-160)
		// The first audio went out on the tick after the write, within a
		// frame of it; so the far end plays sample k of it at about
		// start+k, a frame late at most.
		off := int(now - 160 - start)
		d := findShift(frame, pcm, off)
		t.Logf("the far end plays sample %d of the audio %d samples after it was written", off-d, d)
		if d < 0 || d > 160 {
			t.Errorf("300 ms in, the far end plays the audio %d samples later than written, want within a frame", d)
		}
		pl.Clear()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		pl.EchoAudio(frame, pl.EchoPosition()-160)
		for i, v := range frame {
			if v != 0 {
				t.Fatalf("after a clear, sample %d of what the far end plays is %d, want silence", i, v)
			}
		}
	})
}

// findShift returns the d (0 to 200) for which got matches pcm from off-d
// on, or -1.
func findShift(got, pcm []int16, off int) int {
	for d := 0; d <= 200; d++ {
		i := off - d
		if i < 0 || i+len(got) > len(pcm) {
			continue
		}
		ok := true
		for k, v := range got {
			if v != pcm[i+k] {
				ok = false
				break
			}
		}
		if ok {
			return d
		}
	}
	return -1
}
