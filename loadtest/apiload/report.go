package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// recorder keeps one client's samples: no lock, merged after the run.
type recorder struct {
	series map[string]*series
	start  time.Time // the run's
}

// series is one endpoint's samples.
type series struct {
	latencies []time.Duration
	errors    map[string]int // by status, or "transport"
	// sent is when each sample's request was sent, from the run's start;
	// status its answer's (0: none).
	sent   []time.Duration
	status []int16
}

func newRecorder() *recorder { return &recorder{series: map[string]*series{}} }

func (r *recorder) add(name string, d time.Duration, res result) { r.record(name, 0, d, res) }

// record adds a sample of a request sent at sent from the run's start.
func (r *recorder) record(name string, sent, d time.Duration, res result) {
	s := r.series[name]
	if s == nil {
		s = &series{errors: map[string]int{}}
		r.series[name] = s
	}
	s.latencies = append(s.latencies, d)
	s.sent = append(s.sent, sent)
	s.status = append(s.status, int16(min(max(res.status, 0), 999))) // #nosec G115 -- clamped to an HTTP status
	if res.failed() {
		s.errors[res.label()]++
	}
}

// merge joins the clients' recorders.
func merge(recs []*recorder) map[string]*series {
	out := map[string]*series{}
	for _, r := range recs {
		for name, s := range r.series {
			m := out[name]
			if m == nil {
				m = &series{errors: map[string]int{}}
				out[name] = m
			}
			m.latencies = append(m.latencies, s.latencies...)
			m.sent = append(m.sent, s.sent...)
			m.status = append(m.status, s.status...)
			for k, v := range s.errors {
				m.errors[k] += v
			}
		}
	}
	return out
}

// percentile is the nearest-rank percentile of sorted samples (the
// smallest sample with at least p of them at or below it), 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// endpointStats is one endpoint's line of the report.
type endpointStats struct {
	Name     string         `json:"name"`
	Count    int            `json:"count"`
	Errors   int            `json:"errors"`
	ErrorsBy map[string]int `json:"errors_by,omitempty"`
	RPS      float64        `json:"rps"`
	Mean     time.Duration  `json:"mean_ns"`
	P50      time.Duration  `json:"p50_ns"`
	P95      time.Duration  `json:"p95_ns"`
	P99      time.Duration  `json:"p99_ns"`
	Max      time.Duration  `json:"max_ns"`
}

// report is a run's result.
type report struct {
	URL       string          `json:"url"`
	Clients   int             `json:"clients"`
	Elapsed   time.Duration   `json:"elapsed_ns"`
	Requests  int             `json:"requests"`
	Errors    int             `json:"errors"`
	RPS       float64         `json:"rps"`
	P50       time.Duration   `json:"p50_ns"`
	P95       time.Duration   `json:"p95_ns"`
	P99       time.Duration   `json:"p99_ns"`
	Endpoints []endpointStats `json:"endpoints"`
	// Cache is the server's agent cache over the run, when -metrics is set.
	Cache *cacheDelta `json:"agent_cache,omitempty"`
	// LoginFailures counts clients that never logged in.
	LoginFailures int `json:"login_failures"`
	// Accepted is what the server took on, its 503s left out.
	Accepted *acceptedStats `json:"accepted,omitempty"`
}

// latencyStats are a set of samples' count and percentiles.
type latencyStats struct {
	Count int           `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
}

func statsOf(lat []time.Duration) latencyStats {
	slices.Sort(lat)
	return latencyStats{Count: len(lat), P50: percentile(lat, 0.50), P95: percentile(lat, 0.95), P99: percentile(lat, 0.99)}
}

// acceptedStats: the requests the server answered other than with 503
// (shed by its overload limit), over the run and by when they were sent.
// A login waits its turn at the password hasher by design, so the
// requests other than logins are counted apart too.
type acceptedStats struct {
	Shed      int           `json:"shed"`
	All       latencyStats  `json:"all"`
	NoLogins  latencyStats  `json:"without_logins"`
	Window    time.Duration `json:"window_ns,omitempty"`
	ByWindow  []windowStats `json:"windows,omitempty"`
	LoginName string        `json:"login_endpoint"`
}

// windowStats are the accepted requests sent in [From, From+Window).
type windowStats struct {
	From     time.Duration `json:"from_ns"`
	Shed     int           `json:"shed"`
	All      latencyStats  `json:"all"`
	NoLogins latencyStats  `json:"without_logins"`
}

// accepted computes the accepted requests' figures, by window when
// window > 0. Transport errors count as neither shed nor accepted.
func accepted(all map[string]*series, login string, window time.Duration) *acceptedStats {
	a := &acceptedStats{Window: window, LoginName: login}
	var every, others []time.Duration
	type bucket struct {
		shed          int
		every, others []time.Duration
	}
	var buckets []bucket
	for name, s := range all {
		for i, d := range s.latencies {
			st := s.status[i]
			if st == 0 {
				continue
			}
			var b *bucket
			if window > 0 {
				w := int(s.sent[i] / window)
				for len(buckets) <= w {
					buckets = append(buckets, bucket{})
				}
				b = &buckets[w]
			}
			if st == http.StatusServiceUnavailable {
				a.Shed++
				if b != nil {
					b.shed++
				}
				continue
			}
			every = append(every, d)
			if b != nil {
				b.every = append(b.every, d)
			}
			if name != login {
				others = append(others, d)
				if b != nil {
					b.others = append(b.others, d)
				}
			}
		}
	}
	a.All, a.NoLogins = statsOf(every), statsOf(others)
	for i, b := range buckets {
		a.ByWindow = append(a.ByWindow, windowStats{From: time.Duration(i) * window, Shed: b.shed,
			All: statsOf(b.every), NoLogins: statsOf(b.others)})
	}
	return a
}

// summarize computes the report of merged series over elapsed.
func summarize(all map[string]*series, elapsed time.Duration) report {
	var r report
	secs := elapsed.Seconds()
	var every []time.Duration
	for _, name := range slices.Sorted(maps.Keys(all)) {
		s := all[name]
		lat := slices.Clone(s.latencies)
		slices.Sort(lat)
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		e := endpointStats{Name: name, Count: len(lat), P50: percentile(lat, 0.50), P95: percentile(lat, 0.95),
			P99: percentile(lat, 0.99)}
		if len(lat) > 0 {
			e.Mean, e.Max = sum/time.Duration(len(lat)), lat[len(lat)-1]
		}
		for k, v := range s.errors {
			e.Errors += v
			if e.ErrorsBy == nil {
				e.ErrorsBy = map[string]int{}
			}
			e.ErrorsBy[k] = v
		}
		if secs > 0 {
			e.RPS = float64(e.Count) / secs
		}
		r.Requests += e.Count
		r.Errors += e.Errors
		r.Endpoints = append(r.Endpoints, e)
		every = append(every, lat...)
	}
	slices.Sort(every)
	r.P50, r.P95, r.P99 = percentile(every, 0.50), percentile(every, 0.95), percentile(every, 0.99)
	r.Elapsed = elapsed
	if secs > 0 {
		r.RPS = float64(r.Requests) / secs
	}
	return r
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// print writes the report as a table.
func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "%s: %d clients for %v: %d requests, %d errors, %.1f req/s; all p50 %s p95 %s p99 %s\n",
		r.URL, r.Clients, r.Elapsed.Round(time.Millisecond), r.Requests, r.Errors, r.RPS, ms(r.P50), ms(r.P95), ms(r.P99))
	if r.LoginFailures > 0 {
		fmt.Fprintf(w, "%d clients could not log in\n", r.LoginFailures)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\tcount\terrors\treq/s\tmean\tp50\tp95\tp99\tmax\t")
	for _, e := range r.Endpoints {
		errs := fmt.Sprint(e.Errors)
		if e.Errors > 0 {
			var by []string
			for _, k := range slices.Sorted(maps.Keys(e.ErrorsBy)) {
				by = append(by, fmt.Sprintf("%s:%d", k, e.ErrorsBy[k]))
			}
			errs += " (" + strings.Join(by, " ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", e.Name, e.Count, errs, e.RPS,
			ms(e.Mean), ms(e.P50), ms(e.P95), ms(e.P99), ms(e.Max))
	}
	_ = tw.Flush()
	if a := r.Accepted; a != nil && a.All.Count+a.Shed > 0 {
		fmt.Fprintf(w, "shed (503): %d of %d (%.1f%%); accepted p50 %s p95 %s p99 %s; without logins p50 %s p95 %s p99 %s\n",
			a.Shed, a.Shed+a.All.Count, 100*float64(a.Shed)/float64(a.Shed+a.All.Count),
			ms(a.All.P50), ms(a.All.P95), ms(a.All.P99), ms(a.NoLogins.P50), ms(a.NoLogins.P95), ms(a.NoLogins.P99))
		if len(a.ByWindow) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "sent\taccepted\tshed\tp95\tlogins\tp95 without logins\tp99 without logins\t")
			for _, b := range a.ByWindow {
				fmt.Fprintf(tw, "%v-%v\t%d\t%d\t%s\t%d\t%s\t%s\t\n", b.From, b.From+a.Window, b.All.Count, b.Shed,
					ms(b.All.P95), b.All.Count-b.NoLogins.Count, ms(b.NoLogins.P95), ms(b.NoLogins.P99))
			}
			_ = tw.Flush()
		}
	}
	if c := r.Cache; c != nil {
		if c.Reads == 0 {
			fmt.Fprintln(w, "agent cache: no reads during the run")
		} else {
			fmt.Fprintf(w, "agent cache: %.1f%% hits over %d reads (local %d, redis %d, database %d)\n",
				100*c.HitRate, c.Reads, c.LocalHits, c.RedisHits, c.Reads-c.LocalHits-c.RedisHits)
		}
	}
}
