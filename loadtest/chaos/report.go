package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/iace/iace/loadtest/callsim/sim"
)

// caseReport is what one case measured and whether its checks held.
type caseReport struct {
	Case     string            `json:"case"`
	Calls    int               `json:"calls"`
	Started  time.Time         `json:"started_at"`
	Elapsed  ms                `json:"elapsed_ms"`
	Settings map[string]string `json:"settings,omitempty"`
	Figures  []figure          `json:"figures"`
	Groups   []groupStats      `json:"groups,omitempty"`
	Checks   []check           `json:"checks"`
	LB       *lbStats          `json:"lb,omitempty"`
	Notes    []string          `json:"notes,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// figure is one measured value, as printed.
type figure struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// check is one expectation of a case.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func (r *caseReport) fig(name string, v any) {
	r.Figures = append(r.Figures, figure{Name: name, Value: v})
}

func (r *caseReport) check(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (r *caseReport) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// passed reports whether every check held and the case ran.
func (r *caseReport) passed() bool {
	if r.Error != "" {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// ms is a duration written as milliseconds with a tenth.
type ms time.Duration

func (d ms) MarshalJSON() ([]byte, error) {
	return json.Marshal(math.Round(float64(time.Duration(d))/float64(time.Millisecond)*10) / 10)
}

func (d ms) String() string { return fmtMS(time.Duration(d)) }

func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// lbStats are the load balancer's counts (loadtest/lb's -stats file).
type lbStats struct {
	Backends []struct {
		Addr       string `json:"addr"`
		Ready      bool   `json:"ready"`
		Requests   int64  `json:"requests"`
		WebSockets int64  `json:"websockets"`
		Refused    int64  `json:"refused"`
		Failed     int64  `json:"failed"`
		Downs      int64  `json:"downs"`
	} `json:"backends"`
	NoBackend int64 `json:"no_backend"`
}

func readLBStats(path string) (lbStats, error) {
	var s lbStats
	b, err := os.ReadFile(path) //nolint:gosec // G703: the load balancer's counts, in the report directory the operator chose
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// groupStats sums up callsim's results for a group of calls.
type groupStats struct {
	Name      string         `json:"name"`
	Calls     int            `json:"calls"`
	Completed int            `json:"completed"`
	Failed    int            `json:"failed"`
	Errors    map[string]int `json:"errors,omitempty"`
	Turns     int            `json:"turns"`
	Answered  int            `json:"answered"`
	ReplyP50  ms             `json:"reply_p50_ms"`
	ReplyP99  ms             `json:"reply_p99_ms"`
	// Late are media messages that came after the caller's playout had
	// run dry mid-utterance (callsim's underruns): holes the caller heard.
	Late   int `json:"late_messages"`
	LateMS ms  `json:"late_gap_ms"`
}

// summarize sums up calls.
func summarize(name string, calls []sim.CallResult) groupStats {
	g := groupStats{Name: name, Calls: len(calls), Errors: map[string]int{}}
	var replies []time.Duration
	for _, c := range calls {
		switch c.Outcome {
		case sim.OutcomeCompleted:
			g.Completed++
		default:
			g.Failed++
			g.Errors[c.Error]++
		}
		for _, t := range c.Turns {
			if !t.Spoken {
				continue
			}
			g.Turns++
			if t.Answered {
				g.Answered++
				replies = append(replies, t.ReplyLatency)
			}
		}
		g.Late += c.Underruns
		g.LateMS += ms(c.UnderrunTime)
	}
	g.ReplyP50 = ms(percentile(replies, 50))
	g.ReplyP99 = ms(percentile(replies, 99))
	if len(g.Errors) == 0 {
		g.Errors = nil
	}
	return g
}

// latePer100 is late messages per 100 calls.
func (g groupStats) latePer100() float64 {
	if g.Calls == 0 {
		return 0
	}
	return 100 * float64(g.Late) / float64(g.Calls)
}

// percentile is the nearest-rank p-th percentile of ds (0 when empty), as
// callsim computes its own.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Tolerances of "unchanged": this machine's run-to-run noise with the
// same load (loadtest/README.md reports reply p99s within a few ms of each
// other, and late messages at 0 when the machine is not saturated).
const (
	replyP99Slack = 50 * time.Millisecond // or 15 %, whichever is larger
	replyP99Ratio = 0.15
	latePer100Max = 1.0 // late messages per 100 calls above the reference
)

// unchanged reports whether after's reply p99 and late messages are within
// the tolerances of ref's.
func unchanged(ref, after groupStats) (bool, string) {
	slack := max(replyP99Slack, time.Duration(float64(time.Duration(ref.ReplyP99))*replyP99Ratio))
	okP99 := time.Duration(after.ReplyP99) <= time.Duration(ref.ReplyP99)+slack
	okLate := after.latePer100() <= ref.latePer100()*1.5+latePer100Max
	return okP99 && okLate, fmt.Sprintf("reply p99 %s against %s (allowed +%s); late messages %.1f per 100 calls against %.1f",
		after.ReplyP99, ref.ReplyP99, fmtMS(slack), after.latePer100(), ref.latePer100())
}

// durationStats are p50, p99 and max of a set of durations.
type durationStats struct {
	Count int `json:"count"`
	P50   ms  `json:"p50_ms"`
	P99   ms  `json:"p99_ms"`
	Max   ms  `json:"max_ms"`
}

func statsOf(ds []time.Duration) durationStats {
	s := durationStats{Count: len(ds), P50: ms(percentile(ds, 50)), P99: ms(percentile(ds, 99))}
	if len(ds) > 0 {
		s.Max = ms(slices.Max(ds))
	}
	return s
}

func (s durationStats) String() string {
	if s.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("%d: p50 %s, p99 %s, max %s", s.Count, s.P50, s.P99, s.Max)
}

// printText writes the reports for a reader.
func printText(w io.Writer, reps []caseReport) {
	for _, r := range reps {
		status := "PASS"
		if !r.passed() {
			status = "FAIL"
		}
		fmt.Fprintf(w, "\n== %s: %d calls, %s, %s ==\n", r.Case, r.Calls, time.Duration(r.Elapsed).Round(time.Second), status)
		if r.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", r.Error)
		}
		for _, k := range slices.Sorted(maps.Keys(r.Settings)) {
			fmt.Fprintf(w, "  setting  %s = %s\n", k, r.Settings[k])
		}
		for _, f := range r.Figures {
			fmt.Fprintf(w, "  %-44s %v\n", f.Name, f.Value)
		}
		if len(r.Groups) > 0 {
			fmt.Fprintf(w, "  %-26s %6s %9s %6s %9s %11s %11s %6s %s\n", "calls", "n", "completed", "failed", "answered", "reply p50", "reply p99", "late", "errors")
			for _, g := range r.Groups {
				fmt.Fprintf(w, "  %-26s %6d %9d %6d %4d/%-4d %11s %11s %6d %s\n", g.Name, g.Calls, g.Completed, g.Failed, g.Answered, g.Turns,
					g.ReplyP50, g.ReplyP99, g.Late, errorList(g.Errors))
			}
		}
		if r.LB != nil {
			parts := make([]string, 0, len(r.LB.Backends))
			for _, b := range r.LB.Backends {
				parts = append(parts, fmt.Sprintf("%s %d req/%d ws/%d refused", b.Addr, b.Requests, b.WebSockets, b.Refused))
			}
			fmt.Fprintf(w, "  lb: %s; %d with no ready node\n", strings.Join(parts, ", "), r.LB.NoBackend)
		}
		for _, c := range r.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  [%s] %s: %s\n", mark, c.Name, c.Detail)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
}

func errorList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
