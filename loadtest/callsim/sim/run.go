package sim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Run places calls against cfg.URL as Telnyx would and returns what happened.
// It returns an error only when it cannot start (bad config, unreadable audio)
// or, together with the partial report, when ctx is cancelled; failed calls
// are reported in the Report (see Report.Failed). Everything is bounded: each
// call by cfg.CallTimeout and the run by cfg.Duration + cfg.Grace, after which
// live calls are aborted. Run returns only when all of its goroutines have.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Report{}, fmt.Errorf("callsim: %w", err)
	}
	return run(ctx, cfg, websocketDialer(&cfg))
}

// run is Run with the transport injected.
func run(ctx context.Context, cfg Config, dial dialFunc) (Report, error) {
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1
	}
	texts := slices.Clone(cfg.Script)
	if cfg.BargeIn > 0 {
		texts = append(texts, cfg.BargeInText)
	}
	if cfg.Transfer > 0 {
		texts = append(texts, cfg.TransferText)
	}
	lib, err := loadLibrary(cfg.Audio, texts, cfg.NoiseDB, cfg.Seed)
	if err != nil {
		return Report{}, err
	}

	r := &runner{cfg: &cfg, lib: lib, dial: dial, dialSem: make(chan struct{}, maxDialing)}
	r.col.wake = make(chan struct{}, 1)
	start := time.Now()
	limit := cfg.Duration
	if limit == 0 {
		limit = cfg.Ramp + cfg.DialTimeout + cfg.CallTimeout
	}
	runCtx, cancel := context.WithDeadlineCause(ctx, start.Add(limit+cfg.Grace), errors.New("grace period over"))
	defer cancel()

	noMore := make(chan struct{})
	var shards sync.WaitGroup
	r.shards = make([]*shard, cfg.Shards)
	for i := range r.shards {
		s := &shard{col: &r.col}
		r.shards[i] = s
		offset := frameDuration * time.Duration(i) / time.Duration(len(r.shards))
		shards.Go(func() { s.run(runCtx, noMore, offset) })
	}
	progressDone := make(chan struct{})
	var progress sync.WaitGroup
	if cfg.Progress != nil {
		progress.Go(func() { r.progress(start, progressDone) })
	}

	r.launch(runCtx, start)
	r.dials.Wait()
	close(noMore)
	shards.Wait()
	r.readers.Wait()
	close(progressDone)
	progress.Wait()

	rep := Report{Seed: cfg.Seed, URL: cfg.URL, Started: start, Elapsed: time.Since(start)}
	rep.Calls = r.col.results
	slices.SortFunc(rep.Calls, func(a, b CallResult) int { return a.N - b.N })
	rep.Slow.Rate = cfg.SlowRate
	rep.summarizeCalls()
	rep.Jitter = r.col.jitter.stats()
	rep.SenderLag = r.col.lag.stats()
	rep.SkippedTicks = int(r.col.skipped.Load())
	if err := r.saveAudio(); err != nil {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("callsim: %w", err)
	}
	return rep, nil
}

// maxDialing bounds concurrent WebSocket handshakes, so a ramp of thousands
// of calls does not open them all in the same millisecond.
const maxDialing = 64

// runner places the calls of one run.
type runner struct {
	cfg     *Config
	lib     *library
	dial    dialFunc
	dialSem chan struct{}
	shards  []*shard
	col     collector
	dials   sync.WaitGroup // dialing goroutines
	readers sync.WaitGroup // one reader per connected call

	recMu sync.Mutex
	recs  []*call // calls whose audio is saved
}

// launch starts calls on schedule until the run allows no more and all have
// ended, or ctx is done. With Duration set, an ended call is replaced at once.
func (r *runner) launch(ctx context.Context, start time.Time) {
	cfg := r.cfg
	stopNew := start.Add(cfg.Duration)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	launched := 0
	for {
		now := time.Now()
		live := launched - int(r.col.ended.Load())
		more := launched < cfg.Calls
		if cfg.Duration > 0 {
			more = now.Before(stopNew)
		}
		wait := time.Duration(-1)
		if more && live < cfg.Calls && ctx.Err() == nil {
			due := start
			if launched < cfg.Calls {
				due = start.Add(cfg.Ramp * time.Duration(launched) / time.Duration(cfg.Calls))
			}
			if !now.Before(due) {
				launched++
				r.startCall(ctx, launched)
				continue
			}
			wait = due.Sub(now)
		}
		if !more && live == 0 {
			return
		}
		if more && cfg.Duration > 0 && (wait < 0 || stopNew.Sub(now) < wait) {
			wait = stopNew.Sub(now)
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			if live == 0 {
				return
			}
			// The shards abort live calls; keep counting them down.
			<-r.col.wake
		case <-r.col.wake:
		case <-tc:
		}
	}
}

// startCall dials call n in its own short-lived goroutine and hands it to a
// shard.
func (r *runner) startCall(ctx context.Context, n int) {
	c := newCall(n, r.cfg, r.lib, &r.col, r.cfg.Seed)
	r.col.started.Add(1)
	if r.cfg.SaveAudioDir != "" && n <= r.cfg.SaveAudioCalls {
		c.rec = &recorder{}
		r.recMu.Lock()
		r.recs = append(r.recs, c)
		r.recMu.Unlock()
	}
	r.dials.Go(func() {
		conn, err := r.connect(ctx, c)
		if err != nil {
			outcome := OutcomeFailed
			if ctx.Err() != nil {
				outcome = OutcomeAborted
			} else if r.cfg.Duration > 0 {
				// Hold the slot a moment so a refusing server is not
				// hammered by instant replacements.
				t := time.NewTimer(time.Second)
				select {
				case <-t.C:
				case <-ctx.Done():
				}
				t.Stop()
			}
			c.mu.Lock()
			c.finishLocked(time.Now(), outcome, "", ErrConnect, err.Error())
			c.mu.Unlock()
			r.col.publish(c)
			return
		}
		c.conn = conn
		if err := c.begin(time.Now()); err != nil {
			_ = conn.Close()
			c.fail(time.Now(), ErrWriteError, err.Error())
			r.col.publish(c)
			return
		}
		r.readers.Go(c.readLoop)
		r.shards[n%len(r.shards)].add(c)
	})
}

// connect dials call c with at most maxDialing handshakes at once.
func (r *runner) connect(ctx context.Context, c *call) (wsConn, error) {
	url, err := r.cfg.callURL(c.n, c.id.callControlID)
	if err != nil {
		return nil, err
	}
	select {
	case r.dialSem <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-r.dialSem }()
	dctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	defer cancel()
	if c.res.Slow {
		dctx = withReadRate(dctx, r.cfg.SlowRate)
	}
	return r.dial(dctx, url)
}

// progress reports to cfg.Progress until done is closed.
func (r *runner) progress(start time.Time, done <-chan struct{}) {
	t := time.NewTicker(r.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			r.cfg.Progress(r.col.snapshot(start))
		}
	}
}

// saveAudio writes what the recorded callers heard.
func (r *runner) saveAudio() error {
	if r.cfg.SaveAudioDir == "" {
		return nil
	}
	if err := os.MkdirAll(r.cfg.SaveAudioDir, 0o750); err != nil {
		return fmt.Errorf("callsim: save audio: %w", err)
	}
	var errs []error
	for _, c := range r.recs {
		c.mu.Lock()
		pcm := c.rec.render()
		c.mu.Unlock()
		name := filepath.Join(r.cfg.SaveAudioDir, fmt.Sprintf("call-%d.wav", c.n))
		if err := writeWAVFile(name, pcm); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// collector gathers finished calls and the figures sampled while they run.
type collector struct {
	started atomic.Int64
	ended   atomic.Int64
	failed  atomic.Int64
	wake    chan struct{} // signalled when a call ends

	reply   histogram // live, for the progress line; the report uses exact samples
	jitter  histogram
	lag     histogram
	skipped atomic.Int64

	mu      sync.Mutex
	results []CallResult
}

// publish records a finished call.
func (col *collector) publish(c *call) {
	res := c.result()
	col.mu.Lock()
	col.results = append(col.results, res)
	col.mu.Unlock()
	if res.Outcome != OutcomeCompleted {
		col.failed.Add(1)
	}
	col.ended.Add(1)
	select {
	case col.wake <- struct{}{}:
	default:
	}
}

func (col *collector) snapshot(start time.Time) Progress {
	started, ended, failed := int(col.started.Load()), int(col.ended.Load()), int(col.failed.Load())
	return Progress{
		Elapsed:   time.Since(start),
		Live:      started - ended,
		Started:   started,
		Completed: ended - failed,
		Failed:    failed,
		ReplyP50:  col.reply.percentile(50),
	}
}

// uuid returns a random version 4 UUID; Telnyx's examples print stream IDs
// in upper case.
func uuid(rng *rand.Rand, upper bool) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	if upper {
		s = strings.ToUpper(s)
	}
	return s
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// joinScript joins lines for custom_parameters["sim_script"]; a "|" inside a
// line would split it, so it becomes a space.
func joinScript(lines []string) string {
	clean := make([]string, len(lines))
	for i, l := range lines {
		clean[i] = strings.ReplaceAll(l, "|", " ")
	}
	return strings.Join(clean, "|")
}
