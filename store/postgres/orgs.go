package postgres

import (
	"context"
	"strings"

	"github.com/iace/iace/store"
)

// CreateOrg creates an organization.
func (s *Store) CreateOrg(ctx context.Context, o store.Organization) (store.Organization, error) {
	const op = "create org"
	if strings.TrimSpace(o.Name) == "" {
		return store.Organization{}, invalid(op, "name is empty")
	}
	if err := o.TransferPolicy.Check(); err != nil {
		return store.Organization{}, checked(op, err)
	}
	if o.ID == "" {
		o.ID = store.OrgID(newID())
	}
	o.CreatedAt = orNow(o.CreatedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO organizations (id, name, created_at, transfer_allow) VALUES ($1, $2, $3, $4)`,
		o.ID, o.Name, o.CreatedAt, allowList(o.TransferPolicy))
	if err != nil {
		return store.Organization{}, wrap(ctx, op, err)
	}
	return o, nil
}

const orgCols = `id, name, created_at, transfer_allow`

func scanOrg(r scanner) (store.Organization, error) {
	var o store.Organization
	if err := r.Scan(&o.ID, &o.Name, &o.CreatedAt, &o.TransferPolicy.Allow); err != nil {
		return store.Organization{}, err
	}
	if len(o.TransferPolicy.Allow) == 0 {
		o.TransferPolicy.Allow = nil
	}
	return o, nil
}

// allowList is a policy's allow-list as the column keeps it: never NULL.
func allowList(p store.TransferPolicy) []string {
	if p.Allow == nil {
		return []string{}
	}
	return p.Allow
}

// GetOrg returns an organization.
func (s *Store) GetOrg(ctx context.Context, id store.OrgID) (store.Organization, error) {
	o, err := scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgCols+` FROM organizations WHERE id = $1`, id))
	if err != nil {
		return store.Organization{}, wrap(ctx, "get org", err)
	}
	return o, nil
}

// SetTransferPolicy replaces the organization's transfer policy.
func (s *Store) SetTransferPolicy(ctx context.Context, org store.OrgID, p store.TransferPolicy) (store.Organization, error) {
	const op = "set transfer policy"
	if err := p.Check(); err != nil {
		return store.Organization{}, checked(op, err)
	}
	o, err := scanOrg(s.pool.QueryRow(ctx, `UPDATE organizations SET transfer_allow = $2 WHERE id = $1 RETURNING `+orgCols,
		org, allowList(p)))
	if err != nil {
		return store.Organization{}, wrap(ctx, op, err)
	}
	return o, nil
}

const userCols = `id, org_id, email, password_hash, role, created_at, disabled_at`

func scanUser(r scanner) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ID, &u.OrgID, &u.Email, &u.PasswordHash, &u.Role, &u.CreatedAt, &u.DisabledAt)
	return u, err
}

func checkUser(op string, u *store.User) error {
	if err := u.Check(); err != nil {
		return checked(op, err)
	}
	u.DisabledAt = normPtr(u.DisabledAt)
	return nil
}

// CreateUser creates a user; the email is unique across IACE.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	const op = "create user"
	if err := checkUser(op, &u); err != nil {
		return store.User{}, err
	}
	if u.ID == "" {
		u.ID = store.UserID(newID())
	}
	u.CreatedAt = orNow(u.CreatedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.OrgID, u.Email, u.PasswordHash, u.Role, u.CreatedAt, u.DisabledAt)
	if err != nil {
		return store.User{}, wrap(ctx, op, err)
	}
	return u, nil
}

// GetUser returns a user of the organization.
func (s *Store) GetUser(ctx context.Context, org store.OrgID, id store.UserID) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE org_id = $1 AND id = $2`, org, id))
	if err != nil {
		return store.User{}, wrap(ctx, "get user", err)
	}
	return u, nil
}

// UserByEmail finds a user in any organization by email, case-insensitively
// (a login names no organization).
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE lower(email) = lower($1)`, strings.TrimSpace(email)))
	if err != nil {
		return store.User{}, wrap(ctx, "user by email", err)
	}
	return u, nil
}

// ListUsers lists the organization's users by email.
func (s *Store) ListUsers(ctx context.Context, org store.OrgID) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE org_id = $1 ORDER BY email COLLATE "C", id`, org)
	return collect(ctx, "list users", rows, err, scanUser)
}

// UpdateUser writes a user's email, password hash, role and disabled time.
func (s *Store) UpdateUser(ctx context.Context, u store.User) (store.User, error) {
	const op = "update user"
	if err := checkUser(op, &u); err != nil {
		return store.User{}, err
	}
	got, err := scanUser(s.pool.QueryRow(ctx, `UPDATE users SET email = $3, password_hash = $4, role = $5, disabled_at = $6
		WHERE org_id = $1 AND id = $2 RETURNING `+userCols,
		u.OrgID, u.ID, u.Email, u.PasswordHash, u.Role, u.DisabledAt))
	if err != nil {
		return store.User{}, wrap(ctx, op, err)
	}
	return got, nil
}
