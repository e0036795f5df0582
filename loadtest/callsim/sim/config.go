package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"runtime"
	"time"
)

// Default texts of the simulated caller.
var (
	// DefaultScript is what every caller says, in order: the demo agent answers
	// the opening-hours and price intents and ends the call on goodbye.
	DefaultScript = []string{"what are your opening hours", "how much does it cost", "goodbye"}
	// DefaultBargeInText is spoken over a reply by barge-in calls; it lasts
	// well over the 600 ms of speech that count as barge-in.
	DefaultBargeInText = "sorry can you say that again a bit more slowly please"
	// DefaultTransferText replaces the last line for transfer calls.
	DefaultTransferText = "I want to talk to a human"
)

// DefaultURL is the media endpoint of a local IACE server.
const DefaultURL = "ws://127.0.0.1:8080/media/telnyx"

// Config describes a run. Zero fields take the defaults documented on them,
// so Config{URL: u} places one call with the default script.
type Config struct {
	// URL is the media WebSocket (ws:// or wss://). The simulator connects to
	// nothing else. Default DefaultURL.
	URL string
	// Header is sent on every WebSocket upgrade, e.g. an
	// x-telnyx-streaming-auth-token.
	Header http.Header
	// StreamToken, when set, gives call n's stream token, which is added to
	// URL as ?token= (the IACE media handler refuses streams without one).
	// It gets the call's call_control_id: the token is bound to it.
	StreamToken func(n int, callControlID string) (string, error)
	// CallControlID, when set, is call 1's call_control_id; call n > 1 uses
	// it with "-<n>" appended. Default: a random "v3:sim-..." per call.
	CallControlID string

	// Calls is how many calls run at once (default 1).
	Calls int
	// Duration, when set, keeps Calls calls running: a call that ends is
	// replaced by a new one until Duration has passed since the start, then
	// live calls get up to Grace to finish. When zero, exactly Calls calls are
	// placed and the run ends when they have.
	Duration time.Duration
	// Ramp spreads the first Calls call starts evenly over this time.
	Ramp time.Duration
	// Grace bounds the wait for live calls after Duration (default 30 s);
	// calls still running then are aborted and count as failed.
	Grace time.Duration

	// Script is what each caller says, in order (default DefaultScript). The
	// texts, joined with "|", travel in custom_parameters["sim_script"] for
	// the server's simulator transcriber.
	Script []string
	// BargeInText and TransferText default to DefaultBargeInText and
	// DefaultTransferText.
	BargeInText  string
	TransferText string
	// Audio, when set, is searched first for <slug>.wav of each text (see
	// the audio package); then the embedded WAVs; then a synthetic voice.
	Audio fs.FS

	// BargeIn is the fraction of calls (0..1) that speak BargeInText over one
	// reply, 300-500 ms into the agent's audio.
	BargeIn float64
	// DTMF is the fraction of calls that press "1" once, before one of
	// their utterances.
	DTMF float64
	// Transfer is the fraction of calls whose last line is TransferText.
	Transfer float64

	// Network trouble on the caller's media frames: Reorder is the
	// probability to swap a frame with the next, Dup to send it twice, Loss to
	// drop it. Burst occasionally holds frames for 100-200 ms and then sends
	// them at once.
	Reorder, Dup, Loss float64
	Burst              bool
	// NoiseDB adds white noise at this level relative to full scale (e.g.
	// -50) to everything the caller sends; 0 is off.
	NoiseDB float64
	// EchoDB makes every caller's line send the agent's audio back, this
	// far under it (e.g. -25: a line with no echo canceller), EchoDelay
	// after the caller hears it; 0 is off. EchoHybrid passes it through a
	// 2-4 wire hybrid's response (hybridResponse) rather than sending the
	// agent's audio itself back.
	EchoDB     float64
	EchoDelay  time.Duration
	EchoHybrid bool

	// Seed makes call identities, choices and noise reproducible; 0 picks
	// one at random (reported in Report.Seed).
	Seed uint64
	// To is the dialed number in start.to (default "+15550100000").
	To string
	// From, when set, is every call's caller number in start.from (one
	// caller calling again); by default call n calls from +1555 and n in
	// seven digits.
	From string
	// Params are extra start.custom_parameters sent with sim_script.
	Params map[string]string

	// Slow makes the first Slow calls (N <= Slow) callers whose side reads
	// the server's messages at a trickle, SlowRate bytes a second (default
	// 300), from a socket with a 4 KiB receive buffer and a 1,400-byte
	// segment size (as over the internet; loopback's 64 KiB segments would
	// let the server's kernel buffer megabytes), so that the server's writes
	// to them really back up. They are reported apart (Report.Slow) and left
	// out of every other figure; the server is expected to end them.
	Slow     int
	SlowRate int

	// SaveAudioDir, when set, receives call-<n>.wav with what caller n heard,
	// placed at its playout time, for the first SaveAudioCalls calls
	// (default 5).
	SaveAudioDir   string
	SaveAudioCalls int

	// Shards is how many sender goroutines tick every 20 ms (default
	// GOMAXPROCS). Each sends the due frame of all of its calls.
	Shards int

	// DialTimeout bounds the WebSocket handshake (default 10 s).
	DialTimeout time.Duration
	// CallTimeout bounds a whole call (default 2 min).
	CallTimeout time.Duration
	// GreetingTimeout bounds the wait for the agent's first audio (default 10 s).
	GreetingTimeout time.Duration
	// ReplyTimeout bounds the wait from the end of an utterance to the
	// first audio of the reply (default 10 s).
	ReplyTimeout time.Duration
	// BargeInTimeout is how long a barge-in line may be talked over before
	// the missing clear fails the call (default 1.5 s).
	BargeInTimeout time.Duration
	// Quiet is how long the playout queue must stay empty, without a mark at
	// its end, before an agent turn counts as finished (default 800 ms).
	Quiet time.Duration
	// Pause is the caller's thinking time after the agent finished, jittered
	// by +-25 % (default 400 ms).
	Pause time.Duration
	// HangupWait is how long the caller waits, after the last reply, for the
	// server to close before it hangs up itself (default 2 s).
	HangupWait time.Duration

	// Progress, when set, is called about every ProgressInterval (default
	// 500 ms) from a goroutine of Run, and not after Run returns.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// callURL is the media URL of call n, with its stream token if any.
func (c *Config) callURL(n int, callControlID string) (string, error) {
	if c.StreamToken == nil {
		return c.URL, nil
	}
	tok, err := c.StreamToken(n, callControlID)
	if err != nil {
		return "", fmt.Errorf("stream token of call %d: %w", n, err)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("token", tok)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// NumberedID numbers an id per call as CallControlID is numbered:
// base for call 1, base-<n> after.
func NumberedID(base string, n int) string {
	if n <= 1 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, n)
}

// Progress is a snapshot of a running load test.
type Progress struct {
	Elapsed   time.Duration
	Live      int
	Started   int
	Completed int
	Failed    int
	// ReplyP50 is the median reply latency so far (to 100 µs).
	ReplyP50 time.Duration
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Calls == 0 {
		c.Calls = 1
	}
	def(&c.Grace, 30*time.Second)
	if len(c.Script) == 0 {
		c.Script = DefaultScript
	}
	if c.BargeInText == "" {
		c.BargeInText = DefaultBargeInText
	}
	if c.TransferText == "" {
		c.TransferText = DefaultTransferText
	}
	if c.To == "" {
		c.To = "+15550100000"
	}
	if c.SlowRate == 0 {
		c.SlowRate = 300
	}
	if c.SaveAudioCalls == 0 {
		c.SaveAudioCalls = 5
	}
	if c.Shards == 0 {
		c.Shards = runtime.GOMAXPROCS(0)
	}
	def(&c.DialTimeout, 10*time.Second)
	def(&c.CallTimeout, 2*time.Minute)
	def(&c.GreetingTimeout, 10*time.Second)
	def(&c.ReplyTimeout, 10*time.Second)
	def(&c.BargeInTimeout, 1500*time.Millisecond)
	def(&c.Quiet, 800*time.Millisecond)
	def(&c.Pause, 400*time.Millisecond)
	def(&c.HangupWait, 2*time.Second)
	def(&c.ProgressInterval, 500*time.Millisecond)
	return c
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(c.URL); err != nil {
		bad("url: %w", err)
	} else if u.Scheme != "ws" && u.Scheme != "wss" {
		bad("url: scheme %q, want ws or wss", u.Scheme)
	}
	if c.Calls < 0 {
		bad("calls: %d is negative", c.Calls)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"duration", c.Duration}, {"ramp", c.Ramp}, {"grace", c.Grace}, {"dial timeout", c.DialTimeout},
		{"call timeout", c.CallTimeout}, {"greeting timeout", c.GreetingTimeout}, {"reply timeout", c.ReplyTimeout},
		{"barge-in timeout", c.BargeInTimeout},
		{"quiet", c.Quiet}, {"pause", c.Pause}, {"hangup wait", c.HangupWait},
	} {
		if d.v < 0 {
			bad("%s: %v is negative", d.name, d.v)
		}
	}
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"bargein", c.BargeIn}, {"dtmf", c.DTMF}, {"transfer", c.Transfer},
		{"reorder", c.Reorder}, {"dup", c.Dup}, {"loss", c.Loss},
	} {
		if !(p.v >= 0 && p.v <= 1) {
			bad("%s: %v is not a fraction in [0, 1]", p.name, p.v)
		}
	}
	if c.NoiseDB > 0 {
		bad("noise: %v dB is above full scale; use a negative level such as -50", c.NoiseDB)
	}
	if c.EchoDB > 0 {
		bad("echo: %v dB is louder than the agent; use a negative level such as -25", c.EchoDB)
	}
	if c.EchoDelay < 0 || c.EchoDelay > time.Second {
		bad("echo-delay: %v is not in [0, 1s]", c.EchoDelay)
	}
	if c.Shards < 0 {
		bad("shards: %d is negative", c.Shards)
	}
	if c.Slow < 0 {
		bad("slow: %d is negative", c.Slow)
	}
	if c.SlowRate < 0 {
		bad("slow rate: %d bytes a second is negative", c.SlowRate)
	}
	for i, line := range c.Script {
		if slug(line) == "" {
			bad("script line %d (%q) has no letters or digits", i+1, line)
		}
	}
	return errors.Join(errs...)
}
