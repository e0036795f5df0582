// Command apiload loads IACE's control API the way its users do: many
// clients, each logged in once, browsing calls (following cursors), call
// details, agents, customers, analytics and patterns, and refreshing their
// tokens now and then. It reports each endpoint's count, errors and
// latency percentiles, the overall rate and, from the server's /metrics,
// the agent cache hit rate. With -seed it first writes a data set to
// PostgreSQL. See README.md.
//
//	IACE_LOAD_PASSWORD=... go run ./loadtest/apiload -seed -database-url postgres://... -email load@example.com
//	IACE_LOAD_PASSWORD=... go run ./loadtest/apiload -url http://127.0.0.1:8080 -email load@example.com \
//	    -clients 200 -duration 60s -metrics http://127.0.0.1:9090/metrics
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// config is a load run's settings.
type config struct {
	url      string
	email    string
	password string
	clients  int
	duration time.Duration
	ramp     time.Duration
	think    time.Duration
	timeout  time.Duration
	metrics  string
	mix      string
	jsonOut  string
	window   time.Duration
	seed     uint64
}

func main() { os.Exit(mainCode()) }

// mainCode runs the command and returns its exit status: 0 when every
// request succeeded, 1 when some failed, 2 when it could not run.
func mainCode() int {
	var (
		c        config
		sc       seedConfig
		doSeed   bool
		seedOnly bool
	)
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the server's public base URL")
	flag.StringVar(&c.email, "email", os.Getenv("IACE_LOAD_EMAIL"), "the user every client logs in as (env IACE_LOAD_EMAIL)")
	flag.StringVar(&c.password, "password", "", "its password (better: env IACE_LOAD_PASSWORD)")
	flag.IntVar(&c.clients, "clients", 200, "concurrent clients")
	flag.DurationVar(&c.duration, "duration", 60*time.Second, "how long the load runs (ramp included)")
	flag.DurationVar(&c.ramp, "ramp", 5*time.Second, "clients start evenly over this time")
	flag.DurationVar(&c.think, "think", 250*time.Millisecond, "mean think time between a client's requests (exponential); 0: back to back")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.StringVar(&c.metrics, "metrics", "", "the server's internal /metrics URL, for the agent cache hit rate (e.g. http://127.0.0.1:9090/metrics)")
	flag.StringVar(&c.mix, "mix", "", "weights overriding the default mix, e.g. calls.list=10,analytics=0 (see README.md)")
	flag.StringVar(&c.jsonOut, "json", "", "also write the report as JSON to this file")
	flag.DurationVar(&c.window, "window", 10*time.Second, "report the accepted requests (those not shed with 503) by when they were sent, in windows this long; 0: over the run only")
	flag.Uint64Var(&c.seed, "rand-seed", 1, "seed of the clients' random choices")
	flag.BoolVar(&doSeed, "seed", false, "seed the database (DATABASE_URL) before the load")
	flag.BoolVar(&seedOnly, "seed-only", false, "seed and exit, without load")
	flag.StringVar(&sc.databaseURL, "database-url", firstEnv("DATABASE_URL", "IACE_DATABASE_URL"), "PostgreSQL URL to seed (env DATABASE_URL or IACE_DATABASE_URL)")
	flag.StringVar(&sc.schema, "schema", "", "PostgreSQL schema to seed (\"\": the server's default search_path)")
	flag.StringVar(&sc.prefix, "prefix", "apiload-", "prefix of every seeded id; the organization is <prefix>org")
	flag.IntVar(&sc.calls, "calls", 10000, "calls to seed")
	flag.IntVar(&sc.turns, "turns", 10, "turns per seeded call")
	flag.IntVar(&sc.patterns, "patterns", 1000, "patterns to seed")
	flag.IntVar(&sc.workers, "workers", 4, "concurrent writers while seeding")
	flag.Parse()
	if c.password == "" {
		c.password = os.Getenv("IACE_LOAD_PASSWORD")
	}
	sc.email, sc.password = c.email, c.password

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "apiload: "+format+"\n", args...) }
	if doSeed || seedOnly {
		if err := seed(ctx, sc, hashArgon2id, logf); err != nil {
			fmt.Fprintln(os.Stderr, "apiload:", err)
			return 2
		}
		if seedOnly {
			return 0
		}
	}
	rep, err := run(ctx, c, logf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiload:", err)
		return 2
	}
	rep.print(os.Stdout)
	if c.jsonOut != "" {
		if err := writeJSON(c.jsonOut, rep); err != nil {
			fmt.Fprintln(os.Stderr, "apiload:", err)
			return 2
		}
	}
	if rep.Errors > 0 || rep.LoginFailures > 0 {
		return 1
	}
	return 0
}

func firstEnv(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// validate reports every problem of the settings at once.
func (c config) validate() error {
	var errs []error
	if !strings.HasPrefix(c.url, "http://") && !strings.HasPrefix(c.url, "https://") {
		errs = append(errs, fmt.Errorf("-url %q is not an http(s) URL", c.url))
	}
	if c.email == "" || c.password == "" {
		errs = append(errs, errors.New("an email (-email or IACE_LOAD_EMAIL) and a password (IACE_LOAD_PASSWORD) are needed"))
	}
	if c.clients < 1 || c.clients > 10000 {
		errs = append(errs, fmt.Errorf("-clients %d is not in 1..10000", c.clients))
	}
	if c.duration <= 0 || c.ramp < 0 || c.ramp >= c.duration {
		errs = append(errs, fmt.Errorf("-duration %v must be positive and longer than -ramp %v", c.duration, c.ramp))
	}
	if c.think < 0 || c.timeout <= 0 {
		errs = append(errs, errors.New("-think must not be negative, -timeout must be positive"))
	}
	if c.window < 0 {
		errs = append(errs, fmt.Errorf("-window %v must not be negative", c.window))
	}
	return errors.Join(errs...)
}

// run starts the clients over the ramp, stops them after the duration and
// summarizes what they recorded.
func run(ctx context.Context, c config, logf func(string, ...any)) (report, error) {
	if err := c.validate(); err != nil {
		return report{}, err
	}
	c.url = strings.TrimRight(c.url, "/")
	ops, err := parseWeights(defaultMix, c.mix)
	if err != nil {
		return report{}, err
	}
	mix, err := newPicker(ops)
	if err != nil {
		return report{}, err
	}
	hc := &http.Client{Timeout: c.timeout, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConns: c.clients + 10, MaxIdleConnsPerHost: c.clients + 10,
		IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true,
	}}
	defer hc.CloseIdleConnections()

	var before cacheCounters
	if c.metrics != "" {
		if before, err = scrapeCache(ctx, hc, c.metrics); err != nil {
			return report{}, err
		}
	}
	logf("%d clients against %s for %v (ramp %v, think %v)", c.clients, c.url, c.duration, c.ramp, c.think)
	loadCtx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	clients := make([]*client, c.clients)
	loginErrs := make([]error, c.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		cl := &client{id: i, cfg: c, http: hc, mix: mix, rng: rand.New(rand.NewPCG(c.seed, uint64(i))), rec: newRecorder()}
		cl.rec.start = start
		cl.state.now = time.Now
		clients[i] = cl
		delay := time.Duration(0)
		if c.clients > 1 {
			delay = c.ramp * time.Duration(i) / time.Duration(c.clients-1)
		}
		wg.Go(func() {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
			}
			loginErrs[i] = cl.run(loadCtx)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	recs := make([]*recorder, len(clients))
	for i, cl := range clients {
		recs[i] = cl.rec
	}
	merged := merge(recs)
	rep := summarize(merged, elapsed)
	rep.Accepted = accepted(merged, "POST "+pathLogin, c.window)
	rep.URL, rep.Clients = c.url, c.clients
	var firstLoginErr error
	for _, err := range loginErrs {
		if err != nil {
			rep.LoginFailures++
			firstLoginErr = cmpOr(firstLoginErr, err)
		}
	}
	if firstLoginErr != nil {
		logf("%d clients could not log in; the first: %v", rep.LoginFailures, firstLoginErr)
	}
	if c.metrics != "" && ctx.Err() == nil {
		after, err := scrapeCache(ctx, hc, c.metrics)
		if err != nil {
			return rep, err
		}
		d := after.minus(before)
		rep.Cache = &d
	}
	return rep, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func writeJSON(path string, rep report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = encodeJSON(f, rep)
	return errors.Join(err, f.Close())
}

func encodeJSON(w io.Writer, rep report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
