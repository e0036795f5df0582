// Package ratelimit limits how often a key (a client IP, a user, an email
// that failed to log in) may act, with the generic cell rate algorithm
// (GCRA), in Redis shared by every node or in process. Its HTTP middleware
// answers a limited request with 429, Retry-After and problem+json.
package ratelimit
