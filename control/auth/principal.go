package auth

import (
	"context"
	"time"

	"github.com/iace/iace/store"
)

// Principal is who made an authenticated request.
type Principal struct {
	OrgID  store.OrgID
	UserID store.UserID
	// Role is the user's role as stored now (read within
	// Config.StatusTTL), not the one the token was issued with: a demotion
	// takes effect without a new login.
	Role store.Role
	// Family is the login session (the refresh token family, the token's
	// sid), for RevokeSession.
	Family string
	// TokenID is the access token's jti; ExpiresAt its expiry.
	TokenID   string
	ExpiresAt time.Time
}

// Action is something a role may or may not do in its organization.
type Action string

// Actions. Every role reads everything of its organization; supervisors
// also run calls; admins do everything.
const (
	// ActionRead: read agents, numbers, customers, calls, transcripts,
	// patterns, analytics and the organization's users.
	ActionRead Action = "read"
	// ActionMonitor: listen to live calls.
	ActionMonitor Action = "calls:monitor"
	// ActionControlCalls: transfer or hang up a live call.
	ActionControlCalls Action = "calls:control"
	// ActionManageAgents: create, change and delete agents.
	ActionManageAgents Action = "agents:manage"
	// ActionManageNumbers: assign and remove phone numbers.
	ActionManageNumbers Action = "numbers:manage"
	// ActionManageCustomers: create and change customers.
	ActionManageCustomers Action = "customers:manage"
	// ActionManagePatterns: delete learned patterns.
	ActionManagePatterns Action = "patterns:manage"
	// ActionManageUsers: create, disable and change users, revoke sessions.
	ActionManageUsers Action = "users:manage"
)

// allowed lists, per role, what it may do; anything else is denied.
var allowed = map[store.Role]map[Action]bool{
	store.RoleAdmin: {
		ActionRead: true, ActionMonitor: true, ActionControlCalls: true, ActionManageAgents: true,
		ActionManageNumbers: true, ActionManageCustomers: true, ActionManagePatterns: true, ActionManageUsers: true,
	},
	store.RoleSupervisor: {ActionRead: true, ActionMonitor: true, ActionControlCalls: true},
	store.RoleViewer:     {ActionRead: true},
}

// Can reports whether p's role allows a.
func (p Principal) Can(a Action) bool { return allowed[p.Role][a] }

// Require is nil when p may do a, and ErrForbidden otherwise.
func (p Principal) Require(a Action) error {
	if p.Can(a) {
		return nil
	}
	return ErrForbidden
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p, for the handlers after the
// authenticating middleware.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal WithPrincipal put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
