// Command chaos is the chaos part of IACE's reliability suite: three
// `iace serve` nodes sharing PostgreSQL and Redis behind the load balancer
// of loadtest/lb, calls placed as Telnyx places them (a signed
// call.initiated webhook through the load balancer, the node's answer
// command on the in-repo Call Control fake, then the media stream with the
// answer's token, played by callsim's sim package), and one failure per
// case while the calls go on:
//
//	hangup     call.hangup webhooks posted to a node that does not hold the call
//	kill       a node killed with SIGKILL
//	recover    a node killed with SIGKILL, its calls taken up by the others (--recover-lost-calls)
//	redis      Redis shut down and started again
//	postgres   PostgreSQL stopped, then started
//	providers  speech to text, the chat model and text to speech failing in turn
//	rolling    every node restarted in turn (SIGTERM, drain, start)
//
// After each case it reads the calls' records from PostgreSQL and checks
// them (end reasons, outcomes, counts) with what the callers lived, and
// prints a report per case, as text and as JSON (-out). loadtest/chaos.sh
// prepares the machine (a fresh database, the binaries) and runs it; see
// docs/RELIABILITY.md for what each case measures.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// allCases are the cases in the order they run.
var allCases = []string{"hangup", "kill", "recover", "restart", "redis", "postgres", "providers", "rolling"}

// config is the suite's flags.
type config struct {
	IACE, LB     string
	DBURL        string
	RedisURL     string
	Prefix       string
	Out          string
	Cases        []string
	Calls        int
	Ramp         time.Duration
	Hold         time.Duration
	BasePort     int
	Heartbeat    time.Duration
	LostAfter    time.Duration
	DrainTimeout time.Duration
	RedisOutage  time.Duration
	PGOutage     time.Duration
	ProvOutage   time.Duration
	Hangups      int
	RollingLines int
	RedisStop    string
	RedisStart   string
	PGStop       string
	PGStart      string
	AgentsFile   string
	Number       string
	ExtraFlags   []string
	LogLevel     string
	SkipSetup    bool
	// OneStream makes the fake Call Control refuse a second stream of a
	// call, as Telnyx's media streaming guide allows one per call: moves
	// then stop the old stream before the new one opens.
	OneStream bool
	// NoStreamWebhooks: the recover case posts no streaming.failed for
	// the dead streams, so that the reaper alone takes the calls up.
	NoStreamWebhooks bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cases := fs.String("cases", strings.Join(allCases, ","), "comma-separated cases to run, in this order: "+strings.Join(allCases, ", "))
	extra := fs.String("node-flags", "", "more flags for every node's iace serve, space-separated")
	fs.StringVar(&c.IACE, "iace", "bin/iace", "the iace binary")
	fs.StringVar(&c.LB, "lb", "bin/lb", "the load balancer binary (loadtest/lb)")
	fs.StringVar(&c.DBURL, "db", "", "PostgreSQL URL of a database for this run (its schema is migrated and an organization created)")
	fs.StringVar(&c.RedisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL the nodes share")
	fs.StringVar(&c.Prefix, "prefix", "", "Redis key prefix of the run (default: chaos:<random>:); each case adds its name")
	fs.StringVar(&c.Out, "out", "loadtest/out/chaos", "directory of the reports and the nodes' logs")
	fs.IntVar(&c.Calls, "calls", 300, "concurrent calls")
	fs.DurationVar(&c.Ramp, "ramp", 30*time.Second, "time over which the calls start")
	fs.DurationVar(&c.Hold, "hold", 20*time.Second, "steady time before each failure and after it")
	fs.IntVar(&c.BasePort, "base-port", 18400, "the load balancer's port; nodes use the next three, their internal listeners base+11 to base+13")
	fs.DurationVar(&c.Heartbeat, "heartbeat", 2*time.Second, "the nodes' --cluster-heartbeat")
	fs.DurationVar(&c.LostAfter, "lost-after", 10*time.Second, "the nodes' --cluster-lost-after (the recover case's callers wait this, two heartbeats and 5 s for a new stream)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "the nodes' --drain-timeout")
	fs.DurationVar(&c.RedisOutage, "redis-outage", 10*time.Second, "how long Redis stays down")
	fs.DurationVar(&c.PGOutage, "pg-outage", 30*time.Second, "how long PostgreSQL stays stopped")
	fs.DurationVar(&c.ProvOutage, "provider-outage", 10*time.Second, "how long each provider fails")
	fs.IntVar(&c.Hangups, "hangups", 0, "call.hangup webhooks of the hangup case (0: a third of -calls)")
	fs.IntVar(&c.RollingLines, "rolling-lines", 14, "lines each caller of the rolling case says (about 5.5 s each)")
	fs.StringVar(&c.RedisStop, "redis-stop", "redis-cli shutdown nosave", "command line that stops Redis")
	fs.StringVar(&c.RedisStart, "redis-start", "", "command line that starts Redis again")
	fs.StringVar(&c.PGStop, "pg-stop", "", "command line that stops PostgreSQL")
	fs.StringVar(&c.PGStart, "pg-start", "", "command line that starts PostgreSQL")
	fs.StringVar(&c.AgentsFile, "agents-file", "loadtest/chaos/agent.json", "the agents file the nodes import (its organization is created)")
	fs.StringVar(&c.Number, "number", "+15550003000", "the number the calls dial: the agent's in -agents-file")
	fs.StringVar(&c.LogLevel, "log-level", "info", "the nodes' --log-level")
	fs.BoolVar(&c.OneStream, "one-stream", false, "the fake Call Control refuses a call's second stream (Telnyx's documented limit): moves stop the old stream first")
	fs.BoolVar(&c.NoStreamWebhooks, "no-stream-webhooks", false, "the recover case posts no streaming.failed for the dead streams: the reaper alone takes the calls up")
	fs.BoolVar(&c.SkipSetup, "skip-setup", false, "the database is migrated and the organization exists already")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.ExtraFlags = strings.Fields(*extra)
	for _, name := range strings.Split(*cases, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !slices.Contains(allCases, name) {
			return c, fmt.Errorf("unknown case %q (cases: %s)", name, strings.Join(allCases, ", "))
		}
		c.Cases = append(c.Cases, name)
	}
	switch {
	case c.DBURL == "":
		return c, errors.New("-db is required: a PostgreSQL database for this run")
	case c.Calls < 3:
		return c, errors.New("-calls: at least 3")
	case slices.Contains(c.Cases, "redis") && c.RedisStart == "":
		return c, errors.New("the redis case needs -redis-start")
	case slices.Contains(c.Cases, "postgres") && (c.PGStop == "" || c.PGStart == ""):
		return c, errors.New("the postgres case needs -pg-stop and -pg-start")
	}
	if c.Prefix == "" {
		c.Prefix = "chaos:" + strings.ToLower(rand.Text()[:8]) + ":"
	}
	if c.Hangups == 0 {
		c.Hangups = c.Calls / 3
	}
	return c, nil
}

// runner runs the cases of one suite run.
type runner struct {
	cfg          config
	tel          *fakeTelnyx
	rdb          *redis.Client
	streamSecret string
	authSecret   string
	// adminPassword is the password setup gives the organization's
	// admin (adminEmail); "" with -skip-setup.
	adminPassword string
	log           io.Writer
	prov          *fakeProviders // started for the providers case
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(cfg.Out, 0o750); err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	r, err := newRunner(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	defer r.close()
	var reps []caseReport
	for _, name := range cfg.Cases {
		fmt.Fprintf(stderr, "chaos: case %s (%d calls)\n", name, cfg.Calls)
		rep := r.runCase(ctx, name)
		reps = append(reps, rep)
		printText(stderr, []caseReport{rep})
		if ctx.Err() != nil {
			break
		}
	}
	printText(stdout, reps)
	b, _ := json.MarshalIndent(reps, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg.Out, "report.json"), append(b, '\n'), 0o600); err != nil { //nolint:gosec // G703: the report directory the operator chose
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	for _, rep := range reps {
		if !rep.passed() {
			return 1
		}
	}
	return 0
}

func newRunner(ctx context.Context, cfg config, log io.Writer) (*runner, error) {
	tel, err := newFakeTelnyx(cfg.Number)
	if err != nil {
		return nil, err
	}
	tel.cc.OneStreamPerCall(cfg.OneStream)
	go tel.dispatch(ctx)
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		tel.Close()
		return nil, fmt.Errorf("-redis: %w", err)
	}
	secret := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	r := &runner{cfg: cfg, tel: tel, rdb: redis.NewClient(opts), streamSecret: secret(), authSecret: secret(), log: log}
	if !cfg.SkipSetup {
		r.adminPassword = "chaos suite password " + rand.Text()[:12]
		if err := r.setup(ctx); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

func (r *runner) close() {
	r.tel.Close()
	_ = r.rdb.Close()
	if r.prov != nil {
		r.prov.Close()
	}
}

// env is the nodes' environment: this process's without its IACE_
// settings, plus the run's.
func (r *runner) env(providers bool) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IACE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "IACE_DATABASE_URL="+r.cfg.DBURL, "IACE_REDIS_URL="+r.cfg.RedisURL,
		"IACE_STREAM_SECRET="+r.streamSecret, "IACE_AUTH_SECRET="+r.authSecret, "IACE_TELNYX_API_KEY="+telnyxKey)
	if providers {
		env = append(env, "IACE_LLM_API_KEY="+providerKey, "IACE_DEEPGRAM_API_KEY="+providerKey)
	}
	return env
}

// setup migrates the database and creates the agents file's organization.
func (r *runner) setup(ctx context.Context) error {
	org, err := agentsOrg(r.cfg.AgentsFile)
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"migrate", "up"},
		{"user", "create", "--org", org, "--email", adminEmail},
	} {
		cmd := exec.CommandContext(ctx, r.cfg.IACE, args...) //nolint:gosec // G204: the suite's iace binary
		cmd.Env = append(r.env(false), "IACE_USER_PASSWORD="+r.adminPassword)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("iace %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// agentsOrg is the organization of the agents file's first agent.
func agentsOrg(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var agents []struct {
		OrgID string `json:"org_id"`
	}
	if err := json.Unmarshal(b, &agents); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(agents) == 0 || agents[0].OrgID == "" {
		return "", fmt.Errorf("%s: the first agent names no org_id", path)
	}
	return agents[0].OrgID, nil
}

// runCase runs one case on a cluster of its own.
func (r *runner) runCase(ctx context.Context, name string) (rep caseReport) {
	rep = caseReport{Case: name, Calls: r.cfg.Calls, Started: time.Now(), Settings: map[string]string{}}
	load0 := loadAverage()
	defer func() {
		rep.Elapsed = ms(time.Since(rep.Started))
		// Other work on the machine shows here: the figures of a case
		// whose load ran far above the cores are the machine's as much as
		// the suite's.
		rep.Settings["load_average"] = fmt.Sprintf("%s at the start, %s at the end (%d cores)", load0, loadAverage(), runtime.NumCPU())
	}()
	var (
		fn   caseFunc
		opts clusterOptions
	)
	switch name {
	case "hangup":
		fn = r.caseHangup
	case "kill":
		fn = r.caseKill
	case "recover":
		fn, opts.recover = r.caseRecover, true
	case "restart":
		fn, opts.recover = r.caseRestart, true
	case "redis":
		fn = r.caseRedis
	case "postgres":
		fn = r.casePostgres
	case "providers":
		fn, opts.providers = r.caseProviders, true
	case "rolling":
		fn = r.caseRolling
	default:
		return rep
	}
	if err := r.onCluster(ctx, &rep, opts, fn); err != nil {
		rep.Error = err.Error()
	}
	return rep
}

// loadAverage is the one-minute load average ("?" where /proc is not).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// progressf prints a progress line.
func (r *runner) progressf(format string, args ...any) {
	fmt.Fprintf(r.log, "chaos: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
