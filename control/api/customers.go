package api

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/store"
)

// CustomerInput is what a client writes of a customer.
type CustomerInput struct {
	Phone         store.PhoneNumber `json:"phone" pattern:"^\\+[1-9][0-9]{6,14}$"`
	Name          string            `json:"name,omitempty" maxLength:"200"`
	Email         string            `json:"email,omitempty" maxLength:"254"`
	Attributes    map[string]string `json:"attributes,omitempty" maxProperties:"50"`
	MemorySummary string            `json:"memory_summary,omitempty" maxLength:"4000" doc:"What agents remember about this caller"`
	Verification  map[string]string `json:"verification,omitempty" maxProperties:"10" doc:"Write-only: what a caller must answer to be taken for this customer, by verifier name (pin, date_of_birth as YYYY-MM-DD, one_time_code...; an agent's verify_caller names one). Kept only as salted hashes, never returned. On update a name given replaces that verifier, an empty answer removes it, and names not given are kept"`
}

type customerBody struct {
	ID store.CustomerID `json:"id"`
	CustomerInput
	Verifiers  []string   `json:"verifiers,omitempty" doc:"The names of the verifiers set, never their answers"`
	CallCount  int        `json:"call_count"`
	LastCallAt *time.Time `json:"last_call_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

func customerOut(c store.Customer) customerBody {
	return customerBody{
		ID: c.ID,
		CustomerInput: CustomerInput{Phone: c.Phone, Name: c.Name, Email: c.Email, Attributes: c.Attributes,
			MemorySummary: c.MemorySummary},
		Verifiers: slices.Sorted(maps.Keys(c.Verifiers)),
		CallCount: c.CallCount, LastCallAt: c.LastCallAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

// setVerifiers hashes the answers of in into c's verifiers: a name with an
// answer is set, one with an empty answer removed, others kept.
func setVerifiers(c *store.Customer, in map[string]string) error {
	if len(in) == 0 {
		return nil
	}
	v := maps.Clone(c.Verifiers)
	if v == nil {
		v = map[string]string{}
	}
	for name, answer := range in {
		if !store.ValidVerifierName(name) {
			return huma.Error422UnprocessableEntity(fmt.Sprintf("verification: %q is not a verifier name (lower-case letters, digits, _)", name))
		}
		if answer == "" {
			delete(v, name)
			continue
		}
		h, err := store.HashVerifier(answer)
		if err != nil {
			return huma.Error422UnprocessableEntity(fmt.Sprintf("verification %s: %v", name, err))
		}
		v[name] = h
	}
	c.Verifiers = v
	return nil
}

// PageParams are the query parameters of a paginated list.
type PageParams struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor string `query:"cursor" maxLength:"512" doc:"next_cursor of the previous page"`
}

func (p PageParams) page() store.Page { return store.Page{Limit: p.Limit, Cursor: p.Cursor} }

type customerSearch struct {
	Q string `query:"q" maxLength:"200" doc:"Matches name, phone or email, case-insensitively"`
	PageParams
}

type customerListOutput struct {
	Body struct {
		Items      []customerBody `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
}

// CustomerIDPath names a customer in a path.
type CustomerIDPath struct {
	ID string `path:"id" maxLength:"100"`
}

type customerOutput struct{ Body customerBody }

type customerWrite struct{ Body CustomerInput }

type customerUpdate struct {
	CustomerIDPath
	Body CustomerInput
}

func (a *API) customerRoutes() {
	huma.Register(a.huma, op("searchCustomers", http.MethodGet, "/customers", "List or search customers", "customers", store.RoleViewer),
		func(ctx context.Context, in *customerSearch) (*customerListOutput, error) {
			list, next, err := a.deps.Store.SearchCustomers(ctx, principal(ctx).OrgID, in.Q, in.page())
			if err != nil {
				return nil, a.storeError(ctx, "customers", err)
			}
			out := &customerListOutput{}
			out.Body.Items = make([]customerBody, 0, len(list))
			for _, c := range list {
				out.Body.Items = append(out.Body.Items, customerOut(c))
			}
			out.Body.NextCursor = next
			return out, nil
		})

	huma.Register(a.huma, op("getCustomer", http.MethodGet, "/customers/{id}", "Get a customer", "customers", store.RoleViewer),
		func(ctx context.Context, in *CustomerIDPath) (*customerOutput, error) {
			c, err := a.deps.Store.GetCustomer(ctx, principal(ctx).OrgID, store.CustomerID(in.ID))
			if err != nil {
				return nil, a.storeError(ctx, "customer", err)
			}
			return &customerOutput{Body: customerOut(c)}, nil
		})

	o := op("createCustomer", http.MethodPost, "/customers", "Add a customer", "customers", store.RoleSupervisor)
	o.DefaultStatus = http.StatusCreated
	huma.Register(a.huma, o, func(ctx context.Context, in *customerWrite) (*customerOutput, error) {
		b := in.Body
		c := store.Customer{OrgID: principal(ctx).OrgID, Phone: b.Phone, Name: b.Name,
			Email: b.Email, Attributes: b.Attributes, MemorySummary: b.MemorySummary}
		if err := setVerifiers(&c, b.Verification); err != nil {
			return nil, err
		}
		c, err := a.deps.Store.CreateCustomer(ctx, c)
		if err != nil {
			return nil, a.storeError(ctx, "customer", err)
		}
		return &customerOutput{Body: customerOut(c)}, nil
	})

	huma.Register(a.huma, op("updateCustomer", http.MethodPut, "/customers/{id}", "Replace a customer's details", "customers", store.RoleSupervisor),
		func(ctx context.Context, in *customerUpdate) (*customerOutput, error) {
			org := principal(ctx).OrgID
			c, err := a.deps.Store.GetCustomer(ctx, org, store.CustomerID(in.ID))
			if err != nil {
				return nil, a.storeError(ctx, "customer", err)
			}
			b := in.Body
			c.Phone, c.Name, c.Email, c.Attributes, c.MemorySummary = b.Phone, b.Name, b.Email, b.Attributes, b.MemorySummary
			if err := setVerifiers(&c, b.Verification); err != nil {
				return nil, err
			}
			if c, err = a.deps.Store.UpdateCustomer(ctx, c); err != nil {
				return nil, a.storeError(ctx, "customer", err)
			}
			return &customerOutput{Body: customerOut(c)}, nil
		})
}
