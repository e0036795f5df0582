package ratelimit_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/iace/iace/control/ratelimit"
)

func TestClientIP(t *testing.T) {
	c, err := ratelimit.NewClientIP([]string{"10.0.0.0/8", "::1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"a direct client is its peer address", "203.0.113.7:4242", nil, "203.0.113.7"},
		{"a direct client cannot spoof X-Forwarded-For", "203.0.113.7:4242", []string{"198.51.100.1"}, "203.0.113.7"},
		{"behind a trusted proxy the client is the last hop it names", "10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"entries a client forged left of the real one are ignored", "10.1.2.3:80", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"trusted proxies in a chain are skipped", "10.1.2.3:80", []string{"198.51.100.1, 10.9.9.9", "10.8.8.8"}, "198.51.100.1"},
		{"an IPv6 proxy on loopback is trusted", "[::1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv4-mapped addresses are plain IPv4", "[::ffff:203.0.113.7]:1", nil, "203.0.113.7"},
		{"a garbled hop stops at the last sure address", "10.1.2.3:80", []string{"1.1.1.1, garbage"}, "10.1.2.3"},
		{"a trusted proxy without the header is the client", "10.1.2.3:80", nil, "10.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.Of(r); got != netip.MustParseAddr(tc.want) {
				t.Errorf("client %v, want %s", got, tc.want)
			}
		})
	}
	if _, err := ratelimit.NewClientIP([]string{"not-an-ip"}); err == nil {
		t.Error("a bad trusted proxy was accepted")
	}
}

func TestAddrKey(t *testing.T) {
	for addr, want := range map[string]string{
		"203.0.113.7":           "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::99": "2001:db8:1:2::/64",
		"::ffff:198.51.100.1":   "198.51.100.1",
	} {
		if got := ratelimit.AddrKey(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AddrKey(%s) = %s, want %s", addr, got, want)
		}
	}
}

func TestMiddleware(t *testing.T) {
	clk := newClock()
	l := newLocal(t, ratelimit.Config{Name: "api_ip", Rate: ratelimit.Rate{N: 2, Per: 3 * time.Second}, Now: clk.Now}, nil)
	ips, err := ratelimit.NewClientIP(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := ratelimit.Middleware(l, ips.Key)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	get := func() *http.Response {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	for i := range 2 {
		if resp := get(); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("request %d: %s", i+1, resp.Status)
		}
	}
	resp := get()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third request: %s, want 429", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (1.5 s rounded up)", ra)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "about:blank" || p.Title != "Too Many Requests" || p.Status != 429 || p.Detail == "" {
		t.Errorf("problem %+v", p)
	}
	clk.Advance(1500 * time.Millisecond)
	if resp := get(); resp.StatusCode != http.StatusNoContent {
		t.Errorf("after Retry-After: %s", resp.Status)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for wait, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := ratelimit.RetryAfterSeconds(wait); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", wait, got, want)
		}
	}
}
