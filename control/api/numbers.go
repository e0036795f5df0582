package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/store"
)

type numberBody struct {
	E164    store.PhoneNumber `json:"e164" pattern:"^\\+[1-9][0-9]{6,14}$" doc:"The dialed number, E.164"`
	AgentID store.AgentID     `json:"agent_id" minLength:"1" maxLength:"100" doc:"The agent that answers it"`
}

type numberListOutput struct {
	Body struct {
		Items []numberBody `json:"items"`
	}
}

type numberWrite struct{ Body numberBody }

type numberOutput struct{ Body numberBody }

type numberPath struct {
	E164 string `path:"e164" pattern:"^\\+[1-9][0-9]{6,14}$"`
}

func (a *API) numberRoutes() {
	huma.Register(a.huma, op("listNumbers", http.MethodGet, "/numbers", "List the organization's phone numbers", "numbers", store.RoleViewer),
		func(ctx context.Context, _ *struct{}) (*numberListOutput, error) {
			list, err := a.deps.Store.ListNumbers(ctx, principal(ctx).OrgID)
			if err != nil {
				return nil, a.storeError(ctx, "numbers", err)
			}
			out := &numberListOutput{}
			out.Body.Items = make([]numberBody, 0, len(list))
			for _, n := range list {
				out.Body.Items = append(out.Body.Items, numberBody{E164: n.E164, AgentID: n.AgentID})
			}
			return out, nil
		})

	o := op("assignNumber", http.MethodPost, "/numbers", "Route a phone number to an agent", "numbers", store.RoleAdmin)
	o.Description = "Assigning a number again moves it to the new agent. Only a number an operator provisioned for the " +
		"organization can be routed; any other, whoever has it, is 404."
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(a.huma, o, func(ctx context.Context, in *numberWrite) (*numberOutput, error) {
		org := principal(ctx).OrgID
		if _, err := a.deps.Store.GetAgent(ctx, org, in.Body.AgentID); err != nil {
			return nil, a.storeError(ctx, "agent", err)
		}
		if err := a.deps.Store.AssignNumber(ctx, store.Number{OrgID: org, E164: in.Body.E164, AgentID: in.Body.AgentID}); errors.Is(err, store.ErrNotFound) {
			// Allotted to another organization, or to none: the same answer,
			// so that no organization learns another's numbers.
			return nil, huma.Error404NotFound("number not provisioned for this organization")
		} else if err != nil {
			return nil, a.storeError(ctx, "number", err)
		}
		a.log.InfoContext(ctx, "number assigned", "request_id", requestID(ctx), "org_id", string(org), "number", in.Body.E164, "agent_id", string(in.Body.AgentID))
		return &numberOutput{Body: in.Body}, nil
	})

	o = op("removeNumber", http.MethodDelete, "/numbers/{e164}", "Stop answering a phone number", "numbers", store.RoleAdmin)
	o.DefaultStatus = http.StatusNoContent
	huma.Register(a.huma, o, func(ctx context.Context, in *numberPath) (*struct{}, error) {
		org := principal(ctx).OrgID
		if err := a.deps.Store.RemoveNumber(ctx, org, store.PhoneNumber(in.E164)); err != nil {
			return nil, a.storeError(ctx, "number", err)
		}
		a.log.InfoContext(ctx, "number removed", "request_id", requestID(ctx), "org_id", string(org), "number", store.PhoneNumber(in.E164))
		return nil, nil
	})
}
