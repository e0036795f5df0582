// Package upstream is what every client of an upstream provider (speech,
// language, telephony) puts around its requests: the failure policies
// (bulkhead, retries, circuit breaker) with their metrics and log lines, and
// the HTTP transport that makes each request a client span carrying the W3C
// trace context. It stands on the media floor so that the Call Control
// client, under media, and the ai clients share it.
package upstream
