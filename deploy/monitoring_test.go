package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// The monitoring pack: the Grafana dashboards, the Prometheus alert rules
// and their unit tests, and the metrics catalogue of docs/MONITORING.md,
// all checked against what a running `iace serve` exports.

var updateCatalogue = flag.Bool("update-catalogue", false,
	"rewrite the metrics catalogue of docs/MONITORING.md from the running server")

const (
	dashboardsDir  = "grafana/dashboards"
	alertsFile     = "prometheus/alerts.yml"
	alertTestsFile = "prometheus/alerts_test.yml"
	runbookURL     = "https://github.com/iace/iace/blob/main/docs/RUNBOOK.md#"
)

// promtool runs promtool with args in dir. On a machine without it the
// test is skipped, except in CI (CI=true), where .ci/run installs it and
// its absence is a failure.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus; .ci/run installs it)")
		}
		t.Skip("promtool is not installed (Debian package prometheus)")
	}
	cmd := exec.CommandContext(t.Context(), path, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestAlertRulesPassPromtool(t *testing.T) {
	out := promtool(t, "prometheus", "check", "rules", "alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	out = promtool(t, "prometheus", "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
}

// alertRules parses alerts.yml the way Prometheus does.
func alertRules(t *testing.T) []rulefmt.Rule {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", alertsFile, errors.Join(errs...))
	}
	var rules []rulefmt.Rule
	for _, g := range groups.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", alertsFile)
	}
	return rules
}

// githubAnchor is the anchor GitHub gives a Markdown heading: lower case,
// punctuation other than hyphens and underscores dropped, spaces to hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// runbookAnchors are the anchors of docs/RUNBOOK.md's headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile("../docs/RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for line := range strings.Lines(string(doc)) {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			anchors[githubAnchor(strings.TrimLeft(h, "#"))] = true
		}
	}
	return anchors
}

// TestEveryAlertHasARunbookSectionAndATest: every alert names its
// severity, says what happened, links a section of docs/RUNBOOK.md that
// exists, and is tested in alerts_test.yml.
func TestEveryAlertHasARunbookSectionAndATest(t *testing.T) {
	anchors := runbookAnchors(t)
	raw, err := os.ReadFile(alertTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			Alerts []struct {
				Name string `yaml:"alertname"`
				Exp  []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatalf("%s: %v", alertTestsFile, err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.Alerts {
			if len(a.Exp) > 0 {
				fires[a.Name] = true
			} else {
				quiet[a.Name] = true
			}
		}
	}
	rules := alertRules(t)
	if fired := len(fires); fired < len(rules) {
		t.Errorf("%d alerts tested firing, of %d", fired, len(rules))
	}
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("recording rule %s: this file holds alerts only", r.Record)
			continue
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "description"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: no %s", r.Alert, a)
			}
		}
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookURL)
		switch {
		case !ok:
			t.Errorf("%s: runbook_url %q is not a section of %s", r.Alert, r.Annotations["runbook_url"], runbookURL)
		case !anchors[anchor]:
			t.Errorf("%s: docs/RUNBOOK.md has no heading with anchor #%s", r.Alert, anchor)
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no test in %s where it fires", r.Alert, alertTestsFile)
		}
	}
	if len(quiet) == 0 {
		t.Errorf("%s: no test where an alert stays quiet", alertTestsFile)
	}
}

// grafanaDashboard is what the tests read of a Grafana dashboard.
type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *grafanaSource `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *grafanaSource `json:"datasource"`
	} `json:"targets"`
}

type grafanaSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// dashboardFiles reads every dashboard, by file name.
func dashboardFiles(t *testing.T) map[string]grafanaDashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]grafanaDashboard{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// The dashboards' panels name the Prometheus data source through the
// dashboard's datasource variable, whose default is the provisioned uid.
var panelSources = []string{"${datasource}", "$datasource"}

// panelTypes are the Grafana panel types the dashboards may use.
var panelTypes = []string{"timeseries", "stat", "state-timeline", "bargauge", "gauge", "table", "heatmap", "piechart"}

func TestDashboardsParseWithWhatGrafanaNeeds(t *testing.T) {
	boards := dashboardFiles(t)
	for _, want := range []string{"overview.json", "system.json", "business.json"} {
		if _, ok := boards[want]; !ok {
			t.Errorf("no dashboard %s in %s", want, dashboardsDir)
		}
	}
	uids := map[string]string{}
	for file, d := range boards {
		for _, p := range checkDashboard(d) {
			t.Errorf("%s: %s", file, p)
		}
		if other, ok := uids[d.UID]; ok {
			t.Errorf("%s and %s share the uid %q", file, other, d.UID)
		}
		uids[d.UID] = file
	}
}

// checkDashboard lists what Grafana would refuse or show broken.
func checkDashboard(d grafanaDashboard) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if d.UID == "" || len(d.UID) > 40 {
		add("uid %q: Grafana needs one of 1 to 40 characters", d.UID)
	}
	if d.Title == "" {
		add("no title")
	}
	if d.SchemaVersion < 36 {
		add("schemaVersion %d: the panels are written for 36 or later", d.SchemaVersion)
	}
	hasSource := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasSource = true
		}
	}
	if !hasSource {
		add("no datasource variable of type prometheus")
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			add("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			add("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if !slices.Contains(panelTypes, p.Type) {
			add("panel %q: type %q", p.Title, p.Type)
		}
		if p.Title == "" {
			add("panel %d has no title", p.ID)
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || !slices.Contains(panelSources, p.Datasource.UID) {
			add("panel %q: datasource %+v, want the prometheus variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			add("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				add("panel %q: a query without an expression or a unique refId", p.Title)
			}
			refs[tg.RefID] = true
			queries++
		}
	}
	if queries == 0 {
		add("no queries")
	}
	return problems
}

// TestDashboardChecksCatchMistakes: the checks above refuse a broken
// dashboard (so TestDashboardsParseWithWhatGrafanaNeeds can fail).
func TestDashboardChecksCatchMistakes(t *testing.T) {
	good := dashboardFiles(t)["overview.json"]
	if p := checkDashboard(good); len(p) != 0 {
		t.Fatalf("overview.json: %v", p)
	}
	for name, breakIt := range map[string]func(d *grafanaDashboard){
		"no uid":            func(d *grafanaDashboard) { d.UID = "" },
		"a panel too wide":  func(d *grafanaDashboard) { d.Panels[1].GridPos.W = 30 },
		"another source":    func(d *grafanaDashboard) { d.Panels[1].Datasource = &grafanaSource{Type: "prometheus", UID: "other"} },
		"a panel, no query": func(d *grafanaDashboard) { d.Panels[1].Targets = nil },
	} {
		d := good
		d.Panels = slices.Clone(good.Panels)
		breakIt(&d)
		if p := checkDashboard(d); len(p) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
}

// grafanaVariables are the built-in intervals the dashboards use; a
// duration stands for each so that the query parses as Prometheus gets it.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h")

// promQuery is one PromQL expression and where it is.
type promQuery struct {
	where string
	expr  string
}

func allQueries(t *testing.T) []promQuery {
	t.Helper()
	var qs []promQuery
	for file, d := range dashboardFiles(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				qs = append(qs, promQuery{fmt.Sprintf("%s panel %q %s", file, p.Title, tg.RefID), grafanaVariables.Replace(tg.Expr)})
			}
		}
	}
	for _, r := range alertRules(t) {
		qs = append(qs, promQuery{fmt.Sprintf("%s alert %s", alertsFile, r.Alert), r.Expr})
	}
	return qs
}

// metricNames are the metric names an expression selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			err = fmt.Errorf("a selector without a metric name: %s", vs)
		}
		names = append(names, name)
		return nil
	})
	return names, err
}

// exportedNames are the sample names a set of families exposes: a
// histogram's _bucket, _sum and _count, a summary's quantiles under its
// name and its _sum and _count, and the name of any other family.
func exportedNames(families map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, mf := range families {
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	return out
}

// missingNames lists what the queries select that names does not hold.
// prometheusOwn are series Prometheus itself writes for every target, which
// no server exports.
var prometheusOwn = map[string]bool{"up": true}

func missingNames(qs []promQuery, names map[string]bool) ([]string, error) {
	var missing []string
	for _, q := range qs {
		used, err := metricNames(q.expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", q.where, q.expr, err)
		}
		for _, n := range used {
			if !names[n] && !prometheusOwn[n] {
				missing = append(missing, fmt.Sprintf("%s: %s", q.where, n))
			}
		}
	}
	return missing, nil
}

// TestEveryQueryUsesExportedMetrics: every metric name in every dashboard
// query and alert rule is one that a running iace serve exports.
func TestEveryQueryUsesExportedMetrics(t *testing.T) {
	qs := allQueries(t)
	names := exportedNames(servedMetrics(t).all)
	missing, err := missingNames(qs, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("%s is not exported by iace serve", m)
	}
	t.Logf("%d queries checked against %d exported names", len(qs), len(names))
}

// TestTheQueryCheckCatchesAnUnknownName: a query selecting a metric the
// server does not export, or a histogram under its bare name, is reported.
func TestTheQueryCheckCatchesAnUnknownName(t *testing.T) {
	families := map[string]*dto.MetricFamily{
		"iace_session_live_calls":        {Type: dto.MetricType_GAUGE.Enum()},
		"iace_session_reply_latency_ms":  {Type: dto.MetricType_HISTOGRAM.Enum()},
		"iace_calls_completed_total":     {Type: dto.MetricType_COUNTER.Enum()},
		"go_gc_duration_seconds":         {Type: dto.MetricType_SUMMARY.Enum()},
		"iace_session_frames_late_total": {Type: dto.MetricType_COUNTER.Enum()},
	}
	names := exportedNames(families)
	for expr, wantMissing := range map[string]string{
		`histogram_quantile(0.95, sum by (le) (rate(iace_session_reply_latency_ms_bucket[5m])))`: "",
		`sum(iace_session_live_calls) and on() sum(rate(iace_calls_completed_total[5m])) > 0`:    "",
		`go_gc_duration_seconds{quantile="1"} + go_gc_duration_seconds_sum`:                      "",
		`sum(rate(iace_session_reply_latency_ms[5m]))`:                                           "iace_session_reply_latency_ms",
		`sum(rate(iace_calls_completed[5m]))`:                                                    "iace_calls_completed",
		`{__name__="iace_no_such_thing"}`:                                                        "iace_no_such_thing",
	} {
		missing, err := missingNames([]promQuery{{"test", expr}}, names)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		switch {
		case wantMissing == "" && len(missing) > 0:
			t.Errorf("%s: %v reported missing", expr, missing)
		case wantMissing != "" && (len(missing) != 1 || !strings.HasSuffix(missing[0], ": "+wantMissing)):
			t.Errorf("%s: missing %v, want %s", expr, missing, wantMissing)
		}
	}
	if _, err := missingNames([]promQuery{{"test", `sum(rate(x[5m])`}}, names); err == nil {
		t.Error("a query that does not parse passed")
	}
}

// TestASimulatedCallFeedsTheBusinessMetrics: one simulated call that ends
// resolved counts once in calls_completed and resolution time.
func TestASimulatedCallFeedsTheBusinessMetrics(t *testing.T) {
	call := servedMetrics(t).call
	value := func(name string, match map[string]string) float64 {
		for _, m := range call[name].GetMetric() {
			ok := true
			for _, l := range m.GetLabel() {
				if v, want := l.GetValue(), match[l.GetName()]; want != "" && v != want {
					ok = false
				}
			}
			if !ok {
				continue
			}
			switch {
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no %s %v", name, match)
		return 0
	}
	if v := value("iace_calls_completed_total", map[string]string{"outcome": "resolved"}); v != 1 {
		t.Errorf("%v resolved calls, want 1", v)
	}
	if v := value("iace_resolution_time_seconds", nil); v != 1 {
		t.Errorf("%v resolution times observed, want 1", v)
	}
	if v := value("iace_session_reply_latency_ms", nil); v < 1 {
		t.Errorf("%v replies timed, want at least 1", v)
	}
}

// servedMetrics scrapes two servers, once per test binary: one with every
// cloud provider configured (at a closed port: nothing is sent, but their
// clients and series exist) and one offline that takes a simulated call.
func servedMetrics(t *testing.T) servedScrapes {
	t.Helper()
	scrapeOnce.Do(func() { scraped, errScrape = scrapeServers() })
	if errScrape != nil {
		t.Fatal(errScrape)
	}
	return scraped
}

type servedScrapes struct {
	all  map[string]*dto.MetricFamily // both servers' families, after an API request and a webhook
	call map[string]*dto.MetricFamily // the offline server's, after its call
}

var (
	scrapeOnce sync.Once
	scraped    servedScrapes
	errScrape  error
)

func scrapeServers() (servedScrapes, error) {
	var s servedScrapes
	dir, err := os.MkdirTemp("", "iace-monitoring-")
	if err != nil {
		return s, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	for _, pkg := range []string{"./cmd/iace", "./loadtest/callsim"} {
		build := exec.CommandContext(ctx, "go", "build", "-o", dir, pkg)
		build.Dir = ".."
		build.Env = append(os.Environ(), "GOTOOLCHAIN=auto", "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return s, fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	closed := "127.0.0.1:1" // nothing listens on port 1 of loopback
	secret := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	providers, err := runServer(ctx, dir, "providers", []string{
		"IACE_LLM_API_KEY=test", "IACE_DEEPGRAM_API_KEY=test", "IACE_TELNYX_API_KEY=test", "IACE_GOOGLE_API_KEY=test",
		"IACE_STREAM_SECRET=" + secret(),
	}, []string{
		"--llm-base-url", "http://" + closed + "/v1", "--deepgram-url", "ws://" + closed,
		"--telnyx-api-url", "http://" + closed + "/v2", "--telnyx-public-key", secret(),
		"--public-url", "https://iace.example.com",
	}, func(public string) error {
		// A control API request and a webhook, both refused (no token, no
		// signature), so that their series exist.
		for _, r := range []struct{ method, path string }{{http.MethodGet, "/api/v1/calls"}, {http.MethodPost, "/webhooks/telnyx"}} {
			code, _, err := httpRequest(ctx, r.method, "http://"+public+r.path)
			if err != nil {
				return err
			}
			if code != http.StatusUnauthorized && code != http.StatusBadRequest {
				return fmt.Errorf("%s %s: %d, want it refused", r.method, r.path, code)
			}
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	offline, err := runServer(ctx, dir, "offline", nil, nil, func(public string) error {
		sim := exec.CommandContext(ctx, filepath.Join(dir, "callsim"), "-url", "ws://"+public+"/media/telnyx",
			"-calls", "1", "-quiet", "-script", "what are your opening hours|goodbye")
		if out, err := sim.CombinedOutput(); err != nil {
			return fmt.Errorf("callsim: %w\n%s", err, out)
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	s.all = maps.Clone(providers)
	maps.Copy(s.all, offline)
	s.call = offline
	return s, nil
}

// runServer starts iace serve on free loopback ports with its own data
// directory, waits for /readyz, runs call (if any) against the public
// address, scrapes /metrics and stops the server with SIGTERM.
func runServer(ctx context.Context, dir, name string, env, args []string, call func(public string) error) (map[string]*dto.MetricFamily, error) {
	public, err := loopbackPort()
	if err != nil {
		return nil, err
	}
	internal, err := loopbackPort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "iace"), append([]string{"serve",
		"--addr", public, "--internal-addr", internal, "--data-dir", filepath.Join(dir, name),
		"--log-format", "json", "--log-level", "warn"}, args...)...)
	// None of the caller's IACE_ settings: only what this server is given.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			_ = err // stopped: its exit status says nothing more
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			err := <-exited
			_ = err
		}
	}()
	fail := func(err error) (map[string]*dto.MetricFamily, error) {
		return nil, fmt.Errorf("%s server: %w\n%s", name, err, logs.String())
	}
	base := "http://" + internal
	for deadline := time.Now().Add(time.Minute); ; {
		if code, _, err := httpGet(ctx, base+"/readyz"); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return fail(errors.New("not ready within a minute"))
		}
		select {
		case err := <-exited:
			return fail(fmt.Errorf("exited before it was ready: %w", err))
		case <-time.After(100 * time.Millisecond):
		}
	}
	if call != nil {
		if err := call(public); err != nil {
			return fail(err)
		}
	}
	code, body, err := httpGet(ctx, base+"/metrics")
	switch {
	case err != nil:
		return fail(fmt.Errorf("GET /metrics: %w", err))
	case code != http.StatusOK:
		return fail(fmt.Errorf("GET /metrics: status %d", code))
	}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	families, err := tp.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return fail(fmt.Errorf("/metrics: %w", err))
	}
	return families, nil
}

func httpGet(ctx context.Context, url string) (int, string, error) {
	return httpRequest(ctx, http.MethodGet, url)
}

func httpRequest(ctx context.Context, method, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", "text/plain") // the text format, without exemplars
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func loopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// The catalogue is the part of docs/MONITORING.md between these lines.
const (
	catalogueBegin = "<!-- metrics catalogue: generated by deploy/monitoring_test.go from a running iace serve; do not edit -->\n"
	catalogueEnd   = "<!-- end of the metrics catalogue -->\n"
)

// catalogue is the Markdown table of IACE's own metrics: name, type,
// labels, help. The Go runtime and process collectors' go_* and process_*
// series are the client library's, described in its documentation.
func catalogue(families map[string]*dto.MetricFamily) string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n| --- | --- | --- | --- |\n")
	for _, name := range slices.Sorted(maps.Keys(families)) {
		if !strings.HasPrefix(name, "iace_") {
			continue
		}
		mf := families[name]
		seen := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				seen[l.GetName()] = true
			}
		}
		var labelNames []string
		for _, l := range slices.Sorted(maps.Keys(seen)) {
			labelNames = append(labelNames, "`"+l+"`")
		}
		help := strings.ReplaceAll(mf.GetHelp(), "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, strings.ToLower(mf.GetType().String()), strings.Join(labelNames, ", "), help)
	}
	return b.String()
}

var catalogueSection = regexp.MustCompile(`(?s)` + regexp.QuoteMeta(catalogueBegin) + `.*?` + regexp.QuoteMeta(catalogueEnd))

// TestMetricsCatalogueIsCurrent: docs/MONITORING.md lists exactly what
// the server exports. `go test -run TestMetricsCatalogueIsCurrent
// -update-catalogue` in deploy/ rewrites it.
func TestMetricsCatalogueIsCurrent(t *testing.T) {
	const doc = "../docs/MONITORING.md"
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !catalogueSection.Match(raw) {
		t.Fatalf("%s has no catalogue section between %q and %q", doc, catalogueBegin, catalogueEnd)
	}
	want := catalogueBegin + catalogue(servedMetrics(t).all) + catalogueEnd
	if *updateCatalogue {
		out := catalogueSection.ReplaceAllLiteral(raw, []byte(want))
		if err := os.WriteFile(doc, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := string(catalogueSection.Find(raw)); got != want {
		t.Errorf("%s's metrics catalogue is not what the server exports; run `go test -run TestMetricsCatalogueIsCurrent -update-catalogue` in deploy/ and review the diff.\n%s",
			doc, lineDiff(got, want))
	}
}

// lineDiff lists the lines only one of a and b has.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for l := range strings.Lines(s) {
			m[l] = true
		}
		return m
	}
	inA, inB := in(a), in(b)
	var out strings.Builder
	for l := range strings.Lines(a) {
		if !inB[l] {
			out.WriteString("- " + l)
		}
	}
	for l := range strings.Lines(b) {
		if !inA[l] {
			out.WriteString("+ " + l)
		}
	}
	return out.String()
}
