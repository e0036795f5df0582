package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// redoclyEnv names the Redocly CLI binary the lint test runs; .ci/run
// installs @redocly/cli with npm outside the repository and sets it.
const redoclyEnv = "IACE_REDOCLY"

// TestServedOpenAPIPassesRedoclyLint lints the document the server serves
// at /api/v1/openapi.json with Redocly CLI's recommended rule set (the
// linter the document's readers use: https://redocly.com/docs/cli/rules/recommended),
// and wants no error and no warning. In CI (CI=true) a missing linter fails
// the test; elsewhere it skips.
func TestServedOpenAPIPassesRedoclyLint(t *testing.T) {
	bin := os.Getenv(redoclyEnv)
	if bin == "" {
		bin, _ = exec.LookPath("redocly")
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redocly CLI not found: set %s to the redocly binary (.ci/run installs it)", redoclyEnv)
		}
		t.Skipf("Redocly CLI not found: set %s, e.g. npm install --prefix ~/.cache/iace-redocly @redocly/cli@2.77.0 "+
			"and %s=~/.cache/iace-redocly/node_modules/.bin/redocly", redoclyEnv, redoclyEnv)
	}

	a, err := build(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+Prefix+"/openapi.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET openapi.json: %d %v", res.StatusCode, err)
	}

	dir := t.TempDir()
	doc := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(doc, body, 0o600); err != nil {
		t.Fatal(err)
	}
	// The rule set is named, not left to the CLI's default.
	cfg := filepath.Join(dir, "redocly.yaml")
	if err := os.WriteFile(cfg, []byte("extends:\n  - recommended\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	//nolint:gosec // G702: the linter is the one the developer or CI named in IACE_REDOCLY; its arguments are this test's own files
	cmd := exec.CommandContext(t.Context(), bin, "lint", "--config", cfg, "--format", "json", doc)
	cmd.Dir = dir
	// No usage report and no update check: CI may have no way out, and
	// a test has no business phoning home.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var report struct {
		Totals struct {
			Errors   int `json:"errors"`
			Warnings int `json:"warnings"`
		} `json:"totals"`
		Version  string `json:"version"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	// The report is the first JSON value on stdout; a summary line may follow.
	if err := json.NewDecoder(&stdout).Decode(&report); err != nil {
		t.Fatalf("redocly lint --format json: %v; no report in its output (exit %v):\n%s", err, runErr, stderr.Bytes())
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	t.Logf("redocly %s lint: %d errors, %d warnings", report.Version, report.Totals.Errors, report.Totals.Warnings)
	if report.Totals.Errors != 0 || report.Totals.Warnings != 0 || runErr != nil {
		t.Errorf("redocly lint: %d errors, %d warnings, exit %v; want 0, 0 and success", report.Totals.Errors, report.Totals.Warnings, runErr)
	}
}
