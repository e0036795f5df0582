package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iace/iace/control/ui"
)

// TestThePageIsServedFromTheBinaryUnderItsPolicy: the page and its files
// come from the binary with a policy that allows only the page's own
// origin; other methods and directory listings are refused.
func TestThePageIsServedFromTheBinaryUnderItsPolicy(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for path, want := range map[string]struct{ ctype, body string }{
		"/ui/":        {"text/html", `<script src="app.js" defer></script>`},
		"/ui/app.js":  {"text/javascript", "/whep/calls/"},
		"/ui/app.css": {"text/css", "#transcript"},
	} {
		res, body := get(http.MethodGet, path)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), want.ctype) || !strings.Contains(body, want.body) {
			t.Errorf("GET %s: %d %q, body has %q: %v", path, res.StatusCode, res.Header.Get("Content-Type"), want.body, strings.Contains(body, want.body))
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: policy %q", path, csp)
		}
	}
	if _, body := get(http.MethodGet, "/ui/"); strings.Contains(body, "<script>") || strings.Contains(body, "onclick=") || strings.Contains(body, "onsubmit=") {
		t.Error("the page has inline script, which its policy refuses")
	}
	if res, _ := get(http.MethodPost, "/ui/"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
	if res, _ := get(http.MethodGet, "/ui/nothing.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("a missing file: %d", res.StatusCode)
	}
}

// TestEveryIDThePageUsesExists: every element the script and the style
// sheet name by id is on the page, the page has no inline handlers or
// styles (its policy refuses them), and the supervisor's controls are
// there.
func TestEveryIDThePageUsesExists(t *testing.T) {
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("static", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	html, js, css := read("index.html"), read("app.js"), read("app.css")
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		if ids[m[1]] {
			t.Errorf("id %q is on the page twice", m[1])
		}
		ids[m[1]] = true
	}
	used := map[string]string{}
	for _, m := range regexp.MustCompile(`\$\("([^"]+)"\)|getElementById\("([^"]+)"\)`).FindAllStringSubmatch(js, -1) {
		used[m[1]+m[2]] = "app.js"
	}
	// Selectors in the script's strings, and in the style sheet outside
	// its declaration blocks (where #fff is a colour, not an id).
	for _, m := range regexp.MustCompile(`"[^"\n]*"`).FindAllString(js, -1) {
		if strings.ContainsAny(m, " [.>:") || strings.HasPrefix(m, `"#`) {
			for _, id := range regexp.MustCompile(`#([A-Za-z][\w-]*)`).FindAllStringSubmatch(m, -1) {
				used[id[1]] = "app.js"
			}
		}
	}
	selectors := regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(css, ""), "\n")
	for _, id := range regexp.MustCompile(`#([A-Za-z][\w-]*)`).FindAllStringSubmatch(selectors, -1) {
		used[id[1]] = "app.css"
	}
	for id, where := range used {
		if !ids[id] {
			t.Errorf("%s uses #%s, which the page does not have", where, id)
		}
	}
	if m := regexp.MustCompile(`(?i)\s(on[a-z]+|style)\s*=`).FindString(html); m != "" {
		t.Errorf("the page has an inline %q, which its policy refuses", m)
	}
	for _, id := range []string{"talk", "role", "role-monitor", "role-whisper", "role-barge", "role-takeover", "whisper-form", "whisper-text", "listen", "level", "audio", "transcript"} {
		if !ids[id] {
			t.Errorf("the page has no #%s", id)
		}
	}
	if !regexp.MustCompile(`id="whisper-text"[^>]*maxlength="1000"`).MatchString(html) {
		t.Error("the whisper box does not stop at 1000 characters")
	}
	for _, want := range []string{"/whip/calls/", "talkStats", `direction: "sendonly"`, `"outbound-rtp"`} {
		if !strings.Contains(js, want) {
			t.Errorf("app.js lacks %q", want)
		}
	}
}
