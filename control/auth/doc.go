// Package auth logs users of the control API in and keeps them in: argon2id
// passwords, short-lived JWT access tokens, rotating refresh tokens whose
// reuse revokes their whole session, and throttling of failed logins. Its
// Service is what the REST API calls; errors say what to answer, never why
// a login failed.
package auth
