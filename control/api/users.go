package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/store"
)

type userBody struct {
	ID         store.UserID `json:"id"`
	Email      string       `json:"email"`
	Role       store.Role   `json:"role" enum:"admin,supervisor,viewer"`
	CreatedAt  time.Time    `json:"created_at"`
	DisabledAt *time.Time   `json:"disabled_at,omitempty"`
}

func userOut(u store.User) userBody {
	return userBody{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt, DisabledAt: u.DisabledAt}
}

type userListOutput struct {
	Body struct {
		Items []userBody `json:"items"`
	}
}

type userOutput struct{ Body userBody }

type userCreate struct {
	Body struct {
		Email    string     `json:"email" format:"email" maxLength:"254"`
		Password string     `json:"password" minLength:"12" maxLength:"1024"`
		Role     store.Role `json:"role" enum:"admin,supervisor,viewer"`
	}
}

type userPatch struct {
	ID   string `path:"id" maxLength:"100"`
	Body struct {
		Role     store.Role `json:"role,omitempty" enum:"admin,supervisor,viewer"`
		Disabled *bool      `json:"disabled,omitempty" doc:"Disabling a user ends their sessions at once"`
	}
}

func (a *API) userRoutes() {
	huma.Register(a.huma, op("listUsers", http.MethodGet, "/users", "List the organization's users", "users", store.RoleAdmin),
		func(ctx context.Context, _ *struct{}) (*userListOutput, error) {
			list, err := a.deps.Store.ListUsers(ctx, principal(ctx).OrgID)
			if err != nil {
				return nil, a.storeError(ctx, "users", err)
			}
			out := &userListOutput{}
			out.Body.Items = make([]userBody, 0, len(list))
			for _, u := range list {
				out.Body.Items = append(out.Body.Items, userOut(u))
			}
			return out, nil
		})

	o := op("createUser", http.MethodPost, "/users", "Add a user to the organization", "users", store.RoleAdmin)
	o.DefaultStatus = http.StatusCreated
	o.Description = "An email is a login across IACE: one already in use, in this organization or any other, " +
		"cannot be used (409, the same answer either way)."
	o.Errors = append(o.Errors, http.StatusConflict)
	huma.Register(a.huma, o, func(ctx context.Context, in *userCreate) (*userOutput, error) {
		org := principal(ctx).OrgID
		u, err := a.deps.Auth.CreateUser(ctx, org, in.Body.Email, in.Body.Password, in.Body.Role)
		if errors.Is(err, store.ErrConflict) {
			// Emails are unique across IACE (a login names no organization),
			// so a taken one must be refused; the answer is the same whichever
			// organization has it and does not say that it exists. The line
			// lets an operator see an admin probing for emails.
			a.log.WarnContext(ctx, "user not created: email cannot be used", "request_id", requestID(ctx),
				"org_id", string(org), "user_id", string(principal(ctx).UserID))
			return nil, huma.Error409Conflict("this email cannot be used; choose another")
		} else if err != nil {
			return nil, a.storeError(ctx, "user", err)
		}
		a.log.InfoContext(ctx, "user created", "request_id", requestID(ctx), "org_id", string(org), "user_id", string(u.ID), "role", string(u.Role))
		return &userOutput{Body: userOut(u)}, nil
	})

	huma.Register(a.huma, op("updateUser", http.MethodPatch, "/users/{id}", "Change a user's role or disable them", "users", store.RoleAdmin),
		func(ctx context.Context, in *userPatch) (*userOutput, error) {
			p := principal(ctx)
			u, err := a.deps.Store.GetUser(ctx, p.OrgID, store.UserID(in.ID))
			if err != nil {
				return nil, a.storeError(ctx, "user", err)
			}
			if u.ID == p.UserID && (in.Body.Disabled != nil && *in.Body.Disabled || in.Body.Role != "" && in.Body.Role != store.RoleAdmin) {
				return nil, huma.Error409Conflict("an admin cannot disable or demote themselves")
			}
			if in.Body.Role != "" {
				u.Role = in.Body.Role
			}
			if in.Body.Disabled != nil && !*in.Body.Disabled {
				u.DisabledAt = nil
			}
			// Through the authenticator, so that this node stops answering
			// from the user's old role at once.
			if u, err = a.deps.Auth.UpdateUser(ctx, u); err != nil {
				return nil, a.storeError(ctx, "user", err)
			}
			if in.Body.Disabled != nil && *in.Body.Disabled && u.DisabledAt == nil {
				// The authenticator disables and ends the user's sessions at once.
				if u, err = a.deps.Auth.DisableUser(ctx, p.OrgID, u.ID); err != nil {
					return nil, a.storeError(ctx, "user", err)
				}
			}
			a.log.InfoContext(ctx, "user updated", "request_id", requestID(ctx), "org_id", string(p.OrgID), "user_id", string(u.ID),
				"role", string(u.Role), "disabled", u.DisabledAt != nil)
			return &userOutput{Body: userOut(u)}, nil
		})
}
