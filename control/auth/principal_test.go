package auth_test

import (
	"errors"
	"testing"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
)

func TestPrincipalCan(t *testing.T) {
	all := []auth.Action{auth.ActionRead, auth.ActionMonitor, auth.ActionControlCalls, auth.ActionManageAgents,
		auth.ActionManageNumbers, auth.ActionManageCustomers, auth.ActionManagePatterns, auth.ActionManageUsers}
	may := map[store.Role][]auth.Action{
		store.RoleAdmin:      all,
		store.RoleSupervisor: {auth.ActionRead, auth.ActionMonitor, auth.ActionControlCalls},
		store.RoleViewer:     {auth.ActionRead},
		"":                   nil,
		"root":               nil,
	}
	for role, allowed := range may {
		p := auth.Principal{Role: role}
		for _, a := range all {
			want := false
			for _, b := range allowed {
				want = want || a == b
			}
			if p.Can(a) != want {
				t.Errorf("%q can %s: %v, want %v", role, a, p.Can(a), want)
			}
			if err := p.Require(a); (err == nil) != want || (err != nil && !errors.Is(err, auth.ErrForbidden)) {
				t.Errorf("%q Require(%s): %v", role, a, err)
			}
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := auth.PrincipalFrom(t.Context()); ok {
		t.Error("a principal in an empty context")
	}
	p := auth.Principal{OrgID: "o", UserID: "u", Role: store.RoleViewer}
	if got, ok := auth.PrincipalFrom(auth.WithPrincipal(t.Context(), p)); !ok || got != p {
		t.Errorf("got %+v, %v", got, ok)
	}
}
