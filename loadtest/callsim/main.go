// Command callsim places simulated Telnyx media-stream calls against an IACE
// server and reports reply latency, barge-in latency, jitter and failures.
//
//	go run ./loadtest/callsim -calls 200 -duration 2m -ramp 20s -bargein 0.2
//
// With IACE_STREAM_SECRET set, each call's URL carries a stream token minted
// with that secret (-token-org, -token-agent, -token-call, and
// -call-control-id to match a call the webhook recorded), as the IACE
// webhook mints them. It exits 1 if any call failed, 2 if it could not run.
// See loadtest/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
	"github.com/iace/iace/media/telnyx"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("callsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg        sim.Config
		script     = fs.String("script", "", `caller lines separated by "|" (default "`+strings.Join(sim.DefaultScript, "|")+`")`)
		audioDir   = fs.String("audio", "", "directory searched first for <slug>.wav of each line")
		jsonFile   = fs.String("json", "", "write the report as JSON to this file")
		metricsURL = fs.String("metrics", "", "scrape this Prometheus URL at the end and print its iace_* lines")
		quiet      = fs.Bool("quiet", false, "no progress line")
		authToken  = fs.String("auth-token", "", "send as x-telnyx-streaming-auth-token on the upgrade")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the simulator itself to this file")
		tokenOrg   = fs.String("token-org", "demo", "organization id in the minted stream tokens")
		tokenAgent = fs.String("token-agent", "demo", "agent id in the minted stream tokens")
		tokenCall  = fs.String("token-call", "", `call id in the minted stream tokens; call n > 1 gets "-<n>" appended (default: one per call from its call_control_id)`)
		tokenTTL   = fs.Duration("token-ttl", 2*time.Minute, "lifetime of the minted stream tokens")
		params     stringList
	)
	fs.StringVar(&cfg.URL, "url", sim.DefaultURL, "media WebSocket URL of the server")
	fs.IntVar(&cfg.Calls, "calls", 1, "concurrent calls")
	fs.DurationVar(&cfg.Duration, "duration", 0, "keep -calls calls running this long, replacing ended ones (0: place -calls calls once)")
	fs.DurationVar(&cfg.Ramp, "ramp", 0, "spread the first call starts over this time")
	fs.DurationVar(&cfg.Grace, "grace", 30*time.Second, "after -duration, wait this long for live calls, then abort them")
	fs.Float64Var(&cfg.BargeIn, "bargein", 0, "fraction of calls that speak over one reply")
	fs.Float64Var(&cfg.DTMF, "dtmf", 0, "fraction of calls that press a key once")
	fs.Float64Var(&cfg.Transfer, "transfer", 0, "fraction of calls that ask for a human instead of saying goodbye")
	fs.Float64Var(&cfg.Reorder, "reorder", 0, "probability to swap a caller frame with the next")
	fs.Float64Var(&cfg.Dup, "dup", 0, "probability to send a caller frame twice")
	fs.Float64Var(&cfg.Loss, "loss", 0, "probability to drop a caller frame")
	fs.BoolVar(&cfg.Burst, "burst", false, "occasionally hold caller frames 100-200 ms, then send them at once")
	fs.Float64Var(&cfg.NoiseDB, "noise", 0, "add white noise at this level in dBFS, e.g. -50 (0: off)")
	fs.Float64Var(&cfg.EchoDB, "echo", 0, "send the agent's audio back this many dB under it, as a line with no echo canceller does, e.g. -25 (0: off)")
	fs.DurationVar(&cfg.EchoDelay, "echo-delay", 100*time.Millisecond, "how long after the caller hears the agent its -echo comes back")
	fs.BoolVar(&cfg.EchoHybrid, "echo-hybrid", false, "send the -echo back through a 2-4 wire hybrid's response (a 1 kHz ringing over 6 ms, no DC; no frequency louder than -echo) rather than as the agent's audio itself")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed for reproducible runs (0: random, printed in the report)")
	fs.StringVar(&cfg.To, "to", "+15550100000", "dialed number sent in start.to")
	fs.StringVar(&cfg.CallControlID, "call-control-id", "", `call_control_id of call 1; call n > 1 gets "-<n>" appended (default: random per call)`)
	fs.Var(&params, "param", "extra start.custom_parameters entry name=value (repeatable)")
	fs.StringVar(&cfg.SaveAudioDir, "save-audio", "", "write what the first callers heard as call-<n>.wav into this directory")
	fs.IntVar(&cfg.SaveAudioCalls, "save-audio-calls", 5, "how many calls -save-audio records")
	fs.IntVar(&cfg.Shards, "shards", 0, "sender goroutines (0: GOMAXPROCS)")
	fs.IntVar(&cfg.Slow, "slow", 0, "the first N calls read the server's messages at a trickle (-slow-rate), reported apart; the server should end them")
	fs.IntVar(&cfg.SlowRate, "slow-rate", 300, "bytes a second a -slow caller reads")
	fs.DurationVar(&cfg.CallTimeout, "call-timeout", 2*time.Minute, "maximum length of one call")
	fs.DurationVar(&cfg.ReplyTimeout, "reply-timeout", 10*time.Second, "maximum wait for a reply")
	fs.DurationVar(&cfg.GreetingTimeout, "greeting-timeout", 10*time.Second, "maximum wait for the greeting")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "callsim: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *script != "" {
		cfg.Script = strings.Split(*script, "|")
	}
	if *audioDir != "" {
		cfg.Audio = os.DirFS(*audioDir)
	}
	// The secret comes from the environment only: a flag would show in ps.
	if secret := os.Getenv(streamSecretEnv); secret != "" {
		cfg.StreamToken = tokenMinter([]byte(secret), *tokenOrg, *tokenAgent, *tokenCall, *tokenTTL)
	}
	if *authToken != "" {
		cfg.Header = map[string][]string{"X-Telnyx-Streaming-Auth-Token": {*authToken}}
	}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "callsim: -param %q: want name=value\n", p)
			return 2
		}
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params[k] = v
	}
	if !*quiet && isTerminal(os.Stderr) && stderr == io.Writer(os.Stderr) {
		cfg.Progress = progressLine(stderr)
	}

	// The first SIGINT or SIGTERM aborts the calls and still reports; a
	// second one kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	finished := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		select {
		case <-ctx.Done():
			stop() // restore the default action for the second signal
		case <-finished:
		}
	})
	defer watcher.Wait()
	defer close(finished)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "callsim:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "callsim:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	rep, err := sim.Run(ctx, cfg)
	if cfg.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil && rep.CallsStarted == 0 {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
	}
	if werr := rep.WriteText(stdout); werr != nil {
		fmt.Fprintln(stderr, "callsim:", werr)
	}
	if *metricsURL != "" {
		mctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lines, merr := sim.ScrapeMetrics(mctx, *metricsURL)
		cancel()
		if merr != nil {
			fmt.Fprintln(stderr, merr)
		}
		if len(lines) > 0 {
			fmt.Fprintf(stdout, "server metrics (%s):\n", *metricsURL)
			for _, l := range lines {
				fmt.Fprintln(stdout, "  "+l)
			}
		}
	}
	if *jsonFile != "" {
		if err := writeJSON(*jsonFile, &rep); err != nil {
			fmt.Fprintln(stderr, "callsim:", err)
			return 2
		}
	}
	if rep.Failed() || err != nil {
		return 1
	}
	return 0
}

// streamSecretEnv names the stream-token secret shared with the server.
const streamSecretEnv = "IACE_STREAM_SECRET" //nolint:gosec // G101: the variable's name, not its value

// tokenMinter mints each simulated call a stream token, as IACE's webhook
// would when it answers the call.
func tokenMinter(secret []byte, org, agent, callID string, ttl time.Duration) func(int, string) (string, error) {
	return func(n int, ccid string) (string, error) {
		id := sim.NumberedID(callID, n)
		if callID == "" {
			id = "sim-" + strings.TrimPrefix(ccid, "v3:")
		}
		return telnyx.Mint(secret, telnyx.StreamClaims{CallID: id, OrgID: org, AgentID: agent, CallControlID: ccid}, time.Now(), ttl)
	}
}

func writeJSON(name string, rep *sim.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	if err := os.WriteFile(name, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	return nil
}

// progressLine redraws one status line; Run calls it every 500 ms.
func progressLine(w io.Writer) func(sim.Progress) {
	return func(p sim.Progress) {
		reply := "-"
		if p.ReplyP50 > 0 {
			reply = fmt.Sprintf("%.0fms", float64(p.ReplyP50)/float64(time.Millisecond))
		}
		fmt.Fprintf(w, "\r\033[K%5.1fs  live %d  completed %d  failed %d  reply p50 %s",
			p.Elapsed.Seconds(), p.Live, p.Completed, p.Failed, reply)
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
