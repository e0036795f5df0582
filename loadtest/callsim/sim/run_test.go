package sim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/iace/iace/media"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pipeRun runs cfg against agent over in-memory pipes. Call it inside a
// synctest bubble: time is then virtual and every latency exact.
func pipeRun(t *testing.T, cfg Config, agent *fakeAgent) Report {
	t.Helper()
	var served sync.WaitGroup
	dial := func(ctx context.Context, _ string) (wsConn, error) {
		client, server := newPipe()
		served.Go(func() { agent.serve(server) })
		return client, nil
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rep, err := run(t.Context(), cfg, dial)
	served.Wait()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rep
}

// Lines without a WAV get the synthetic voice, whose edges the fake agent's
// energy detector agrees with frame for frame.
var syntheticScript = []string{"hello there friend", "tell me the price please", "goodbye now"}

func TestConversationTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := &fakeAgent{}
		rep := pipeRun(t, Config{Script: syntheticScript, Seed: 7, Shards: 1}, agent)

		if rep.CallsCompleted != 1 || len(rep.Calls) != 1 {
			t.Fatalf("calls: %+v", rep.Calls)
		}
		c := rep.Calls[0]
		if c.EndedBy != EndedByServer {
			t.Errorf("ended by %q, want the server's hang-up after goodbye", c.EndedBy)
		}
		if !c.Greeting || c.GreetingLatency != 0 {
			t.Errorf("greeting %v after %v, want at once", c.Greeting, c.GreetingLatency)
		}
		// The agent answers 15 silent frames (300 ms) after the last voiced
		// frame plus its 200 ms think time.
		for i, turn := range c.Turns {
			if !turn.Spoken || !turn.Answered || turn.ReplyLatency != 500*time.Millisecond {
				t.Errorf("turn %d: %+v, want answered after 500ms", i, turn)
			}
		}
		if rep.ReplyLatency.Count != 3 || rep.ReplyLatency.P99 != 500*time.Millisecond {
			t.Errorf("reply latency %+v", rep.ReplyLatency)
		}
		if c.Underruns != 0 || rep.Jitter.Max != 0 {
			t.Errorf("underruns %d, jitter %+v: a lead-paced agent has neither", c.Underruns, rep.Jitter)
		}

		ac := agent.seen()[0]
		if len(ac.Problems) > 0 {
			t.Errorf("protocol problems: %q", ac.Problems)
		}
		if !slices.Equal(ac.Heard, syntheticScript) {
			t.Errorf("agent heard %q, want %q", ac.Heard, syntheticScript)
		}
		// Marks come back when the audio before them has played: within
		// one 20 ms tick of the end of the audio.
		for name, ended := range ac.MarkSent {
			got, ok := ac.Marks[name]
			if !ok {
				t.Errorf("mark %s never echoed", name)
				continue
			}
			if d := got.Sub(ended); d < 0 || d > frameDuration {
				t.Errorf("mark %s echoed %v after its audio ended, want 0-20ms", name, d)
			}
		}
		if ac.StopSeen {
			t.Error("caller sent stop after the server hung up")
		}
	})
}

func TestBargeInAndDTMF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := &fakeAgent{}
		rep := pipeRun(t, Config{Script: syntheticScript, Seed: 3, BargeIn: 1, DTMF: 1, Transfer: 1}, agent)
		c := rep.Calls[0]
		if c.Outcome != OutcomeCompleted {
			t.Fatalf("outcome %s %s %s", c.Outcome, c.Error, c.Detail)
		}
		var barge *Turn
		for i := range c.Turns {
			if c.Turns[i].BargeIn {
				barge = &c.Turns[i]
			}
		}
		if barge == nil || barge.Text != DefaultBargeInText {
			t.Fatalf("no barge-in turn in %+v", c.Turns)
		}
		// The agent clears on the 30th frame of speech: 29 frames after
		// the first.
		if !barge.Cleared || barge.BargeInLatency != 580*time.Millisecond {
			t.Errorf("barge-in %+v, want cleared after 580ms", *barge)
		}
		if rep.BargeInLatency.Count != 1 || rep.BargeIns != 1 || rep.BargeInsClear != 1 {
			t.Errorf("report barge-ins %d/%d %+v", rep.BargeIns, rep.BargeInsClear, rep.BargeInLatency)
		}
		if !c.Transfer || c.Turns[len(c.Turns)-1].Text != DefaultTransferText {
			t.Errorf("transfer call ends with %q", c.Turns[len(c.Turns)-1].Text)
		}
		ac := agent.seen()[0]
		if !slices.Equal(ac.DTMF, []string{"1"}) {
			t.Errorf("agent got DTMF %q, want one 1", ac.DTMF)
		}
		if ac.Clears != 1 || c.Clears != 1 {
			t.Errorf("clears: agent sent %d, caller got %d", ac.Clears, c.Clears)
		}
		if len(ac.Problems) > 0 {
			t.Errorf("protocol problems: %q", ac.Problems)
		}
		wantScript := []string{syntheticScript[0], syntheticScript[1], DefaultTransferText}
		wantScript = slices.Insert(wantScript, slices.Index(ac.Script, DefaultBargeInText), DefaultBargeInText)
		if !slices.Equal(ac.Script, wantScript) || !slices.Equal(ac.Heard, ac.Script) {
			t.Errorf("sim_script %q, heard %q, want %q", ac.Script, ac.Heard, wantScript)
		}
		// Every mark was echoed, the cleared ones at the clear.
		if c.MarksEchoed != c.MarksReceived {
			t.Errorf("echoed %d of %d marks", c.MarksEchoed, c.MarksReceived)
		}
	})
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name  string
		agent *fakeAgent
		cfg   Config
		want  string
	}{
		{"a server that never greets fails the call", &fakeAgent{NoGreeting: true}, Config{GreetingTimeout: 2 * time.Second}, ErrNoGreeting},
		{"a server that hangs up mid-script fails the call", &fakeAgent{CloseAfter: 1}, Config{}, ErrServerClosed},
		{"a server that talks over a barge-in fails the call", &fakeAgent{IgnoreBarge: true, Reply: 4 * time.Second}, Config{BargeIn: 1}, ErrBargeInNoClear},
		{"a server that never answers fails the call", &fakeAgent{ReplyDelay: time.Hour}, Config{ReplyTimeout: 3 * time.Second}, ErrNoReply},
		{"a call longer than its timeout fails", &fakeAgent{}, Config{CallTimeout: 4 * time.Second}, ErrCallTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := tt.cfg
				cfg.Script, cfg.Seed = syntheticScript, 11
				rep := pipeRun(t, cfg, tt.agent)
				c := rep.Calls[0]
				if c.Outcome != OutcomeFailed || c.Error != tt.want {
					t.Errorf("outcome %s %q (%s), want failed %q; turns %+v", c.Outcome, c.Error, c.Detail, tt.want, c.Turns)
				}
				if !rep.Failed() || rep.Errors[tt.want] != 1 {
					t.Errorf("report: failed %v, errors %v", rep.Failed(), rep.Errors)
				}
			})
		})
	}
}

// A server that hangs up while its goodbye is still playing has still
// completed the conversation.
func TestServerHangsUpDuringGoodbye(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := pipeRun(t, Config{Script: syntheticScript}, &fakeAgent{HangUpEarly: true, Bye: 2 * time.Second})
		c := rep.Calls[0]
		if c.Outcome != OutcomeCompleted || c.EndedBy != EndedByServer || !c.Turns[2].Answered {
			t.Errorf("call %s by %s (%s %s), last turn %+v", c.Outcome, c.EndedBy, c.Error, c.Detail, c.Turns[2])
		}
	})
}

func TestDurationReplacesCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := &fakeAgent{Greeting: 200 * time.Millisecond, Reply: 300 * time.Millisecond}
		var snaps []Progress
		var mu sync.Mutex
		rep := pipeRun(t, Config{
			Script: []string{"goodbye now"}, Calls: 3, Duration: 10 * time.Second, Ramp: time.Second, Seed: 5,
			Progress: func(p Progress) { mu.Lock(); snaps = append(snaps, p); mu.Unlock() },
		}, agent)
		// A call lasts about 2.5 s: greeting, line, endpointing, reply,
		// close; 3 slots over 10 s place well over 3 calls.
		if rep.CallsStarted < 9 || rep.CallsCompleted != rep.CallsStarted {
			t.Errorf("started %d, completed %d: %v", rep.CallsStarted, rep.CallsCompleted, rep.Errors)
		}
		if rep.Elapsed > 10*time.Second+5*time.Second {
			t.Errorf("run took %v, want about the 10 s duration", rep.Elapsed)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(snaps) < 15 {
			t.Fatalf("%d progress reports in %v", len(snaps), rep.Elapsed)
		}
		if mid := snaps[len(snaps)/2]; mid.Live != 3 || mid.ReplyP50 == 0 {
			t.Errorf("progress mid-run %+v, want 3 live calls and a reply p50", mid)
		}
	})
}

func TestGraceAbortsLiveCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := &fakeAgent{NoGreeting: true}
		rep := pipeRun(t, Config{
			Script: syntheticScript, Calls: 2, Duration: time.Second, Grace: time.Second, GreetingTimeout: time.Hour,
		}, agent)
		if rep.CallsAborted != 2 || rep.Errors[ErrAborted] != 2 || !rep.Failed() {
			t.Errorf("aborted %d, errors %v", rep.CallsAborted, rep.Errors)
		}
		if rep.Elapsed > 3*time.Second+closeWait {
			t.Errorf("run took %v, want duration + grace", rep.Elapsed)
		}
	})
}

func TestCancelReturnsPartialReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		agent := &fakeAgent{}
		var served sync.WaitGroup
		dial := func(context.Context, string) (wsConn, error) {
			client, server := newPipe()
			served.Go(func() { agent.serve(server) })
			return client, nil
		}
		rep, err := run(ctx, Config{Script: syntheticScript, Calls: 2}.withDefaults(), dial)
		served.Wait()
		if err == nil || rep.CallsAborted != 2 {
			t.Errorf("err %v, aborted %d", err, rep.CallsAborted)
		}
	})
}

// TestLoopback drives the real transport: gorilla WebSockets over loopback
// to a fake agent in an httptest server, with the embedded WAVs, under -race.
func TestLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time conversation; skipped with -short")
	}
	agent := &fakeAgent{Reply: 1500 * time.Millisecond}
	var served sync.WaitGroup
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/media/telnyx" {
			http.NotFound(w, r)
			return
		}
		served.Add(1)
		defer served.Done()
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		agent.serve(wsAgentConn{conn})
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/media/telnyx"

	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"clean network", Config{Calls: 4, BargeIn: 0.5, DTMF: 0.5, Transfer: 0.5, Seed: 42, Ramp: 200 * time.Millisecond}},
		{"lossy bursty network with noise", Config{Calls: 3, Seed: 9, Reorder: 0.05, Dup: 0.05, Loss: 0.01, Burst: true, NoiseDB: -60}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URL = url
			cfg.SaveAudioDir = t.TempDir()
			cfg.SaveAudioCalls = 1
			before := len(agent.seen())
			rep, err := Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			served.Wait()
			if rep.CallsCompleted != cfg.Calls || rep.Failed() {
				for _, c := range rep.Calls {
					t.Logf("call %d: %s %s %s", c.N, c.Outcome, c.Error, c.Detail)
				}
				t.Fatalf("completed %d of %d: %v", rep.CallsCompleted, cfg.Calls, rep.Errors)
			}
			for _, c := range rep.Calls {
				if !c.Greeting {
					t.Errorf("call %d heard no greeting", c.N)
				}
				for _, turn := range c.Turns {
					if !turn.Answered || turn.ReplyLatency < 400*time.Millisecond || turn.ReplyLatency > 2*time.Second {
						t.Errorf("call %d turn %q: answered %v after %v", c.N, turn.Text, turn.Answered, turn.ReplyLatency)
					}
					if turn.BargeIn && !turn.BargeInMissed && !turn.Cleared {
						t.Errorf("call %d: barge-in not cleared", c.N)
					}
				}
			}
			for _, ac := range agent.seen()[before:] {
				if len(ac.Problems) > 0 {
					t.Errorf("protocol problems: %q", ac.Problems)
				}
				if !slices.Equal(ac.Heard, ac.Script) {
					t.Errorf("agent heard %q, script %q", ac.Heard, ac.Script)
				}
			}
			if cfg.Burst && rep.FramesHeld == 0 && rep.FramesSwapped == 0 {
				t.Error("no frame was held or swapped")
			}
			f, err := os.Open(filepath.Join(cfg.SaveAudioDir, "call-1.wav"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pcm, rate, err := media.ReadWAV(f)
			if err != nil || rate != sampleRate || len(pcm) < 3*sampleRate {
				t.Errorf("saved audio: %d samples at %d Hz, %v", len(pcm), rate, err)
			}
		})
	}
}

// slowConn takes 5 ms of (virtual) time for every write and records when each
// media frame was handed to it.
type slowConn struct {
	wsConn
	mu     sync.Mutex
	frames []time.Time
}

func (s *slowConn) WriteMessage(typ int, data []byte) error {
	if strings.HasPrefix(string(data), `{"event":"media"`) {
		s.mu.Lock()
		s.frames = append(s.frames, time.Now())
		s.mu.Unlock()
	}
	time.Sleep(5 * time.Millisecond)
	return s.wsConn.WriteMessage(typ, data)
}

// The sender's schedule is drift-free: frame n goes out at start + n*20ms
// however long the writes take, not 20 ms after the previous one finished.
func TestFramesKeepTheirSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := &fakeAgent{}
		var served sync.WaitGroup
		var conn *slowConn
		dial := func(context.Context, string) (wsConn, error) {
			client, server := newPipe()
			served.Go(func() { agent.serve(server) })
			conn = &slowConn{wsConn: client}
			return conn, nil
		}
		rep, err := run(t.Context(), Config{Script: syntheticScript, Shards: 1}.withDefaults(), dial)
		served.Wait()
		if err != nil || rep.Failed() {
			t.Fatalf("run: %v %v", err, rep.Errors)
		}
		if len(conn.frames) < 500 {
			t.Fatalf("only %d frames", len(conn.frames))
		}
		for i := 1; i < len(conn.frames); i++ {
			if d := conn.frames[i].Sub(conn.frames[i-1]); d != frameDuration {
				t.Fatalf("frame %d sent %v after frame %d, want exactly 20ms", i, d, i-1)
			}
		}
		if rep.SenderLag.Max != 0 || rep.SkippedTicks != 0 {
			t.Errorf("sender lag %+v, skipped %d", rep.SenderLag, rep.SkippedTicks)
		}
	})
}
