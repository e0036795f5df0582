// Package callcontroltest is a fake of the Telnyx Call Control v2 API that
// speaks its wire format: Bearer auth, POST /v2/calls/{id}/actions/{action}
// with a JSON body checked against each action's fields, command_id dedupe
// per call, {"data":{"result":"ok"}} and the Telnyx error envelope.
//
// It records every command for assertions and can be scripted with faults
// (429 with Retry-After, 5xx, 401, slow answers) and ended calls (422 with
// code 90018). It is stricter than Telnyx on one point: unknown body fields
// are refused, so a misspelt field fails a test instead of being ignored.
package callcontroltest
