package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The deployment files are checked against the server itself: the settings
// its `iace serve -help` lists (names, defaults, which are secrets) and the
// metrics a running `iace serve` exports. Both come from one build of
// ./cmd/iace, made by the first test that asks.

// repositoryRoot is the iace repository: the parent of this module.
func repositoryRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(mod), "module github.com/iace/iace\n") {
		t.Fatalf("%s is not the root of the iace module (go.mod: %v)", root, err)
	}
	return root
}

// setting is one row of `iace serve -help`.
type setting struct {
	Flag    string // "addr"; empty for a setting of the environment only
	Env     string // "IACE_ADDR"
	Default string // as printed: `""` for empty
	Meaning string
}

// serverFacts is what the tests learn from the server.
type serverFacts struct {
	help     string    // the output of `iace serve -help`
	settings []setting // parsed from help
	metrics  string    // /metrics of an idle server
	probes   map[string]int
}

var (
	factsOnce sync.Once
	facts     serverFacts
	errFacts  error
)

// server builds iace and learns its settings and metrics, once per test
// binary.
func server(t *testing.T) serverFacts {
	t.Helper()
	factsOnce.Do(func() { facts, errFacts = learnServer(t) })
	if errFacts != nil {
		t.Fatalf("iace serve: %v", errFacts)
	}
	return facts
}

func learnServer(t *testing.T) (serverFacts, error) {
	root := repositoryRoot(t)
	dir := t.TempDir() // only the strings outlive the first test
	bin := filepath.Join(dir, "iace")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The flags of `make build`, so that its build cache serves this one.
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/iace")
	build.Dir = root
	build.Env = append(os.Environ(), "GOTOOLCHAIN=auto")
	if out, err := build.CombinedOutput(); err != nil {
		return serverFacts{}, fmt.Errorf("go build ./cmd/iace: %w\n%s", err, out)
	}
	var f serverFacts
	help, err := exec.CommandContext(ctx, bin, "serve", "-help").CombinedOutput()
	if err != nil {
		return f, fmt.Errorf("serve -help: %w\n%s", err, help)
	}
	f.help = string(help)
	if f.settings, err = parseSettings(f.help); err != nil {
		return f, err
	}
	f.metrics, f.probes, err = scrapeServer(ctx, bin, dir)
	return f, err
}

// settingRow is a row of the help table: a flag or "(env only)", the
// environment variable(s), the default, the meaning; columns are two or
// more spaces apart.
var settingRow = regexp.MustCompile(`^(--[a-z0-9-]+|\(env only\))\s{2,}(IACE_[A-Z0-9_]+(?:, IACE_[A-Z0-9_]+)*)\s{2,}(\S+)\s{2,}(.+)$`)

func parseSettings(help string) ([]setting, error) {
	var out []setting
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		m := settingRow.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		flag := strings.TrimPrefix(m[1], "--")
		if m[1] == "(env only)" {
			flag = ""
		}
		for env := range strings.SplitSeq(m[2], ", ") {
			out = append(out, setting{Flag: flag, Env: env, Default: m[3], Meaning: strings.TrimSpace(m[4])})
		}
	}
	if len(out) < 20 {
		return nil, fmt.Errorf("found %d settings in `iace serve -help`; has its table changed?\n%s", len(out), help)
	}
	return out, nil
}

// lookup finds a setting by its environment variable.
func (f serverFacts) lookup(env string) (setting, bool) {
	for _, s := range f.settings {
		if s.Env == env {
			return s, true
		}
	}
	return setting{}, false
}

// secretNames are the settings iace reads from the environment only: its
// secrets (database and Redis URLs with passwords, keys, tokens).
func (f serverFacts) secretNames() []string {
	var out []string
	for _, s := range f.settings {
		if s.Flag == "" {
			out = append(out, s.Env)
		}
	}
	return out
}

// defaultDuration is the default of a duration setting.
func (f serverFacts) defaultDuration(t *testing.T, env string) time.Duration {
	t.Helper()
	s, ok := f.lookup(env)
	if !ok {
		t.Fatalf("iace serve has no setting %s", env)
	}
	d, err := time.ParseDuration(s.Default)
	if err != nil {
		t.Fatalf("%s default %q: %v", env, s.Default, err)
	}
	return d
}

// hasMetric reports whether the scraped metrics declare name with type typ.
func (f serverFacts) hasMetric(name, typ string) bool {
	return strings.Contains(f.metrics, "# TYPE "+name+" "+typ+"\n")
}

// scrapeServer starts `iace serve` on loopback with the embedded store and
// the offline providers, waits for /readyz, reads /metrics and the status
// of the health paths the manifests probe, and stops it with SIGTERM.
func scrapeServer(ctx context.Context, bin, dir string) (string, map[string]int, error) {
	addr, err := freePort()
	if err != nil {
		return "", nil, err
	}
	internal, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--internal-addr", internal,
		"--data-dir", filepath.Join(dir, "data"), "--log-format", "json", "--log-level", "warn")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir} // none of the caller's IACE_ settings
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			_ = err // an exit status after SIGTERM says nothing here
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			err := <-done
			_ = err
		}
	}()
	base := "http://" + internal
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _, err := get("/readyz"); err == nil && code == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			done <- err
			return "", nil, fmt.Errorf("iace serve exited before it was ready (%w):\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", nil, errors.New("iace serve not ready within 60 s:\n" + logs.String())
		}
	}
	probes := map[string]int{}
	for _, p := range []string{"/healthz", "/readyz"} {
		code, _, err := get(p)
		if err != nil {
			return "", nil, err
		}
		probes[p] = code
	}
	code, metrics, err := get("/metrics")
	if err != nil {
		return "", nil, fmt.Errorf("GET /metrics: %w", err)
	}
	if code != http.StatusOK {
		return "", nil, fmt.Errorf("GET /metrics: status %d", code)
	}
	return metrics, probes, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}
