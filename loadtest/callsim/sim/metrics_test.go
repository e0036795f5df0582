package sim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestScrapeMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.Redirect(w, r, "/metrics", http.StatusFound)
			return
		}
		fmt.Fprint(w, "# HELP iace_calls_total Calls.\n# TYPE iace_calls_total counter\niace_calls_total 3\n"+
			"go_goroutines 12\niace_session_barge_ins_total{org=\"a\"} 1\n")
	}))
	defer srv.Close()

	lines, err := ScrapeMetrics(t.Context(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"iace_calls_total 3", `iace_session_barge_ins_total{org="a"} 1`}
	if !slices.Equal(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
	// Only the given URL is contacted: a redirect is an error, not followed.
	if _, err := ScrapeMetrics(t.Context(), srv.URL+"/elsewhere"); err == nil {
		t.Error("redirect followed")
	}
}
