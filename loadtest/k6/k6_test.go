package k6

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
)

// k6 cannot be installed here (no Debian or npm package ships it), so the
// scripts are checked with node: their syntax, and their logic with the k6
// modules replaced by the stubs in testdata/k6stub and a virtual clock
// (testdata/harness.mjs).

// nodePath finds node; in CI (CI=true) its absence fails the test.
func nodePath(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node not on PATH: the k6 scripts cannot be checked (.ci/run installs nodejs)")
		}
		t.Skip("node not on PATH; cannot check the k6 scripts")
	}
	return node
}

// TestScriptParses runs `node --check` on each script (copied to .mjs so
// node parses it as an ES module, as k6 does). node only parses; it does
// not resolve the k6/* imports.
func TestScriptParses(t *testing.T) {
	node := nodePath(t)
	for _, name := range []string{"calls.js", "api.js"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			mjs := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".js")+".mjs")
			if err := os.WriteFile(mjs, src, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), node, "--check", mjs).CombinedOutput()
			if err != nil {
				t.Fatalf("node --check %s: %v\n%s", name, err, out)
			}
		})
	}
}

var k6Import = regexp.MustCompile(`from '(k6(?:/[a-z]+)?)';`)

// harness runs testdata/harness.mjs in mode on the script name (its k6
// imports pointed at the stubs) with env as __ENV, and decodes its report.
func harness(t *testing.T, mode, name string, env map[string]string, report any) {
	t.Helper()
	node := nodePath(t)
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	stubs, err := filepath.Abs(filepath.Join("testdata", "k6stub"))
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string]bool{}
	src = k6Import.ReplaceAllFunc(src, func(m []byte) []byte {
		mod := string(k6Import.FindSubmatch(m)[1])
		stub := filepath.Join(stubs, strings.ReplaceAll(mod, "/", "-")+".mjs")
		if _, err := os.Stat(stub); err != nil {
			t.Fatalf("%s imports %s, which has no stub in testdata/k6stub", name, mod)
		}
		modules[mod] = true
		return []byte("from '" + stub + "';")
	})
	if bytes.Contains(src, []byte("from 'k6")) {
		t.Fatalf("%s has a k6 import the test does not rewrite", name)
	}
	script := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".js")+".mjs")
	if err := os.WriteFile(script, src, 0o600); err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	envJSON, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("testdata", "harness.mjs"), mode, script, dir, string(envJSON))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness %s %s: %v\n%s", mode, name, err, stderr.Bytes())
	}
	if err := json.Unmarshal(out, report); err != nil {
		t.Fatalf("harness %s %s: %v\n%.2000s", mode, name, err, out)
	}
}

// metric is what a script added to one metric.
type metric []struct {
	Value float64           `json:"value"`
	Tags  map[string]string `json:"tags"`
}

func (m metric) values() []float64 {
	v := make([]float64, len(m))
	for i, s := range m {
		v[i] = s.Value
	}
	return v
}

type checkResult struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
}

// clipFrames is what callsim sends for a line: its WAV, trimmed of frames
// quieter than max(peak/20, 100) RMS at both ends, as 160-byte PCMU frames
// (the last padded with 0xFF), each base64.
func clipFrames(t *testing.T, text string) []string {
	t.Helper()
	slug := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(text), "_"), "_")
	f, err := os.Open(filepath.Join("..", "callsim", "audio", slug+".wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, rate, err := media.ReadWAV(f)
	if err != nil || rate != 8000 {
		t.Fatalf("%s: rate %d, %v", slug, rate, err)
	}
	n := len(pcm) / 160
	rms := make([]float64, n)
	peak := 0.0
	for i := range n {
		sum := 0.0
		for _, s := range pcm[i*160 : (i+1)*160] {
			sum += float64(s) * float64(s)
		}
		rms[i] = math.Sqrt(sum / 160)
		peak = max(peak, rms[i])
	}
	threshold := max(peak/20, 100)
	first, last := 0, n-1
	for first < n && rms[first] < threshold {
		first++
	}
	for last > first && rms[last] < threshold {
		last--
	}
	pcm = pcm[first*160 : (last+1)*160]
	var frames []string
	for i := 0; i < len(pcm); i += 160 {
		raw := bytes.Repeat([]byte{0xFF}, 160)
		media.EncodeULawTo(raw, pcm[i:min(i+160, len(pcm))])
		frames = append(frames, base64.StdEncoding.EncodeToString(raw))
	}
	return frames
}

type wireMsg struct {
	T int64 `json:"t"`
	M struct {
		Event          string `json:"event"`
		SequenceNumber string `json:"sequence_number"`
		StreamID       string `json:"stream_id"`
		Start          struct {
			CallControlID    string            `json:"call_control_id"`
			From             string            `json:"from"`
			CustomParameters map[string]string `json:"custom_parameters"`
			MediaFormat      struct {
				Encoding   string `json:"encoding"`
				SampleRate int    `json:"sample_rate"`
			} `json:"media_format"`
		} `json:"start"`
		Media struct {
			Chunk     string `json:"chunk"`
			Timestamp string `json:"timestamp"`
			Payload   string `json:"payload"`
		} `json:"media"`
		Mark struct {
			Name string `json:"name"`
		} `json:"mark"`
	} `json:"m"`
}

// TestACallSpeaksTheRecordedLinesAndMeasuresFromTheirEnd places one call
// with a barge-in against the harness's fake server, which answers 260 ms
// after the third silent frame that follows a line (320 ms after its last
// frame) and clears its audio 600 ms into speech over it, and checks what
// the script sent and measured.
func TestACallSpeaksTheRecordedLinesAndMeasuresFromTheirEnd(t *testing.T) {
	const secret = "k6-test-stream-secret-0123456789abcdef"
	var rep struct {
		Log struct {
			Sent      []wireMsg `json:"sent"`
			Delivered []wireMsg `json:"delivered"`
			URL       string    `json:"url"`
			Params    struct {
				Headers map[string]string `json:"headers"`
			} `json:"params"`
			ClosedAt int64 `json:"closedAt"`
		} `json:"log"`
		Error      string            `json:"error"`
		TimersLeft int               `json:"timersLeft"`
		Metrics    map[string]metric `json:"metrics"`
		Checks     []checkResult     `json:"checks"`
	}
	harness(t, "call", "calls.js", map[string]string{
		"BARGEIN": "1", "IACE_STREAM_SECRET": secret, "AUTH_TOKEN": "telnyx-auth", "TOKEN_ORG": "org-a", "TOKEN_AGENT": "sales",
	}, &rep)
	log := rep.Log
	if rep.Error != "" || rep.TimersLeft != 0 || log.ClosedAt == 0 {
		t.Fatalf("call ended with %q, %d timers left, closed at %d", rep.Error, rep.TimersLeft, log.ClosedAt)
	}

	// The stream token the media handler checks, in the URL's query.
	u, err := url.Parse(log.URL)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := telnyx.Verify([]byte(secret), u.Query().Get(telnyx.TokenParam), time.Now())
	if err != nil {
		t.Fatalf("token in %s: %v", log.URL, err)
	}
	if log.Params.Headers["x-telnyx-streaming-auth-token"] != "telnyx-auth" {
		t.Errorf("upgrade headers %v: want AUTH_TOKEN as x-telnyx-streaming-auth-token", log.Params.Headers)
	}

	sent := log.Sent
	if len(sent) < 3 || sent[0].M.Event != "connected" || sent[1].M.Event != "start" || sent[len(sent)-1].M.Event != "stop" {
		t.Fatalf("sent %d frames: want connected, start, ..., stop", len(sent))
	}
	start := sent[1].M.Start
	if claims.CallControlID != start.CallControlID || claims.CallID != "k6-"+strings.TrimPrefix(start.CallControlID, "v3:") ||
		claims.OrgID != "org-a" || claims.AgentID != "sales" || claims.Nonce == "" {
		t.Errorf("token claims %+v for call_control_id %s", claims, start.CallControlID)
	}
	if start.MediaFormat.Encoding != "PCMU" || start.MediaFormat.SampleRate != 8000 || !regexp.MustCompile(`^\+1555\d{7}$`).MatchString(start.From) {
		t.Errorf("start %+v", start)
	}
	lines := strings.Split(start.CustomParameters["sim_script"], "|")
	const bargeIn = "sorry can you say that again a bit more slowly please"
	k := slices.Index(lines, bargeIn)
	if len(lines) != 4 || k < 1 || k > 2 || slices.Delete(slices.Clone(lines), k, k+1)[0] != "what are your opening hours" {
		t.Fatalf("sim_script %q: want the default script with the barge-in line inserted before line 2 or 3", lines)
	}

	// Frames: one every 20 ms from start, numbered; every message after
	// start takes the next sequence number.
	t0 := sent[1].T
	silence := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xFF}, 160))
	// Lines: runs of frames that are not silence, split where three silent
	// frames follow each other (a clip has single ones between words).
	var runs [][]string
	var runStart, runEnd []int64
	var gap []string // silent frames since the last voiced one
	chunk := 0
	for i, s := range sent[2:] {
		if want := fmt.Sprint(i + 2); s.M.SequenceNumber != want {
			t.Fatalf("message %d (%s) has sequence_number %q, want %s", i+3, s.M.Event, s.M.SequenceNumber, want)
		}
		if s.M.Event != "media" {
			continue
		}
		chunk++
		if s.M.Media.Chunk != fmt.Sprint(chunk) || s.T != t0+int64(20*(chunk-1)) {
			t.Fatalf("frame %d: chunk %s at %d ms, want %d at %d ms", chunk, s.M.Media.Chunk, s.T-t0, chunk, 20*(chunk-1))
		}
		if s.M.Media.Payload == silence {
			gap = append(gap, silence)
			continue
		}
		if len(runs) == 0 || len(gap) >= 3 {
			runs = append(runs, nil)
			runStart = append(runStart, s.T)
			runEnd = append(runEnd, 0)
		} else {
			runs[len(runs)-1] = append(runs[len(runs)-1], gap...)
		}
		gap = gap[:0]
		runs[len(runs)-1] = append(runs[len(runs)-1], s.M.Media.Payload)
		runEnd[len(runEnd)-1] = s.T
	}
	if len(runs) != len(lines) {
		t.Fatalf("%d voiced runs, want one per line (%d)", len(runs), len(lines))
	}
	for i, line := range lines {
		want := clipFrames(t, line)
		j := 0
		for j < min(len(want), len(runs[i])) && runs[i][j] == want[j] {
			j++
		}
		if j != len(want) || len(runs[i]) != len(want) {
			t.Errorf("line %d %q: sent %d frames, its clip has %d; they differ from frame %d", i+1, line, len(runs[i]), len(want), j+1)
		}
	}

	// The barge-in line starts 300-500 ms (plus up to a frame) into the
	// reply it interrupts, and the clear comes 30 frames later.
	var replyStarts, clears []int64
	prevMedia := int64(-1)
	for _, d := range log.Delivered {
		switch d.M.Event {
		case "media":
			if prevMedia != d.T {
				replyStarts = append(replyStarts, d.T)
			}
			prevMedia = d.T
		case "clear":
			clears = append(clears, d.T)
		}
	}
	// replyStarts: the greeting, then one per line.
	if len(replyStarts) != len(lines)+1 || len(clears) != 1 {
		t.Fatalf("server spoke %d times and cleared %d times: want %d and 1", len(replyStarts), len(clears), len(lines)+1)
	}
	into := runStart[k] - replyStarts[k]
	if into < 300 || into > 520 {
		t.Errorf("barge-in started %d ms into the reply, want 300-500 (+ a frame)", into)
	}
	if clears[0] != runStart[k]+29*20 {
		t.Errorf("clear at %d ms, want 30 frames into the barge-in line", clears[0]-t0)
	}

	// What it measured: from the last voiced frame, not the first silent one.
	for i, v := range rep.Metrics["iace_reply_ms"].values() {
		if v != 320 {
			t.Errorf("reply %d measured %v ms; the server answered 320 ms after the line's last frame", i+1, v)
		}
	}
	if got := rep.Metrics["iace_reply_ms"]; len(got) != len(lines) {
		t.Errorf("%d replies measured, want %d", len(got), len(lines))
	}
	if got := rep.Metrics["iace_bargein_ms"].values(); len(got) != 1 || got[0] != 580 {
		t.Errorf("barge-in latency %v, want [580] (first frame to clear)", got)
	}
	if got := rep.Metrics["iace_greeting_ms"].values(); len(got) != 1 || got[0] != 100 {
		t.Errorf("greeting latency %v, want [100]", got)
	}
	if got := rep.Metrics["iace_calls_completed"].values(); !slices.Equal(got, []float64{1}) {
		t.Errorf("calls completed %v, want [1]", got)
	}
	if errs := rep.Metrics["iace_call_errors"]; len(errs) != 0 {
		t.Errorf("call errors %v", errs)
	}
	for i := range lines {
		if replyStarts[i+1]-runEnd[i] != 320 {
			t.Errorf("line %d answered %d ms after its last frame, want 320", i+1, replyStarts[i+1]-runEnd[i])
		}
	}

	// Marks: the greeting's when its second of audio has played, the
	// interrupted reply's at the clear.
	echoes := map[string]int64{}
	for _, s := range sent {
		if s.M.Event == "mark" {
			echoes[s.M.Mark.Name] = s.T
		}
	}
	if at, ok := echoes["greeting"]; !ok || at < replyStarts[0]+1000 || at > replyStarts[0]+1020 {
		t.Errorf("greeting mark echoed at %d ms (%v), want when its 1 s had played, at %d ms", at-t0, ok, replyStarts[0]+1000-t0)
	}
	if at := echoes[fmt.Sprint("reply-", k)]; at != clears[0] {
		t.Errorf("interrupted reply's mark echoed at %d ms, want at the clear (%d ms)", at-t0, clears[0]-t0)
	}
	if len(echoes) != len(lines)+1 {
		t.Errorf("echoed marks %v, want the greeting's and every reply's", echoes)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %q failed", c.Name)
		}
	}
	if len(rep.Checks) != 4 {
		t.Errorf("checks %v: want opened, greeting, answered and barge-in", rep.Checks)
	}
}

// TestCallsScriptHelpers checks the pure parts of calls.js against the Go
// code they copy: mu-law against media.EncodeULawTo for every sample, the
// stream token against telnyx.Verify, and the plan's scenarios.
func TestCallsScriptHelpers(t *testing.T) {
	const secret = "k6-test-stream-secret-0123456789abcdef"
	var rep struct {
		Ulaw             string                                `json:"ulaw"`
		Slugs            []string                              `json:"slugs"`
		Seconds          []float64                             `json:"seconds"`
		Token            string                                `json:"token"`
		URL              string                                `json:"url"`
		URLWithoutSecret string                                `json:"urlWithoutSecret"`
		Scenarios        map[string]map[string]json.RawMessage `json:"scenarios"`
		BadScenario      string                                `json:"badScenario"`
		Plan             [][]any                               `json:"plan"`
		PlanWithout      int                                   `json:"planWithout"`
	}
	harness(t, "units", "calls.js", map[string]string{"IACE_STREAM_SECRET": secret, "BARGEIN": "0"}, &rep)

	got, err := base64.StdEncoding.DecodeString(rep.Ulaw)
	if err != nil || len(got) != 65536 {
		t.Fatalf("ulaw table: %d codes, %v", len(got), err)
	}
	all := make([]int16, 65536)
	for i := range all {
		all[i] = int16(uint16(i))
	}
	want := make([]byte, 65536)
	media.EncodeULawTo(want, all)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ulaw(%d) = %#x, media.EncodeULawTo gives %#x", all[i], got[i], want[i])
		}
	}

	if !slices.Equal(rep.Slugs, []string{"what_are_your_opening_hours", "i_d_like_2_tickets"}) {
		t.Errorf("slugs %q", rep.Slugs)
	}
	if !slices.Equal(rep.Seconds, []float64{90, 120, 90, 3600}) {
		t.Errorf("seconds %v", rep.Seconds)
	}

	claims, err := telnyx.Verify([]byte(secret), rep.Token, time.Now())
	if err != nil {
		t.Fatalf("minted token %s: %v", rep.Token, err)
	}
	if claims != (telnyx.StreamClaims{CallID: "call-1", OrgID: "org-1", AgentID: "agent-1", CallControlID: "v3:cc-1", Nonce: "nonce-1", Expiry: claims.Expiry}) ||
		time.Until(claims.Expiry) > time.Minute || time.Until(claims.Expiry) < 50*time.Second {
		t.Errorf("claims %+v, want the minted ones expiring in 60 s", claims)
	}
	if _, err := telnyx.Verify([]byte(secret+"x"), rep.Token, time.Now()); err == nil {
		t.Error("the token verifies with another secret")
	}
	u, err := url.Parse(rep.URL)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := telnyx.Verify([]byte(secret), u.Query().Get("token"), time.Now()); err != nil || c.CallControlID != "v3:cc-2" ||
		c.CallID != "k6-cc-2" || c.OrgID != "demo" || c.AgentID != "demo" || len(c.Nonce) < 20 {
		t.Errorf("stream URL %s: claims %+v, %v", rep.URL, c, err)
	}
	if rep.URLWithoutSecret != "ws://h/media/telnyx" {
		t.Errorf("without a secret the URL is %s", rep.URLWithoutSecret)
	}

	checkScenarios(t, rep.Scenarios, map[string][]int{"users_100": {100}, "all": {100, 500, 1000}, "users_1000,users_500": {1000, 500}})
	if !strings.Contains(rep.BadScenario, "users_100, users_500, users_1000") {
		t.Errorf("SCENARIO=users_7: %q, want an error naming the scenarios", rep.BadScenario)
	}
	if len(rep.Plan) != 4 || rep.Plan[2][0] != "sorry can you say that again a bit more slowly please" || rep.Plan[2][1] != true || rep.Plan[2][2] != 400.0 {
		t.Errorf("plan %v: want the barge-in line before line 3, 400 ms into the reply", rep.Plan)
	}
	if rep.PlanWithout != 3 {
		t.Errorf("BARGEIN=0 plans %d lines, want 3", rep.PlanWithout)
	}
}

type scenario struct {
	Executor  string `json:"executor"`
	StartTime string `json:"startTime"`
	Stages    []struct {
		Duration string `json:"duration"`
		Target   int    `json:"target"`
	} `json:"stages"`
}

// checkScenarios checks that each spec gives ramping scenarios to the
// wanted user counts, one after the other.
func checkScenarios(t *testing.T, got map[string]map[string]json.RawMessage, want map[string][]int) {
	t.Helper()
	for spec, users := range want {
		var names []string
		for _, u := range users {
			names = append(names, fmt.Sprint("users_", u))
		}
		var starts []float64
		for _, name := range names {
			var s scenario
			if err := json.Unmarshal(got[spec][name], &s); err != nil {
				t.Errorf("SCENARIO=%s: scenario %s: %v", spec, name, err)
				continue
			}
			u := strings.TrimPrefix(name, "users_")
			if s.Executor != "ramping-vus" || len(s.Stages) != 2 || fmt.Sprint(s.Stages[0].Target) != u || fmt.Sprint(s.Stages[1].Target) != u {
				t.Errorf("SCENARIO=%s: %s is %+v, want a ramp to %s users held there", spec, name, s, u)
			}
			d, err := time.ParseDuration(s.StartTime)
			if err != nil {
				t.Errorf("SCENARIO=%s: %s starts at %q", spec, name, s.StartTime)
			}
			starts = append(starts, d.Seconds())
		}
		if len(got[spec]) != len(names) {
			t.Errorf("SCENARIO=%s: scenarios %v, want %v", spec, slices.Collect(mapsKeys(got[spec])), names)
		}
		for i := 1; i < len(starts); i++ {
			if starts[i] <= starts[i-1] {
				t.Errorf("SCENARIO=%s: start times %v: want one after the other", spec, starts)
			}
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

type apiRequest struct {
	Method   string            `json:"method"`
	URL      string            `json:"url"`
	Body     map[string]any    `json:"body"`
	Tags     map[string]string `json:"tags"`
	Headers  map[string]string `json:"headers"`
	Expected []any             `json:"expected"`
}

// bodyFields reads the body fields of an operation from docs/API.md (the
// reference generated from the routes and kept current by a test there).
func bodyFields(t *testing.T, op string) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "### `"+op+"`")
	if !ok {
		t.Fatalf("docs/API.md has no %s", op)
	}
	section, _, _ := strings.Cut(rest, "Answers:")
	_, table, ok := strings.Cut(section, "| field |")
	if !ok {
		t.Fatalf("docs/API.md: %s has no body table", op)
	}
	var fields []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(table, -1) {
		fields = append(fields, m[1])
	}
	return fields
}

// TestAPIScriptMixesWritesWithReads runs api.js against a fake API and
// checks that its users read as apiload does and also write: customers
// added and edited, an agent's configuration saved back, each with the
// fields the API takes.
func TestAPIScriptMixesWritesWithReads(t *testing.T) {
	var rep struct {
		Requests  []apiRequest                          `json:"requests"`
		Mix       [][]any                               `json:"mix"`
		Agent     map[string]any                        `json:"agent"`
		Scenarios map[string]map[string]json.RawMessage `json:"scenarios"`
		Checks    []checkResult                         `json:"checks"`
	}
	const iterations = 10000
	harness(t, "api", "api.js", map[string]string{"EMAIL": "load@example.com", "PASSWORD": "pw", "THINK_MS": "0",
		"ITERATIONS": fmt.Sprint(iterations)}, &rep)

	count := map[string]int{}
	created := map[string]string{} // id -> phone
	customerFields := bodyFields(t, "PUT /api/v1/customers/{id}")
	agentFields := bodyFields(t, "PUT /api/v1/agents/{id}")
	for _, r := range rep.Requests {
		name := r.Tags["name"]
		count[name]++
		if r.Method == http.MethodGet || strings.HasSuffix(name, "/auth/login") || strings.HasSuffix(name, "/auth/refresh") {
			continue
		}
		if r.Tags["kind"] != "write" || !strings.HasPrefix(r.Headers["Authorization"], "Bearer access-") ||
			r.Headers["Content-Type"] != "application/json" {
			t.Fatalf("%s: tags %v, headers %v: want kind=write, a bearer token and a JSON body", name, r.Tags, r.Headers)
		}
		for f := range r.Body {
			if !slices.Contains(map[bool][]string{true: agentFields, false: customerFields}[strings.Contains(name, "agents")], f) {
				t.Fatalf("%s sends %q, which the API does not take", name, f)
			}
		}
		switch name {
		case "POST /api/v1/customers":
			phone, _ := r.Body["phone"].(string)
			if !regexp.MustCompile(`^\+1556\d{7}$`).MatchString(phone) || len(r.Expected) != 2 || r.Expected[1] != 409.0 {
				t.Fatalf("customer created with %v, expected statuses %v: want a +1556 number, 2xx and 409", r.Body, r.Expected)
			}
			created["cust-"+fmt.Sprint(len(created)+1)] = phone
		case "PUT /api/v1/customers/{id}":
			id := strings.TrimPrefix(r.URL, "http://127.0.0.1:8080/api/v1/customers/")
			if phone, ok := created[id]; !ok || r.Body["phone"] != phone || r.Body["name"] == "" {
				t.Fatalf("customer %s updated with %v: want one this user added, with its number", id, r.Body)
			}
		case "PUT /api/v1/agents/{id}":
			for _, f := range agentFields {
				if want, ok := rep.Agent[f]; ok && fmt.Sprint(r.Body[f]) != fmt.Sprint(want) {
					t.Fatalf("agent saved with %s = %v, want it as read: %v", f, r.Body[f], want)
				}
			}
			if len(r.Body) == 0 {
				t.Fatal("agent saved with an empty body")
			}
		default:
			t.Fatalf("unexpected write %s", name)
		}
	}
	// Each write about its weight in the mix (3, 2, 1 of 106), within 35 %.
	for name, weight := range map[string]float64{"POST /api/v1/customers": 3, "PUT /api/v1/customers/{id}": 2, "PUT /api/v1/agents/{id}": 1} {
		want := iterations * weight / 106
		if got := float64(count[name]); math.Abs(got-want) > 0.35*want {
			t.Errorf("%s: %v requests in %d iterations, want about %.0f", name, got, iterations, want)
		}
	}
	for _, read := range []string{"/api/v1/calls", "/api/v1/calls/{id}", "/api/v1/calls/live", "/api/v1/agents", "/api/v1/agents/{id}",
		"/api/v1/customers", "/api/v1/analytics", "/api/v1/me", "/api/v1/patterns", "/api/v1/patterns/similar"} {
		if count["GET "+read] == 0 {
			t.Errorf("no GET %s in %d iterations", read, iterations)
		}
	}
	if count["POST /api/v1/auth/login"] != 1 {
		t.Errorf("%d logins: a user logs in once", count["POST /api/v1/auth/login"])
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Fatalf("check %q failed against a fake API that answers everything", c.Name)
		}
	}
	checkScenarios(t, rep.Scenarios, map[string][]int{"users_100": {100}, "users_500": {500}, "users_1000": {1000}})

	t.Run("WRITES=0 is apiload's read-only mix", func(t *testing.T) {
		var ro struct {
			Requests []apiRequest `json:"requests"`
			Mix      [][]any      `json:"mix"`
		}
		harness(t, "api", "api.js", map[string]string{"EMAIL": "e", "PASSWORD": "p", "THINK_MS": "0", "WRITES": "0", "ITERATIONS": "500"}, &ro)
		for _, r := range ro.Requests {
			if r.Tags["kind"] == "write" {
				t.Fatalf("a write with WRITES=0: %s", r.Tags["name"])
			}
		}
		if len(ro.Mix) != 11 {
			t.Errorf("mix %v: want apiload's 11 reads", ro.Mix)
		}
	})
}
