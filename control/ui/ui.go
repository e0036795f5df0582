// Package ui serves the supervisor's page: a browser open on live calls,
// their transcripts as they happen, listening in over WHEP, and past
// calls. The files are embedded in the binary: no CDN, no build step, and
// the page works offline, under a Content-Security-Policy that allows
// nothing but its own origin.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var files embed.FS

// Prefix is where the page is mounted.
const Prefix = "/ui/"

// csp lets the page load its own scripts and styles, talk to its own
// origin (the control API, the events, WHEP) and play the call's audio,
// and nothing else: no inline script, no frame, no form posts.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page's files under Prefix.
func Handler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fileServer := http.StripPrefix(Prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "microphone=(self), camera=()")
		// Files change with the binary: revalidate, never serve stale code.
		h.Set("Cache-Control", "no-cache")
		if strings.HasSuffix(r.URL.Path, "/") && r.URL.Path != Prefix {
			http.NotFound(w, r) // no directory listings below the page
			return
		}
		fileServer.ServeHTTP(w, r)
	})
}
