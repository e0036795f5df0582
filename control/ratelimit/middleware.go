package ratelimit

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// KeyFunc picks the key a request is limited by; ok false lets the request
// through unlimited (no client address, no user).
type KeyFunc func(r *http.Request) (key string, ok bool)

// Middleware limits requests by key(r) with l. A limited request gets 429
// with Retry-After and an RFC 9457 problem+json body; when l fails the
// request goes through (fail open).
func Middleware(l Limiter, key KeyFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k, limited := key(r)
			if !limited {
				next.ServeHTTP(w, r)
				return
			}
			ok, wait, err := l.Allow(r.Context(), k)
			if err != nil || ok {
				next.ServeHTTP(w, r)
				return
			}
			WriteTooManyRequests(w, wait)
		})
	}
}

// RetryAfterSeconds is wait as a Retry-After value (RFC 9110 section
// 10.2.3): whole seconds, rounded up, at least 1.
func RetryAfterSeconds(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// WriteTooManyRequests answers 429 with Retry-After and a problem+json body.
func WriteTooManyRequests(w http.ResponseWriter, wait time.Duration) {
	secs := RetryAfterSeconds(wait)
	body, _ := json.Marshal(problem{
		Type:   "about:blank",
		Title:  http.StatusText(http.StatusTooManyRequests),
		Status: http.StatusTooManyRequests,
		Detail: fmt.Sprintf("Too many requests; retry after %d seconds.", secs),
	})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Retry-After", strconv.Itoa(secs))
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(body)
}
