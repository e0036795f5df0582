package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/store"
)

// Transfers cost the organization money: each destination, whether an
// agent's transfer number or a supervisor's live transfer, is checked
// against the organization's store.TransferPolicy, which an admin edits
// here.

type transferPolicyBody struct {
	Allow []string `json:"allow" maxItems:"100" doc:"E.164 prefixes transfers may go to: a country calling code (+44) or a longer prefix (+4420). Empty: the default, the US and Canada (+1 without its other countries). A NANP country other than the US and Canada (+1876 Jamaica...) must be named by its area code."`
}

type transferPolicyOutput struct {
	Body struct {
		transferPolicyBody
		Effective []string `json:"effective" doc:"The prefixes that apply: allow, or the default when allow is empty"`
		Premium   []string `json:"premium_rate" doc:"Premium-rate and revenue-share prefixes, refused whatever allow says (as is the 976 exchange of every NANP area code)"`
	}
}

type transferPolicyWrite struct {
	Body transferPolicyBody
}

func transferPolicyOut(p store.TransferPolicy) *transferPolicyOutput {
	out := &transferPolicyOutput{}
	out.Body.Allow = p.Allow
	if out.Body.Allow == nil {
		out.Body.Allow = []string{}
	}
	out.Body.Effective = p.Effective()
	out.Body.Premium = store.PremiumRatePrefixes()
	return out
}

func (a *API) orgRoutes() {
	huma.Register(a.huma, op("getTransferPolicy", http.MethodGet, "/org/transfer-policy", "Where the organization's calls may be transferred", "organization", store.RoleViewer),
		func(ctx context.Context, _ *struct{}) (*transferPolicyOutput, error) {
			o, err := a.deps.Store.GetOrg(ctx, principal(ctx).OrgID)
			if err != nil {
				return nil, a.storeError(ctx, "organization", err)
			}
			return transferPolicyOut(o.TransferPolicy), nil
		})

	o := op("setTransferPolicy", http.MethodPut, "/org/transfer-policy", "Set where the organization's calls may be transferred", "organization", store.RoleAdmin)
	o.Description = "Agents' transfer numbers and live transfers are checked against it. A prefix that is not + and digits, " +
		"or that lies inside a premium-rate range, is refused (422)."
	huma.Register(a.huma, o, func(ctx context.Context, in *transferPolicyWrite) (*transferPolicyOutput, error) {
		p := principal(ctx)
		org, err := a.deps.Store.SetTransferPolicy(ctx, p.OrgID, store.TransferPolicy{Allow: in.Body.Allow})
		if err != nil {
			return nil, a.storeError(ctx, "transfer policy", err)
		}
		a.log.InfoContext(ctx, "transfer policy set", "request_id", requestID(ctx), "org_id", string(p.OrgID),
			"user_id", string(p.UserID), "allow", org.TransferPolicy.Allow)
		return transferPolicyOut(org.TransferPolicy), nil
	})
}

// transferPolicy is the policy of the organization.
func (a *API) transferPolicy(ctx context.Context, org store.OrgID) (store.TransferPolicy, error) {
	o, err := a.deps.Store.GetOrg(ctx, org)
	if err != nil {
		return store.TransferPolicy{}, a.storeError(ctx, "organization", err)
	}
	return o.TransferPolicy, nil
}

// checkTransferNumber refuses, with 422 naming the rule, an agent's
// transfer number its organization's policy does not allow.
func (a *API) checkTransferNumber(ctx context.Context, ag *store.Agent) error {
	if ag.TransferNumber == "" {
		return nil
	}
	policy, err := a.transferPolicy(ctx, ag.OrgID)
	if err != nil {
		return err
	}
	var denied *store.TransferDeniedError
	if err := policy.Allows(store.PhoneNumber(ag.TransferNumber)); errors.As(err, &denied) {
		return huma.Error422UnprocessableEntity("transfer_number is refused by the organization's transfer policy (" + denied.Reason() + ")")
	} else if err != nil {
		return a.internalError(ctx, "transfer policy", err)
	}
	return nil
}

// transferCall asks Call Control to transfer the live call c to to, if the
// organization's policy allows it, and logs the attempt once, whatever
// came of it: who asked, which call, where (masked) and the result.
func (a *API) transferCall(ctx context.Context, c store.Call, to string) (*actionOutput, error) {
	p := principal(ctx)
	audit := func(level slog.Level, result string, attrs ...any) {
		a.log.Log(ctx, level, "call transfer", append([]any{"request_id", requestID(ctx), "org_id", string(c.OrgID),
			"user_id", string(p.UserID), "call_id", string(c.ID), "to", store.PhoneNumber(to), "result", result}, attrs...)...)
	}
	policy, err := a.transferPolicy(ctx, c.OrgID)
	if err != nil {
		audit(slog.LevelWarn, "failed") // the store error is logged by storeError
		return nil, err
	}
	var denied *store.TransferDeniedError
	if err := policy.Allows(store.PhoneNumber(to)); errors.As(err, &denied) {
		audit(slog.LevelInfo, "refused", "rule", string(denied.Rule))
		return nil, huma.Error403Forbidden("the organization's transfer policy refuses this destination (" + denied.Reason() + ")")
	} else if err != nil {
		return nil, a.internalError(ctx, "transfer policy", err)
	}
	if err := a.deps.Calls.Transfer(ctx, c.CallControlID, to, nil); err != nil {
		audit(slog.LevelWarn, "failed", "err", err)
		return nil, huma.Error502BadGateway("Call Control refused or failed the transfer")
	}
	audit(slog.LevelInfo, "transferred")
	if a.deps.Live != nil {
		// The call's record says a supervisor handed it over; if its node
		// cannot be told, the record says how the call ended, without why.
		if _, err := a.deps.Live.Handed(ctx, c.OrgID, c.ID, store.EscalationSupervisor); err != nil {
			a.log.WarnContext(ctx, "api: the call's node was not told of the transfer", "request_id", requestID(ctx), "call_id", string(c.ID), "err", err)
		}
	}
	return action(c.ID, "transfer"), nil
}
