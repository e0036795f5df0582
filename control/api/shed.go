package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/media/telemetry"
)

// ShedConfig is the API's overload shedding: a limit on the requests it
// serves at once, which adapts to how their latency and throughput move
// (failsafe-go's adaptive limiter) and is held to a latency target. A
// request beyond the limit is answered 503 with Retry-After at once,
// without waiting: under overload the accepted requests stay fast and the
// rest are told to come back, instead of every request waiting its turn
// behind all the others. The zero value is on, with the defaults below.
type ShedConfig struct {
	// Disabled serves every request, however many are already running.
	Disabled bool
	// Latency is how long accepted requests may take on average under
	// overload (default 15 ms). The limit is kept to the requests that
	// finish in that time at the rate requests are finishing (Little's
	// law: running = rate x time), so that the limit follows the node's
	// speed. It must be well above what a request takes on a quiet node
	// (2 to 5 ms), or the limit starves the node; the time a client
	// sees is longer (its request also waits to be read and answered),
	// and its 95th percentile two to three times this average.
	Latency time.Duration
	// MinLimit is the least the limit falls to (default 16; iace serve
	// sets 8 on a node that takes no calls). It is also
	// the burst that is never shed: a browser opening the console sends
	// half a dozen requests at once, and a quiet node must take them all.
	// On a node that serves fewer than MinLimit/Latency requests a second
	// (about a thousand with the defaults) it is this floor, not the
	// latency target, that holds the limit under overload.
	MinLimit int
	// MaxLimit is the most the limit rises to (default 128), whatever the
	// rate.
	MaxLimit int
	// InitialLimit is where the limit starts (default 24).
	InitialLimit int
}

// The defaults of ShedConfig. A request here takes about a millisecond of
// CPU and a few of waiting on the store.
const (
	defaultShedLatency      = 15 * time.Millisecond
	defaultShedMinLimit     = 16
	defaultShedMaxLimit     = 128
	defaultShedInitialLimit = 24
)

// shedRetryAfter is the Retry-After of a shed request, in seconds: the
// limit adapts within about a second, and a client that comes back sooner
// only adds to the overload.
const shedRetryAfter = "1"

// withDefaults fills the zero fields and checks the settings.
func (c ShedConfig) withDefaults() (ShedConfig, error) {
	if c.Latency == 0 {
		c.Latency = defaultShedLatency
	}
	if c.MinLimit == 0 {
		c.MinLimit = defaultShedMinLimit
	}
	if c.MaxLimit == 0 {
		c.MaxLimit = max(defaultShedMaxLimit, c.MinLimit)
	}
	if c.InitialLimit == 0 {
		c.InitialLimit = min(max(defaultShedInitialLimit, c.MinLimit), c.MaxLimit)
	}
	if c.Latency < 0 {
		return c, fmt.Errorf("api: shedding latency %v is negative", c.Latency)
	}
	if c.MinLimit < 1 || c.MinLimit > c.MaxLimit || c.InitialLimit < c.MinLimit || c.InitialLimit > c.MaxLimit {
		return c, fmt.Errorf("api: shedding limits min %d, initial %d, max %d: want 1 <= min <= initial <= max",
			c.MinLimit, c.InitialLimit, c.MaxLimit)
	}
	return c, nil
}

// The limiter's timing: it moves the limit at most every limitPeriod, and
// after limitSamples requests finished; the rate of finished requests is
// counted over rateWindow.
const (
	limitPeriod  = 100 * time.Millisecond
	limitSamples = 20
	rateWindow   = 500 * time.Millisecond
)

// rateMeter measures how many requests finish a second, over the last
// whole window.
type rateMeter struct {
	mu    sync.Mutex
	start time.Time // of the window being counted
	n     int       // finished in it
	rate  float64   // per second, over the last whole window
}

// done counts a request finished at now.
func (m *rateMeter) done(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(now)
	m.n++
}

// perSecond is the rate at now.
func (m *rateMeter) perSecond(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(now)
	return m.rate
}

// roll closes the window being counted once it is whole.
func (m *rateMeter) roll(now time.Time) {
	if m.start.IsZero() {
		m.start = now
		return
	}
	if d := now.Sub(m.start); d >= rateWindow {
		m.rate = float64(m.n) / d.Seconds()
		m.start, m.n = now, 0
	}
}

// shedder answers the requests beyond the API's concurrency limit with 503.
type shedder struct {
	limiter adaptivelimiter.AdaptiveLimiter[any] // nil: shedding is off
	// finished measures the rate at which limited requests finish, for
	// the latency target.
	finished rateMeter
	// classes tells the requests that are not limited, or limited
	// differently, from the rest (see shedClass).
	classes *http.ServeMux
	shed    prometheus.Counter
}

// A request's class decides how the limit treats it.
type shedClass int

const (
	// shedLimited: the request holds a permit while it runs, and its
	// duration teaches the limiter.
	shedLimited shedClass = iota
	// shedAdmitOnly: the request is shed when the API is at its limit,
	// but once admitted it holds no permit. These are the requests that
	// hash a password (login, a password change). They are the most
	// expensive the API serves, and a node past its capacity should not
	// start an argon2id hash, so they are shed like the rest. But most of
	// their time is the wait for a hash slot, which control/auth bounds
	// on its own (slots, queue and wait, beyond which it answers 503 with
	// Retry-After): holding permits through that wait would let a login
	// storm fill the limit and shed every other request while the logins
	// queue for the hasher, and their seconds of waiting would teach the
	// limiter that the API is slow. Their CPU still slows the requests
	// that hold permits, and so lowers the limit.
	shedAdmitOnly
	// shedExempt: the request is never shed and holds no permit. These
	// are the live event streams, which last as long as the client
	// watches and would hold a permit for all that time, and the actions
	// on a call in progress (transfer, hang-up, a supervisor's role and
	// whispers): a caller is on the line, they are rare (a supervisor's
	// own rate limit bounds them), and a transfer's time is Telnyx's,
	// which says nothing about this node's load.
	shedExempt
)

// shedRoutes are the requests not limited as the rest are, as ServeMux
// patterns (TestShedRoutesAreOperations keeps them in step with the
// routes).
var shedRoutes = map[string]shedClass{
	"POST " + Prefix + "/auth/login":          shedAdmitOnly,
	"POST " + Prefix + "/auth/password":       shedAdmitOnly,
	"GET " + Prefix + "/calls/live/events":    shedExempt,
	"GET " + Prefix + "/calls/{id}/events":    shedExempt,
	"POST " + Prefix + "/calls/{id}/transfer": shedExempt,
	"POST " + Prefix + "/calls/{id}/hangup":   shedExempt,
	"POST " + Prefix + "/calls/{id}/role":     shedExempt,
	"POST " + Prefix + "/calls/{id}/whisper":  shedExempt,
}

// classHandler marks a pattern of shedder.classes; it serves nothing.
type classHandler shedClass

func (classHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// newShedder builds the limiter of cfg and registers its metrics:
// iace_api_shed_total always, and the limit and the requests holding a
// permit (iace_api_concurrency_limit, iace_api_inflight) when it is on.
func newShedder(cfg ShedConfig, reg prometheus.Registerer, log *slog.Logger) (*shedder, error) {
	s := &shedder{
		shed: telemetry.MustRegister(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iace", Subsystem: "api", Name: "shed_total",
			Help: "Control API requests answered 503 because the API was at its concurrency limit."})),
	}
	if cfg.Disabled {
		return s, nil
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s.classes = http.NewServeMux()
	for pattern, class := range shedRoutes {
		s.classes.Handle(pattern, classHandler(class))
	}
	s.limiter = adaptivelimiter.NewBuilder[any]().
		WithLimits(uint(cfg.MinLimit), uint(cfg.MaxLimit), uint(cfg.InitialLimit)).
		// The limiter's own bound on the limit is a multiple of the
		// requests running; this one is the latency target's instead
		// (ShedConfig.Latency), never below the minimum.
		WithMaxLimitFunc(func(int) float64 {
			return max(float64(cfg.MinLimit), s.finished.perSecond(time.Now())*cfg.Latency.Seconds())
		}).
		// The limit moves by one a time, so it is moved up to ten times a
		// second (the library's default is once): from a limit the rate
		// no longer supports to the target takes seconds, not minutes.
		// Each move still needs limitSamples requests finished.
		WithRecentWindow(limitPeriod, time.Second, limitSamples).
		// Each move of the limit, with the figures behind it, at debug.
		WithLogger(log.With("component", "api shedding")).
		Build()
	telemetry.MustRegister(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "api", Name: "concurrency_limit",
		Help: "How many control API requests may run at once before more are shed (it adapts to their latency)."},
		func() float64 { return float64(s.limiter.Limit()) }))
	telemetry.MustRegister(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "api", Name: "inflight",
		Help: "Control API requests running under the concurrency limit."},
		func() float64 { return float64(s.limiter.Inflight()) }))
	return s, nil
}

// class is how the limit treats r.
func (s *shedder) class(r *http.Request) shedClass {
	h, pattern := s.classes.Handler(r)
	if pattern == "" {
		return shedLimited
	}
	c, _ := h.(classHandler)
	return shedClass(c)
}

// wrap sheds the requests to the routes of next beyond the limit.
func (s *shedder) wrap(next *http.ServeMux) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.class(r) {
		case shedExempt:
			next.ServeHTTP(w, r)
			return
		case shedAdmitOnly:
			if !s.limiter.CanAcquirePermit() {
				s.refuse(w, r, next)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		p, ok := s.limiter.TryAcquirePermit()
		if !ok {
			s.refuse(w, r, next)
			return
		}
		done := false
		defer func() {
			s.finished.done(time.Now())
			// A request that panicked or whose client went away ended
			// early: its duration says nothing of the API's latency.
			if !done || r.Context().Err() != nil {
				p.Drop()
				return
			}
			p.Record()
		}()
		next.ServeHTTP(w, r)
		done = true
	})
}

// refuse answers a shed request: 503 with Retry-After, as the API's other
// problems are written. It names the route the request was for, as routes
// does when it serves one, so that the access log and the request metrics
// count it under its route.
func (s *shedder) refuse(w http.ResponseWriter, r *http.Request, routes *http.ServeMux) {
	s.shed.Inc()
	_, r.Pattern = routes.Handler(r)
	w.Header().Set("Retry-After", shedRetryAfter)
	writeProblem(w, r, http.StatusServiceUnavailable, "the server is at capacity; retry after "+shedRetryAfter+" s")
}
