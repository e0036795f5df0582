// Package webhook receives Telnyx Call Control webhooks at POST
// /webhooks/telnyx: it checks each event's Ed25519 signature and timestamp,
// drops redeliveries, and answers 200 at once while a bounded, per-call
// ordered queue records the call, answers it with a media stream that carries
// a signed stream token, and follows it to its hang-up. The wire facts are
// Telnyx's webhook documentation (developers.telnyx.com: the event envelope,
// the telnyx-signature-ed25519 and telnyx-timestamp headers, the call events),
// set out in docs/protocols/telnyx.md, sections 4 and 7.
package webhook
