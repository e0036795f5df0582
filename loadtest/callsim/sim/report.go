package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Outcome is how a call ended.
type Outcome string

// Call outcomes.
const (
	// OutcomeCompleted: the caller spoke its whole script and the call ended
	// normally, by the caller's stop or by the server closing after the last line.
	OutcomeCompleted Outcome = "completed"
	// OutcomeFailed: connect error, missing greeting or reply, barge-in not
	// honoured, server close mid-conversation, protocol or write error, timeout.
	OutcomeFailed Outcome = "failed"
	// OutcomeAborted: the run was cancelled or its grace period ran out.
	OutcomeAborted Outcome = "aborted"
)

// Who ended a call.
const (
	EndedByCaller = "caller" // the simulator sent stop and closed
	EndedByServer = "server" // the server closed the socket
)

// Failure kinds (CallResult.Error, Report.Errors). Report.Errors also counts
// non-fatal notes such as "bargein_missed", "unexpected_clear",
// "partial_frame", "bad_message", "unknown_event".
const (
	ErrConnect        = "connect"
	ErrNoGreeting     = "no_greeting"
	ErrNoReply        = "no_reply"
	ErrBargeInNoClear = "bargein_no_clear"
	ErrServerClosed   = "server_closed"
	ErrReadError      = "read_error"
	ErrWriteError     = "write_error"
	ErrCallTimeout    = "call_timeout"
	ErrAborted        = "aborted"
)

// Turn is one line the caller said and what came of it.
type Turn struct {
	Text string
	// BargeIn: the line was spoken over the agent's previous reply.
	BargeIn bool
	// BargeInMissed: the reply had ended before the barge-in point, so the
	// line was spoken after it like any other.
	BargeInMissed bool
	// Spoken: the whole line was sent.
	Spoken bool
	// Answered: audio arrived after the line; ReplyLatency is from the last
	// voiced frame sent to the first media message received after it.
	Answered     bool
	ReplyLatency time.Duration
	// Cleared: a barge-in line got a clear; BargeInLatency is from its first
	// frame to the clear.
	Cleared        bool
	BargeInLatency time.Duration
	// DTMF: the caller pressed "1" just before this line.
	DTMF bool
}

// CallResult is what happened on one call.
type CallResult struct {
	// N numbers calls from 1 in launch order; it appears in the call control
	// ID ("v3:sim-<N>-...") and in saved audio file names.
	N int
	// Slow: a caller that reads at a trickle (Config.Slow).
	Slow          bool
	CallControlID string
	StreamID      string
	Outcome       Outcome
	// EndedBy is EndedByCaller or EndedByServer ("" if never connected).
	EndedBy string
	// Error is the failure kind (Err* constants), "" unless Outcome is failed
	// or aborted; Detail says more.
	Error  string
	Detail string
	// Notes counts non-fatal observations by kind.
	Notes map[string]int

	// Transfer: the last line asked for a human.
	Transfer bool
	// Greeting: agent audio arrived before the caller spoke; GreetingLatency
	// is from the start frame to its first media message.
	Greeting        bool
	GreetingLatency time.Duration
	Turns           []Turn
	Duration        time.Duration

	FramesSent    int // media frames written, duplicates included
	FramesDropped int // -loss
	FramesDup     int // -dup
	FramesSwapped int // -reorder
	FramesHeld    int // -burst
	MediaReceived int // media messages from the server
	AudioReceived time.Duration
	MarksReceived int
	MarksEchoed   int
	Clears        int
	// Underruns counts media messages that arrived when the playout queue had
	// run dry in the middle of an agent utterance; UnderrunTime sums the gaps.
	Underruns    int
	UnderrunTime time.Duration
	JitterMax    time.Duration
}

// Report is the outcome of a run. Its JSON form (MarshalJSON) has stable field
// names, documented in loadtest/README.md.
type Report struct {
	Seed    uint64
	URL     string
	Started time.Time
	Elapsed time.Duration

	CallsStarted   int
	CallsCompleted int
	CallsFailed    int
	CallsAborted   int

	FramesSent    int
	FramesDropped int
	FramesDup     int
	FramesSwapped int
	FramesHeld    int
	MediaReceived int
	AudioReceived time.Duration
	Underruns     int
	UnderrunTime  time.Duration

	TurnsSpoken    int
	TurnsAnswered  int
	BargeIns       int
	BargeInsClear  int
	DTMFSent       int
	Transfers      int
	GreetingsHeard int

	// ReplyLatency: end of the caller's speech to the first reply message.
	ReplyLatency Stats
	// BargeInLatency: start of barge-in speech to the clear.
	BargeInLatency Stats
	// GreetingLatency: start frame to the first greeting message.
	GreetingLatency Stats
	// Jitter: per agent utterance, how much later than the best-served
	// message each media message arrived relative to the moment its audio is
	// due to play (see the README); a constant pacing lead counts as zero.
	Jitter Stats
	// SenderLag: how late the simulator's 20 ms ticks ran, to tell an
	// overloaded simulator from a slow server. SkippedTicks counts ticks given
	// up because a sender fell more than 100 ms behind.
	SenderLag    Stats
	SkippedTicks int

	// Errors counts failure kinds and non-fatal notes over all calls.
	Errors map[string]int
	// Slow is what became of the slow callers (Config.Slow), who are left
	// out of every figure above.
	Slow SlowReport
	// Calls holds every call, by N.
	Calls []CallResult
}

// SlowReport sums up the slow callers: how many were placed, how they
// ended, and why (failure kinds, as in Report.Errors).
type SlowReport struct {
	Rate          int // bytes a second they read
	Calls         int
	Completed     int
	EndedByServer int
	Errors        map[string]int
}

// overloadLag is the p99 sender lag beyond which a run's figures are suspect.
const overloadLag = 20 * time.Millisecond

// Overloaded reports whether the simulator fell behind its own 20 ms schedule
// badly enough to distort what it measured.
func (r *Report) Overloaded() bool { return r.SkippedTicks > 0 || r.SenderLag.P99 > overloadLag }

// Failed reports whether any call failed or was aborted; slow callers,
// whom the server is expected to end, do not count.
func (r *Report) Failed() bool { return r.CallsFailed > 0 || r.CallsAborted > 0 }

// The JSON mirror types: durations in milliseconds, snake_case names.
type (
	jsonReport struct {
		Seed            uint64         `json:"seed"`
		URL             string         `json:"url"`
		StartedAt       time.Time      `json:"started_at"`
		ElapsedMs       float64        `json:"elapsed_ms"`
		Calls           jsonCalls      `json:"calls"`
		Frames          jsonFrames     `json:"frames"`
		Underruns       jsonUnderruns  `json:"underruns"`
		Turns           jsonTurns      `json:"turns"`
		ReplyLatency    Stats          `json:"reply_latency"`
		BargeInLatency  Stats          `json:"barge_in_latency"`
		GreetingLatency Stats          `json:"greeting_latency"`
		Jitter          Stats          `json:"jitter"`
		SenderLag       Stats          `json:"sender_lag"`
		SkippedTicks    int            `json:"skipped_ticks"`
		SimOverloaded   bool           `json:"sim_overloaded"`
		Errors          map[string]int `json:"errors"`
		Slow            *jsonSlow      `json:"slow,omitempty"`
		CallResults     []jsonCall     `json:"call_results"`
	}
	jsonSlow struct {
		Rate          int            `json:"rate"`
		Calls         int            `json:"calls"`
		Completed     int            `json:"completed"`
		EndedByServer int            `json:"ended_by_server"`
		Errors        map[string]int `json:"errors"`
	}
	jsonCalls struct {
		Started   int `json:"started"`
		Completed int `json:"completed"`
		Failed    int `json:"failed"`
		Aborted   int `json:"aborted"`
	}
	jsonFrames struct {
		Sent            int     `json:"sent"`
		Dropped         int     `json:"dropped"`
		Duplicated      int     `json:"duplicated"`
		Reordered       int     `json:"reordered"`
		Held            int     `json:"held"`
		MediaReceived   int     `json:"media_received"`
		AudioReceivedMs float64 `json:"audio_received_ms"`
	}
	jsonUnderruns struct {
		Count   int     `json:"count"`
		TotalMs float64 `json:"total_ms"`
	}
	jsonTurns struct {
		Spoken         int `json:"spoken"`
		Answered       int `json:"answered"`
		BargeIns       int `json:"barge_ins"`
		BargeInsClear  int `json:"barge_ins_cleared"`
		DTMFSent       int `json:"dtmf_sent"`
		Transfers      int `json:"transfers"`
		GreetingsHeard int `json:"greetings_heard"`
	}
	jsonCall struct {
		N                 int            `json:"n"`
		Slow              bool           `json:"slow,omitempty"`
		CallControlID     string         `json:"call_control_id"`
		StreamID          string         `json:"stream_id"`
		Outcome           Outcome        `json:"outcome"`
		EndedBy           string         `json:"ended_by,omitempty"`
		Error             string         `json:"error,omitempty"`
		Detail            string         `json:"detail,omitempty"`
		Notes             map[string]int `json:"notes,omitempty"`
		Transfer          bool           `json:"transfer"`
		Greeting          bool           `json:"greeting"`
		GreetingLatencyMs float64        `json:"greeting_latency_ms"`
		DurationMs        float64        `json:"duration_ms"`
		Turns             []jsonTurn     `json:"turns"`
		FramesSent        int            `json:"frames_sent"`
		MediaReceived     int            `json:"media_received"`
		AudioReceivedMs   float64        `json:"audio_received_ms"`
		MarksReceived     int            `json:"marks_received"`
		MarksEchoed       int            `json:"marks_echoed"`
		Clears            int            `json:"clears"`
		Underruns         int            `json:"underruns"`
		UnderrunMs        float64        `json:"underrun_ms"`
		JitterMaxMs       float64        `json:"jitter_max_ms"`
	}
	jsonTurn struct {
		Text             string  `json:"text"`
		BargeIn          bool    `json:"barge_in,omitempty"`
		BargeInMissed    bool    `json:"barge_in_missed,omitempty"`
		DTMF             bool    `json:"dtmf,omitempty"`
		Spoken           bool    `json:"spoken"`
		Answered         bool    `json:"answered"`
		ReplyLatencyMs   float64 `json:"reply_latency_ms"`
		Cleared          bool    `json:"cleared,omitempty"`
		BargeInLatencyMs float64 `json:"barge_in_latency_ms,omitempty"`
	}
)

// MarshalJSON writes the report with the stable field names of the README.
func (r Report) MarshalJSON() ([]byte, error) {
	j := jsonReport{
		Seed: r.Seed, URL: r.URL, StartedAt: r.Started.UTC(), ElapsedMs: ms(r.Elapsed),
		Calls: jsonCalls{Started: r.CallsStarted, Completed: r.CallsCompleted, Failed: r.CallsFailed, Aborted: r.CallsAborted},
		Frames: jsonFrames{
			Sent: r.FramesSent, Dropped: r.FramesDropped, Duplicated: r.FramesDup, Reordered: r.FramesSwapped,
			Held: r.FramesHeld, MediaReceived: r.MediaReceived, AudioReceivedMs: ms(r.AudioReceived),
		},
		Underruns: jsonUnderruns{Count: r.Underruns, TotalMs: ms(r.UnderrunTime)},
		Turns: jsonTurns{
			Spoken: r.TurnsSpoken, Answered: r.TurnsAnswered, BargeIns: r.BargeIns, BargeInsClear: r.BargeInsClear,
			DTMFSent: r.DTMFSent, Transfers: r.Transfers, GreetingsHeard: r.GreetingsHeard,
		},
		ReplyLatency: r.ReplyLatency, BargeInLatency: r.BargeInLatency, GreetingLatency: r.GreetingLatency,
		Jitter: r.Jitter, SenderLag: r.SenderLag, SkippedTicks: r.SkippedTicks, SimOverloaded: r.Overloaded(),
		Errors:      r.Errors,
		CallResults: make([]jsonCall, 0, len(r.Calls)),
	}
	if j.Errors == nil {
		j.Errors = map[string]int{}
	}
	if r.Slow.Calls > 0 {
		j.Slow = &jsonSlow{Rate: r.Slow.Rate, Calls: r.Slow.Calls, Completed: r.Slow.Completed, EndedByServer: r.Slow.EndedByServer, Errors: r.Slow.Errors}
	}
	for _, c := range r.Calls {
		jc := jsonCall{
			N: c.N, Slow: c.Slow, CallControlID: c.CallControlID, StreamID: c.StreamID, Outcome: c.Outcome, EndedBy: c.EndedBy,
			Error: c.Error, Detail: c.Detail, Notes: c.Notes, Transfer: c.Transfer, Greeting: c.Greeting,
			GreetingLatencyMs: ms(c.GreetingLatency), DurationMs: ms(c.Duration), Turns: make([]jsonTurn, 0, len(c.Turns)),
			FramesSent: c.FramesSent, MediaReceived: c.MediaReceived, AudioReceivedMs: ms(c.AudioReceived),
			MarksReceived: c.MarksReceived, MarksEchoed: c.MarksEchoed, Clears: c.Clears,
			Underruns: c.Underruns, UnderrunMs: ms(c.UnderrunTime), JitterMaxMs: ms(c.JitterMax),
		}
		for _, t := range c.Turns {
			jc.Turns = append(jc.Turns, jsonTurn{
				Text: t.Text, BargeIn: t.BargeIn, BargeInMissed: t.BargeInMissed, DTMF: t.DTMF, Spoken: t.Spoken,
				Answered: t.Answered, ReplyLatencyMs: ms(t.ReplyLatency), Cleared: t.Cleared, BargeInLatencyMs: ms(t.BargeInLatency),
			})
		}
		j.CallResults = append(j.CallResults, jc)
	}
	return json.Marshal(j)
}

// summarizeCalls fills the run-wide totals and latency figures from Calls.
func (r *Report) summarizeCalls() {
	var reply, barge, greet []time.Duration
	r.Errors = map[string]int{}
	for i := range r.Calls {
		c := &r.Calls[i]
		if c.Slow {
			r.Slow.add(c)
			continue
		}
		r.CallsStarted++
		switch c.Outcome {
		case OutcomeCompleted:
			r.CallsCompleted++
		case OutcomeFailed:
			r.CallsFailed++
		case OutcomeAborted:
			r.CallsAborted++
		}
		if c.Error != "" {
			r.Errors[c.Error]++
		}
		for k, n := range c.Notes {
			r.Errors[k] += n
		}
		r.FramesSent += c.FramesSent
		r.FramesDropped += c.FramesDropped
		r.FramesDup += c.FramesDup
		r.FramesSwapped += c.FramesSwapped
		r.FramesHeld += c.FramesHeld
		r.MediaReceived += c.MediaReceived
		r.AudioReceived += c.AudioReceived
		r.Underruns += c.Underruns
		r.UnderrunTime += c.UnderrunTime
		if c.Transfer {
			r.Transfers++
		}
		if c.Greeting {
			r.GreetingsHeard++
			greet = append(greet, c.GreetingLatency)
		}
		for _, t := range c.Turns {
			if t.Spoken {
				r.TurnsSpoken++
			}
			if t.Answered {
				r.TurnsAnswered++
				reply = append(reply, t.ReplyLatency)
			}
			if t.BargeIn && !t.BargeInMissed && t.Spoken {
				r.BargeIns++
			}
			if t.Cleared {
				r.BargeInsClear++
				barge = append(barge, t.BargeInLatency)
			}
			if t.DTMF {
				r.DTMFSent++
			}
		}
	}
	r.ReplyLatency = summarize(reply)
	r.BargeInLatency = summarize(barge)
	r.GreetingLatency = summarize(greet)
}

func (s *SlowReport) add(c *CallResult) {
	s.Calls++
	if c.Outcome == OutcomeCompleted {
		s.Completed++
	}
	if c.EndedBy == EndedByServer {
		s.EndedByServer++
	}
	if c.Error != "" {
		if s.Errors == nil {
			s.Errors = map[string]int{}
		}
		s.Errors[c.Error]++
	}
}

// WriteText writes the human summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	f := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	lat := func(s Stats) string {
		if s.Count == 0 {
			return "-"
		}
		return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s  (n=%d)", fmtMs(s.P50), fmtMs(s.P95), fmtMs(s.P99), fmtMs(s.Max), s.Count)
	}
	f("callsim: %s, %s, seed %d\n", r.URL, r.Elapsed.Round(time.Millisecond), r.Seed)
	f("calls      started %d  completed %d  failed %d  aborted %d\n", r.CallsStarted, r.CallsCompleted, r.CallsFailed, r.CallsAborted)
	f("turns      spoken %d  answered %d  greetings %d  barge-ins %d (cleared %d)  dtmf %d  transfers %d\n",
		r.TurnsSpoken, r.TurnsAnswered, r.GreetingsHeard, r.BargeIns, r.BargeInsClear, r.DTMFSent, r.Transfers)
	f("frames     sent %d (dropped %d, duplicated %d, reordered %d, held %d)  received %d messages, %s of audio\n",
		r.FramesSent, r.FramesDropped, r.FramesDup, r.FramesSwapped, r.FramesHeld, r.MediaReceived, r.AudioReceived.Round(time.Millisecond))
	f("underruns  %d late messages, %s of gaps\n", r.Underruns, r.UnderrunTime.Round(time.Millisecond))
	f("reply      %s\n", lat(r.ReplyLatency))
	f("barge-in   %s\n", lat(r.BargeInLatency))
	f("greeting   %s\n", lat(r.GreetingLatency))
	if r.Jitter.Count > 0 {
		f("jitter     p50 %s  p99 %s  max %s  (n=%d)\n", fmtMs(r.Jitter.P50), fmtMs(r.Jitter.P99), fmtMs(r.Jitter.Max), r.Jitter.Count)
	} else {
		f("jitter     -\n")
	}
	f("sim lag    p50 %s  p99 %s  max %s  skipped ticks %d\n", fmtMs(r.SenderLag.P50), fmtMs(r.SenderLag.P99), fmtMs(r.SenderLag.Max), r.SkippedTicks)
	if r.Overloaded() {
		f("warning: the simulator itself ran late (ticks over %s, %d skipped): give it more CPU or fewer calls;\n"+
			"         the latencies above include its own delays\n", fmtMs(overloadLag), r.SkippedTicks)
	}
	if r.Slow.Calls > 0 {
		f("slow       %d callers reading %d B/s (left out above): %d ended by the server, %d completed",
			r.Slow.Calls, r.Slow.Rate, r.Slow.EndedByServer, r.Slow.Completed)
		for _, k := range slices.Sorted(maps.Keys(r.Slow.Errors)) {
			f(" %s=%d", k, r.Slow.Errors[k])
		}
		f("\n")
	}
	if len(r.Errors) > 0 {
		f("errors    ")
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			f(" %s=%d", k, r.Errors[k])
		}
		f("\n")
		shown := 0
		for _, c := range r.Calls {
			if c.Outcome == OutcomeCompleted || c.Slow || shown == 5 {
				continue
			}
			shown++
			f("  call %d (%s): %s %s\n", c.N, c.CallControlID, c.Error, c.Detail)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
