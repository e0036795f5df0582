// Package callcontrol is a client for the Telnyx Call Control v2 REST API: it
// answers calls with media-stream parameters, starts and stops streams,
// transfers and hangs up, each command idempotent through a deterministic
// command_id and sent through timeout, retry and circuit-breaker policies.
// The wire facts it follows are Telnyx's Call Control API reference
// (developers.telnyx.com/api/call-control): the actions, their parameters and
// their error envelopes, set out in docs/protocols/telnyx.md, section 3.
package callcontrol
