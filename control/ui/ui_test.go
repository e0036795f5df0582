package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
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
